# serve: the stream and continuous verify in one process, answering HTTP.
#  - a port already in use is refused in one line before anything starts;
#  - under pgbench, /healthz and /readyz answer 200, /metrics counts the
#    applied changes and transactions and passes `promtool check metrics`,
#    /api/v1/status shows the stream
#    streaming and both jobs running, continuous verify logs clean passes;
#  - unknown paths get 404, another method 405, an oversized body 413 and
#    garbage 400, and the service keeps answering; so it does through 1500
#    requests mutated at random (http_fuzz.py; the seed is in the log);
#  - a target that stops answering (SIGSTOP) holds up /readyz only, never
#    /healthz or /metrics;
#  - SIGTERM stops the jobs and the server cleanly (exit 0), the data is at
#    parity, and a restarted serve resumes the stream;
#  - SIGTERM while the target does not answer (SIGSTOP): serve lets go of the
#    sessions blocked on it after a grace period and exits.
source "$(dirname "$0")/lib.sh"

pgc_start SRC
pgc_start TGT
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -i -s 2 -q app >"$WORK/pgbench-init.log" 2>&1 \
  || { cat "$WORK/pgbench-init.log"; fail "pgbench -i"; }
pgc_psql SRC -c "ALTER TABLE pgbench_history REPLICA IDENTITY FULL"
PORT=$(pgc_free_port)
cfg=$WORK/sy.yaml
write_config "$cfg" "stream: { status_interval: 1s }" "verify: { pass_interval: 1s }" \
  "service: { listen: \"127.0.0.1:$PORT\" }"
URL=http://127.0.0.1:$PORT

# A port in use: refused before anything is created.
python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1', $PORT)); s.listen(); open('$WORK/held', 'w').close(); time.sleep(30)" &
HOLDER=$!; BACKGROUND+=("$HOLDER")
for _ in $(seq 1 100); do [ -e "$WORK/held" ] && break; sleep 0.1; done
[ -e "$WORK/held" ] || fail "could not hold port $PORT"
expect_failure 2 "service.listen: cannot listen on 127.0.0.1:$PORT" -- "$SY" -c "$cfg" serve
kill "$HOLDER"; wait "$HOLDER" 2>/dev/null || true
[ "$(pgc_psql SRC -c "SELECT count(*) FROM pg_replication_slots")" = 0 ] || fail "a refused serve created a slot"

"$SY" -c "$cfg" serve >"$WORK/serve.out" 2>"$WORK/serve.log" &
SERVE_PID=$!; BACKGROUND+=("$SERVE_PID")
code() { curl -s -o "$WORK/body" -w '%{http_code}' "$@"; }
for _ in $(seq 1 300); do [ "$(code "$URL/healthz")" = 200 ] && break; sleep 0.2; done
[ "$(code "$URL/healthz")" = 200 ] || { cat "$WORK/serve.log"; fail "/healthz"; }
for _ in $(seq 1 600); do
  [ "$(code "$URL/readyz")" = 200 ] && break
  grep -q '"stream":"failed"' "$WORK/body" && break
  sleep 0.2
done
[ "$(code "$URL/readyz")" = 200 ] || { cat "$WORK/body" "$WORK/serve.log"; fail "/readyz: $(cat "$WORK/body")"; }
log "ok: ready: $(cat "$WORK/body")"

"$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -c 2 -j 2 -T 10 -R 200 app >"$WORK/pgbench.log" 2>&1 \
  || { cat "$WORK/pgbench.log"; fail "pgbench"; }
wait_parity 60 public.pgbench_accounts public.pgbench_branches public.pgbench_tellers public.pgbench_history \
  || fail "no parity while serving"
sleep 1.5  # a lag report

[ "$(code "$URL/metrics")" = 200 ] || fail "/metrics"
metric() { awk -v name="$1" '$1 == name { print $2 }' "$WORK/body"; }
updates=$(metric 'switchyard_changes_applied_total{op="update"}')
transactions=$(metric switchyard_transactions_applied_total)
awk -v n="$updates" 'BEGIN { exit !(n >= 1000) }' || fail "updates applied: '$updates' (pgbench made >= 1000)"
awk -v n="$transactions" 'BEGIN { exit !(n >= 500) }' || fail "transactions applied: '$transactions'"
grep -q '^switchyard_replication_lag_seconds ' "$WORK/body" || fail "no lag gauge"
grep -q '^switchyard_http_requests_total{.*handler="readyz"' "$WORK/body" || fail "no request counts"
[ "$(metric 'switchyard_snapshot_rows_copied_total{table="public.pgbench_accounts"}')" = 200000 ] ||
  fail "snapshot rows of pgbench_accounts: $(grep snapshot_rows "$WORK/body")"
