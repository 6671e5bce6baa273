# serve's API changes things only for a token, one run at a time, and a
# cutover and failback started through it hold the CLI's guarantees:
#  - a tokens file others may read is refused before anything starts;
#  - a POST without a token, or with a wrong one, gets 401 and changes
#    nothing (no run journaled, the source still the primary);
#  - a dry run answers 200 with every preflight check, measured and with its
#    threshold; a verify pass answers 202, and a second mutation while it
#    runs 409;
#  - the CLI finds the running serve: `status` shows it, `verify --once`
#    and `cutover --dry-run` run in it, a second continuous verify and a
#    second replicate and a teardown are refused, a wrong SWITCHYARD_TOKEN
#    gets exit 4;
#  - under pgbench and a probe through pgbouncer, a cutover started through
#    the API and a failback started from the CLI (run by serve) complete (202, then GET /api/v1/runs/{id}
#    shows the journal and who asked), serve's own stream turns round each
#    time, and 0 acknowledged writes are lost, 0 client errors, parity;
#  - /metrics counts the runs and the freeze, and passes promtool;
#  - serve killed with -9 inside a cutover's freeze: a restarted serve rolls
#    the run back by itself (source unfenced, pgbouncer resumed).
source "$(dirname "$0")/lib.sh"
source "$ROOT/scripts/lib/pgbouncer.sh"
trap 'pgb_stop_all; it_cleanup' EXIT

PORT=$(pgc_free_port)
URL=http://127.0.0.1:$PORT
TOKEN=ops-0123456789abcdef-token
printf '# who may change things\nops:%s\n' "$TOKEN" >"$WORK/tokens"
chmod 644 "$WORK/tokens"
setup_cutover_pair 5 "verify: { pass_interval: 1s }" \
  "service: { listen: \"127.0.0.1:$PORT\", tokens_file: $WORK/tokens }"
kill -TERM "$REPLICATE_PID"; wait "$REPLICATE_PID" 2>/dev/null || true

expect_failure 2 "service.tokens_file $WORK/tokens: .*mode 644.*chmod 600" -- "$SY" -c "$WORK/cfg.yaml" serve
chmod 600 "$WORK/tokens"

# api METHOD PATH [TOKEN]: the status code; the body in $WORK/body.
api() {
  local auth=()
  [ -z "${3:-}" ] || auth=(-H "Authorization: Bearer $3")
  curl -s -o "$WORK/body" -w '%{http_code}' -X "$1" "${auth[@]}" "$URL$2"
}
# field EXPR: a Python expression over the JSON body `b`.
field() {
  python3 -c "import json,sys; b=json.load(open(sys.argv[1])); print($1)" "$WORK/body"
}
# wait_run ID: until the run is no longer running; prints its state.
wait_run() {
  local state=running
  for _ in $(seq 1 300); do
    [ "$(api GET "/api/v1/runs/$1")" = 200 ] || fail "GET /api/v1/runs/$1: $(cat "$WORK/body")"
    state=$(field 'b["state"]')
    [ "$state" = running ] || break
    sleep 0.2
  done
  echo "$state"
}
start_serve() {
  "$SY" -c "$WORK/cfg.yaml" serve >>"$WORK/serve.out" 2>>"$WORK/serve.log" &
  SERVE_PID=$!; BACKGROUND+=("$SERVE_PID")
  # Ready: both databases answer and the stream streams.
  for _ in $(seq 1 300); do [ "$(api GET /readyz)" = 200 ] && return 0; sleep 0.2; done
  cat "$WORK/serve.log"; fail "serve not ready: $(cat "$WORK/body")"
}
switch_runs() { pgc_psql TGT -c "SELECT count(*) FROM switchyard.switch_runs"; }

