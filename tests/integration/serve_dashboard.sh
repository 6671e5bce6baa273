# serve's dashboard in headless Chromium, with pgbench writing: the page
# loads from the binary (uPlot compiled in), its plots get points from
# /api/v1/events, the verify table fills, and a dry-run cutover from the
# page with the token shows every check passed. The screenshot is kept in
# the build tree's artefacts/ (a CI artefact).
source "$(dirname "$0")/lib.sh"

pgc_start SRC
pgc_start TGT
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -i -s 2 -q app >"$WORK/pgbench-init.log" 2>&1 \
  || { cat "$WORK/pgbench-init.log"; fail "pgbench -i"; }
pgc_psql SRC -c "ALTER TABLE pgbench_history REPLICA IDENTITY FULL"
PORT=$(pgc_free_port)
TOKEN=page-0123456789abcdef
printf 'dba:%s\n' "$TOKEN" >"$WORK/tokens"
chmod 600 "$WORK/tokens"
write_config "$WORK/sy.yaml" "verify: { pass_interval: 1s }" \
  "service: { listen: \"127.0.0.1:$PORT\", tokens_file: $WORK/tokens }"
URL=http://127.0.0.1:$PORT
"$SY" -c "$WORK/sy.yaml" serve >"$WORK/serve.out" 2>"$WORK/serve.log" &
SERVE_PID=$!; BACKGROUND+=("$SERVE_PID")
for _ in $(seq 1 300); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz")" = 200 ] && break
  sleep 0.2
done
for _ in $(seq 1 150); do grep -q "verify pass [0-9]* done" "$WORK/serve.log" && break; sleep 0.2; done
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -n -c 2 -j 2 -T 60 -R 100 app >"$WORK/pgbench.log" 2>&1 &
BENCH_PID=$!; BACKGROUND+=("$BENCH_PID")

# The events stream, as a client sees it.
timeout 3 curl -s -N "$URL/api/v1/events" >"$WORK/events" || true
grep -q "^event: state$" "$WORK/events" || fail "no state event: $(head -c 300 "$WORK/events")"
[ "$(grep -c "^event: sample$" "$WORK/events")" -ge 2 ] || fail "fewer than 2 samples in 3 s"
log "ok: /api/v1/events: $(grep -c "^event: sample$" "$WORK/events") samples in 3 s"

ARTEFACTS=$(dirname "$SY")/artefacts
mkdir -p "$ARTEFACTS"
# Debian's Python, with its Selenium (scripts/install-deps.sh).
/usr/bin/python3 "$ROOT/tests/integration/dashboard_check.py" "$URL/" "$TOKEN" "$ARTEFACTS/dashboard.png" \
  >"$WORK/dashboard.out" 2>&1 || { cat "$WORK/dashboard.out"; fail "dashboard"; }
while read -r line; do log "$line"; done <"$WORK/dashboard.out"
[ -s "$ARTEFACTS/dashboard.png" ] || fail "no screenshot"
[ "$(pgc_psql TGT -c "SELECT count(*) FROM switchyard.switch_runs")" = 0 ] || fail "the page's dry run journaled a run"
kill "$BENCH_PID" 2>/dev/null || true
kill -TERM "$SERVE_PID"; wait "$SERVE_PID" || fail "serve exit"
log "PASS"