[ "$(metric 'switchyard_endpoint_up{endpoint="source"}')" = 1 ] || fail "source not up"
[ "$(metric 'switchyard_endpoint_up{endpoint="target"}')" = 1 ] || fail "target not up"
[ "$(metric 'switchyard_stream_phase{phase="streaming"}')" = 1 ] || fail "stream phase: $(grep stream_phase "$WORK/body")"
[ "$(metric 'switchyard_stream_direction{direction="forward"}')" = 1 ] || fail "stream direction"
# Prometheus's own linter: format, names, units, HELP and TYPE.
command -v promtool >/dev/null || fail "promtool is not installed (scripts/install-deps.sh)"
promtool check metrics <"$WORK/body" >"$WORK/promtool.out" 2>&1 || { cat "$WORK/promtool.out"; fail "promtool check metrics"; }
log "ok: /metrics: $updates updates, $transactions transactions applied"

[ "$(code "$URL/api/v1/status")" = 200 ] || fail "/api/v1/status"
python3 - "$WORK/body" <<'PY' || fail "status: $(cat "$WORK/body")"
import json, sys
status = json.load(open(sys.argv[1]))
assert status["state"] == "streaming", status["state"]
assert status["jobs"]["stream"]["state"] == "running", status["jobs"]
assert status["jobs"]["verify"]["state"] == "running", status["jobs"]
PY
# Status is read again and again (a page, a scraper): through the same two
# sessions each time, not new backends per read (the cache holds a read for
# two seconds, so these three are three reads).
for _ in 1 2 3; do sleep 2.1; [ "$(code "$URL/api/v1/status")" = 200 ] || fail "/api/v1/status again"; done
for side in SRC TGT; do
  sessions=$(pgc_psql $side -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'switchyard-status'")
  [ "$sessions" = 1 ] || fail "$side: $sessions status sessions after four status reads (want the one kept open)"
done
for _ in $(seq 1 150); do grep -q "verify pass [0-9]* done" "$WORK/serve.log" && break; sleep 0.2; done
grep -q "verify pass [0-9]* done" "$WORK/serve.log" || fail "no verify pass while serving"
grep -q "mismatch:" "$WORK/serve.log" && fail "verify found a mismatch while serving"
code "$URL/metrics" >/dev/null
compared=$(metric switchyard_verify_rows_compared_total)
awk -v n="$compared" 'BEGIN { exit !(n >= 200000) }' || fail "verify rows compared: '$compared'"
[ "$(metric switchyard_verify_mismatches_open)" = 0 ] || fail "open mismatches in /metrics"
clean=$(metric 'switchyard_verify_last_clean_pass_timestamp_seconds{table="public.pgbench_accounts"}')
awk -v t="$clean" -v now="$(date +%s)" 'BEGIN { exit !(t > now - 120 && t <= now + 1) }' ||
  fail "last clean pass of pgbench_accounts: '$clean'"
chunks=$(metric 'switchyard_verify_chunks{state="clean"}')
awk -v n="$chunks" 'BEGIN { exit !(n >= 1) }' || fail "clean chunks: '$chunks'"
log "ok: status streaming, both jobs running, $(grep -c 'verify pass [0-9]* done' "$WORK/serve.log") verify passes"

[ "$(code "$URL/nosuch")" = 404 ] || fail "unknown path not 404"
[ "$(code -X POST "$URL/metrics")" = 405 ] || fail "POST /metrics not 405"
head -c 100000 /dev/zero | tr '\0' a >"$WORK/big"
[ "$(code -X GET --data-binary @"$WORK/big" "$URL/healthz")" = 413 ] || fail "oversized body not 413"
reply=$(printf 'NOT HTTP AT ALL\r\n\r\n' | timeout 5 python3 -c "
import socket, sys
s = socket.create_connection(('127.0.0.1', $PORT)); s.sendall(sys.stdin.buffer.read())
print(s.recv(100).decode(errors='replace').split('\r\n')[0])")
[[ "$reply" == "HTTP/1.1 400"* ]] || fail "garbage got: $reply"
# A chunked body whose trailer holds a field too long for Beast (it throws):
# that connection ends, the service goes on.
timeout 10 python3 -c "
import socket
s = socket.create_connection(('127.0.0.1', $PORT))
s.sendall(b'POST /api/v1/verify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'
          b'5\r\nhello\r\n0\r\nX-Trailer: ' + b't' * 70000 + b'\r\n\r\n')
s.shutdown(socket.SHUT_WR)
while s.recv(65536): pass" 2>/dev/null || true
kill -0 "$SERVE_PID" || fail "serve died on a huge trailer field"
[ "$(code "$URL/healthz")" = 200 ] || fail "the service stopped answering after bad requests"
log "ok: 404, 405, 413 and 400, a huge trailer, and still answering"
python3 "$ROOT/tests/integration/http_fuzz.py" "$PORT" 1500 "$RANDOM" >"$WORK/fuzz.out" 2>&1 ||
  { cat "$WORK/fuzz.out"; fail "malformed requests"; }
log "$(cat "$WORK/fuzz.out")"
kill -0 "$SERVE_PID" || fail "serve died under malformed requests"

# A database that does not answer holds up /readyz, never /healthz or /metrics.
postmaster=$(head -1 "$TGT_DIR/data/postmaster.pid")
pgc_as_owner kill -STOP "$postmaster"
BACKGROUND+=("$postmaster")
curl -s -o "$WORK/ready-stalled" "$URL/readyz" &
READY_PID=$!
sleep 0.5
started=$(date +%s%N)
[ "$(code --max-time 3 "$URL/healthz")" = 200 ] || { pgc_as_owner kill -CONT "$postmaster"; fail "/healthz waited on a stalled database"; }
[ "$(code --max-time 3 "$URL/metrics")" = 200 ] || { pgc_as_owner kill -CONT "$postmaster"; fail "/metrics waited on a stalled database"; }
log "ok: /healthz and /metrics answered in $(( ($(date +%s%N) - started) / 1000000 )) ms while /readyz waits on a stopped target"
pgc_as_owner kill -CONT "$postmaster"
wait "$READY_PID" || true

kill -TERM "$SERVE_PID"
rc=0; wait "$SERVE_PID" || rc=$?
[ "$rc" = 0 ] || { tail -5 "$WORK/serve.log"; fail "serve exited $rc on SIGTERM"; }
grep -q "stopped cleanly" "$WORK/serve.log" || fail "the stream did not stop cleanly"
log "ok: SIGTERM: $(cat "$WORK/serve.out")"

"$SY" -c "$cfg" serve >>"$WORK/serve.out" 2>>"$WORK/serve.log" &
SERVE_PID=$!; BACKGROUND+=("$SERVE_PID")
pgc_psql SRC -c "UPDATE pgbench_branches SET bbalance = bbalance + 7" >/dev/null
wait_parity 60 public.pgbench_branches || fail "a restarted serve did not resume the stream"

# SIGTERM while the target does not answer (its postmaster and backends
# stopped): the jobs blocked in libpq calls are let go after a grace
# period, and serve exits instead of hanging.
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -n -c 2 -j 2 -T 5 -R 200 app >/dev/null 2>&1 &
BENCH_PID=$!
sleep 2
target_pids=$(pgrep -d ' ' -P "$postmaster"; echo "$postmaster")
# A backend listed may have exited since (a pgbench connection, an
# autovacuum worker): kill stops the others and reports it; not a failure.
pgc_as_owner kill -STOP $target_pids 2>/dev/null || true
started=$(date +%s)
kill -TERM "$SERVE_PID"
for _ in $(seq 1 300); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
stuck=false; kill -0 "$SERVE_PID" 2>/dev/null && stuck=true
pgc_as_owner kill -CONT $target_pids 2>/dev/null || true
wait "$BENCH_PID" 2>/dev/null || true
$stuck && { tail -5 "$WORK/serve.log"; fail "serve did not exit within 30 s of SIGTERM while the target was stopped"; }
rc=0; wait "$SERVE_PID" || rc=$?
log "ok: SIGTERM with the target stopped: serve exited $rc after $(( $(date +%s) - started )) s"
grep -q "let go of .* database sessions" "$WORK/serve.log" || fail "serve did not say it let go of blocked sessions"
log "PASS"