start_serve
log "no token, a wrong token: 401, nothing done"
[ "$(api POST /api/v1/cutover)" = 401 ] || fail "POST without a token: $(cat "$WORK/body")"
grep -q "Authorization: Bearer" "$WORK/body" || fail "401 does not say what is needed: $(cat "$WORK/body")"
[ "$(api POST /api/v1/cutover "${TOKEN}x")" = 401 ] || fail "a wrong token was taken"
[ "$(api POST /api/v1/failback not-a-token)" = 401 ] || fail "a wrong token was taken"
[ "$(api POST /api/v1/repair)" = 401 ] || fail "repair without a token"
[ "$(switch_runs)" = 0 ] || fail "an unauthorized POST journaled a run"
[ "$(fenced SRC)" = off ] || fail "an unauthorized POST fenced the source"
grep -q "$TOKEN" "$WORK/serve.log" "$WORK/serve.out" && fail "a token reached the log"

log "dry run: 200, every check measured against its threshold"
[ "$(api POST "/api/v1/cutover?dry_run=true" "$TOKEN")" = 200 ] || fail "dry run: $(cat "$WORK/body")"
[ "$(field 'b["preflight"]')" = passed ] || fail "dry run: $(cat "$WORK/body")"
[ "$(field 'len([c for c in b["checks"] if c["measured"] and c["threshold"] and c["passed"]])')" -ge 11 ] ||
  fail "dry run checks: $(cat "$WORK/body")"
[ "$(field '[c["measured"] for c in b["checks"] if c["name"] == "lag"][0] != ""')" = True ] || fail "no lag measured"
checks=$(field 'len(b["checks"])')
[ "$(switch_runs)" = 0 ] || fail "a dry run journaled a run"
[ "$(api POST "/api/v1/failback?dry_run=true" "$TOKEN")" = 412 ] || fail "failback before a cutover: $(cat "$WORK/body")"
log "ok: $checks checks; failback refused with 412: $(field 'b["error"]')"

log "a verify pass: 202; a second mutation meanwhile: 409"
# The pass waits behind a lock on the target, so that it is surely still
# running when the second request comes.
hold_table_lock TGT pgbench_accounts
[ "$(api POST /api/v1/verify "$TOKEN")" = 202 ] || fail "verify: $(cat "$WORK/body")"
VERIFY_RUN=$(field 'b["run_id"]')
[ "$(api POST /api/v1/verify "$TOKEN")" = 409 ] || fail "a second verify: $(cat "$WORK/body")"
release_lock TGT
[ "$(wait_run "$VERIFY_RUN")" = completed ] || fail "verify run: $(cat "$WORK/body")"
[ "$(field 'b["requested_by"]')" = ops ] || fail "verify run not recorded as asked by ops"
log "ok: $VERIFY_RUN completed; 409 while it ran"

log "the CLI beside a running serve: it asks serve, never runs a second copy"
"$SY" -c "$WORK/cfg.yaml" status >"$WORK/status.out" || fail "status"
grep -q "^service      serve at http://127.0.0.1:$PORT (pid $SERVE_PID): stream running, verify running" "$WORK/status.out" ||
  { cat "$WORK/status.out"; fail "status does not show the service"; }
"$SY" -c "$WORK/cfg.yaml" verify --once >"$WORK/cli-verify.out" 2>"$WORK/cli-verify.log" ||
  { cat "$WORK/cli-verify.log"; fail "verify --once through serve"; }
grep -q "serve: verify run verify-2 completed" "$WORK/serve.log" || fail "verify --once did not run in serve"
grep -q "^parity" "$WORK/cli-verify.out" || { cat "$WORK/cli-verify.out"; fail "verify --once printed no verdict"; }
expect_failure 5 "runs continuous verify of this stream already" -- "$SY" -c "$WORK/cfg.yaml" verify
expect_failure 5 "is already being replicated" -- "$SY" -c "$WORK/cfg.yaml" replicate
expect_failure 5 "serve runs stream switchyard at http://127.0.0.1:$PORT; stop it first" -- \
  "$SY" -c "$WORK/cfg.yaml" teardown --yes
"$SY" -c "$WORK/cfg.yaml" cutover --dry-run >"$WORK/cli-dry.out" 2>&1 || { cat "$WORK/cli-dry.out"; fail "cutover --dry-run through serve"; }
grep -q "cutover plan (dry run): preflight passed" "$WORK/cli-dry.out" || { cat "$WORK/cli-dry.out"; fail "no plan"; }
SWITCHYARD_TOKEN=wrong-token-0123456789 expect_failure 4 "refused the token" -- "$SY" -c "$WORK/cfg.yaml" cutover
[ "$(switch_runs)" = 0 ] || fail "the CLI's dry run or refused cutover journaled a run"
log "ok: status shows serve; verify --once, cutover --dry-run ran in serve; continuous verify and replicate refused"

log "load through pgbouncer: pgbench -c 8 -R 300, probe every 5 ms"
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$BNC_PORT" -U postgres -n -c 8 -j 2 -R 300 -T 600 app \
  >"$WORK/pgbench.log" 2>&1 &
BENCH_PID=$!; BACKGROUND+=("$BENCH_PID")
start_probe "$APP" "$WORK/acks"
sleep 3

# The cutover through the API; the failback from the CLI, which finds the
# service at service.listen and has it run the failback there.
for operation in cutover failback; do
  if [ "$operation" = cutover ]; then
    code=$(api POST "/api/v1/$operation" "$TOKEN")
    [ "$code" = 202 ] || { tail -20 "$WORK/serve.log"; fail "$operation: $code $(cat "$WORK/body")"; }
    run=$(field 'b["run_id"]')
  else
    "$SY" -c "$WORK/cfg.yaml" failback >"$WORK/cli-failback.out" 2>"$WORK/cli-failback.log" ||
      { cat "$WORK/cli-failback.log"; tail -20 "$WORK/serve.log"; fail "failback from the CLI"; }
    run=$(sed -n 's/^failback: run \([0-9]*\) completed in serve.*/\1/p' "$WORK/cli-failback.out")
    [ -n "$run" ] || { cat "$WORK/cli-failback.out"; fail "the CLI's failback did not run in serve"; }
    log "ok: the CLI had serve run it: $(cat "$WORK/cli-failback.out")"
  fi
  state=$(wait_run "$run")
  [ "$state" = completed ] || { tail -20 "$WORK/serve.log"; fail "$operation run $run: $(cat "$WORK/body")"; }
  [ "$(field 'b["requested_by"]')" = ops ] || fail "$operation: not recorded as asked by ops"
  [ "$(field 'b["journal"]["state"]')" = completed ] || fail "$operation journal: $(cat "$WORK/body")"
  [ "$(field 'len([s for s in b["journal"]["steps"] if s["state"] == "done"])')" = 9 ] ||
    fail "$operation journal steps: $(cat "$WORK/body")"
  log "ok: $operation run $run completed, writes frozen $(field 'round(b["result"]["freeze_ms"])') ms"
  want=reverse; port=$TGT_PORT
  [ "$operation" = cutover ] || { want=forward; port=$SRC_PORT; }
  grep -q "port=$port" "$BNC_DATABASES" || fail "$operation: router not switched"
  for _ in $(seq 1 100); do
    [ "$(api GET /api/v1/status)" = 200 ] && [ "$(field 'b["direction"]')" = $want ] &&
      [ "$(field 'b["jobs"]["stream"]["state"]')" = running ] && break
    sleep 0.2
  done
  [ "$(field 'b["direction"]')" = $want ] || fail "$operation: status: $(cat "$WORK/body")"
  sleep 3
done
stop_probe
kill -TERM "$BENCH_PID"; wait "$BENCH_PID" 2>/dev/null || true
# Continuous verify ran through both switches: a pass under way when the
# stream turned round ends early and quietly; rows it could not settle then
# are no finding, and not rows "changed while the stream is stopped".
if grep -q "while the stream is stopped" "$WORK/serve.log"; then
  grep "while the stream is stopped" "$WORK/serve.log" | head -3
  fail "verify took the stream turning round for a stopped stream"
fi
errors=$(grep -o '"errors":[0-9]*' "$WORK/acks.json" | cut -d: -f2)
[ "$errors" = 0 ] || { cat "$WORK/acks.err"; fail "probe saw $errors errors"; }
pgbench_errors=$(grep -Eci "error|abort" "$WORK/pgbench.log" || true)
[ "$pgbench_errors" = 0 ] || { tail "$WORK/pgbench.log"; fail "pgbench saw errors"; }
wait_parity 60 $(source_tables) || fail "no parity after failback"
for side in SRC TGT; do
  missing=$(missing_acks "$WORK/acks" $side)
  [ "$missing" = 0 ] || fail "$missing acknowledged probe inserts missing on $side"
done
[ "$(api POST /api/v1/verify "$TOKEN")" = 202 ] || fail "verify after failback: $(cat "$WORK/body")"
[ "$(wait_run "$(field 'b["run_id"]')")" = completed ] || fail "verify after failback: $(cat "$WORK/body")"
[ "$(api GET /api/v1/mismatches)" = 200 ] && [ "$(field 'b["open"]')" = 0 ] || fail "mismatches: $(cat "$WORK/body")"
log "ok: $(grep -o '"acked":[0-9]*' "$WORK/acks.json" | cut -d: -f2) probe inserts acknowledged, 0 lost, 0 errors; verify clean"

[ "$(api GET /metrics)" = 200 ] || fail "/metrics"
metric() { awk -v name="$1" '$1 == name { print $2 }' "$WORK/body"; }
[ "$(metric 'switchyard_cutover_runs_total{kind="cutover",outcome="completed"}')" = 1 ] || fail "cutover runs not counted"
[ "$(metric 'switchyard_cutover_runs_total{kind="failback",outcome="completed"}')" = 1 ] || fail "failback runs not counted"
freeze=$(metric switchyard_write_freeze_seconds)
awk -v s="$freeze" 'BEGIN { exit !(s > 0 && s < 5) }' || fail "write_freeze_seconds: '$freeze'"
promtool check metrics <"$WORK/body" >"$WORK/promtool.out" 2>&1 || { cat "$WORK/promtool.out"; fail "promtool"; }
log "ok: metrics: runs counted, last freeze $freeze s"

log "serve killed with -9 inside a cutover's freeze; a restarted serve rolls it back"
kill -TERM "$SERVE_PID"; wait "$SERVE_PID" || fail "serve did not stop cleanly"
SWITCHYARD_FAILPOINT=cutover:after:3 "$SY" -c "$WORK/cfg.yaml" serve >>"$WORK/serve.out" 2>>"$WORK/serve.log" &
SERVE_PID=$!; BACKGROUND+=("$SERVE_PID")
for _ in $(seq 1 300); do [ "$(api GET /readyz)" = 200 ] && break; sleep 0.2; done
[ "$(api POST /api/v1/cutover "$TOKEN")" = 202 ] || fail "cutover to kill: $(cat "$WORK/body")"
run=$(field 'b["run_id"]')
rc=0; wait "$SERVE_PID" || rc=$?
[ "$rc" = 137 ] || fail "serve was not killed at the failpoint (exit $rc)"
[ "$(fenced SRC)" = on ] || fail "the killed run had not fenced the source: the failpoint is not inside the freeze"
start_serve
for _ in $(seq 1 100); do
  [ "$(pgc_psql TGT -c "SELECT state FROM switchyard.switch_runs WHERE run_id = $run")" = rolled_back ] && break
  sleep 0.2
done
[ "$(pgc_psql TGT -c "SELECT state FROM switchyard.switch_runs WHERE run_id = $run")" = rolled_back ] ||
  { tail "$WORK/serve.log"; fail "run $run not settled by the restarted serve"; }
[ "$(fenced SRC)" = off ] || fail "source still fenced after the settle"
what=$(pgb_admin BNC -c "SHOW DATABASES" | awk -F'|' '$1 == "app" { print $12 }')
[ "$what" = 0 ] || fail "pgbouncer left paused ($what)"
pgc_psql SRC -c "INSERT INTO probe (sent_at, note) VALUES (now(), 'after settle')" >/dev/null
"$PG_BIN/psql" "$APP" -qAtX -c "INSERT INTO probe (sent_at, note) VALUES (now(), 'through pgbouncer')" ||
  fail "the application cannot write after the settle"
[ "$(api GET "/api/v1/runs/$run")" = 200 ] && [ "$(field 'b["state"]')" = rolled_back ] || fail "runs/$run: $(cat "$WORK/body")"
log "ok: run $run rolled back by the restarted serve; the application writes again"
kill -TERM "$SERVE_PID"; wait "$SERVE_PID" || fail "serve exit"
log "PASS"
