# cutover and failback through pgbouncer, under pgbench (8 clients, 300 tx/s,
# through pgbouncer) and a probe inserting a bigserial row every 5 ms:
#  - preflight refusals (router unreachable, an open mismatch, a changed row
#    damaged on the target, lag too high) and --dry-run change nothing;
#  - a transaction holding PAUSE makes the freeze budget run out: the cutover
#    rolls back within the budget and nothing is lost;
#  - cutover, then failback: 0 client errors, 0 acknowledged writes lost,
#    sequences carried, parity afterwards; the longest write stall printed.
# Crash safety (kill -9 at every step boundary) is cutover_crash.sh.
source "$(dirname "$0")/lib.sh"
source "$ROOT/scripts/lib/pgbouncer.sh"
trap 'pgb_stop_all; it_cleanup' EXIT

setup_cutover_pair 5

# Nothing switched: direction forward, source writable, pgbouncer -> source
# and not paused, no slot on the target.
assert_unchanged() {
  local what
  "$SY" -c "$WORK/cfg.yaml" status | grep "^direction    forward" >/dev/null || fail "direction changed"
  [ "$(fenced SRC)" = off ] || fail "source left fenced"
  grep -q "port=$SRC_PORT" "$BNC_DATABASES" || fail "router entry changed: $(cat "$BNC_DATABASES")"
  what=$(pgb_admin BNC -c "SHOW DATABASES" | awk -F'|' '$1 == "app" { print $12 }')
  [ "$what" = 0 ] || fail "pgbouncer left app paused ($what)"
  what=$(pgc_psql TGT -c "SELECT count(*) FROM pg_replication_slots")
  [ "$what" = 0 ] || fail "a slot was left on the target"
}

log "preflight refusals change nothing"
write_config "$WORK/unreachable.yaml" "router:" "  kind: pgbouncer" \
  "  admin_conninfo: \"host=127.0.0.1 port=$(pgc_free_port) dbname=pgbouncer user=pgbouncer connect_timeout=2\"" \
  "  database: app" "  databases_file: $BNC_DATABASES"
expect_failure 5 "router unreachable" -- "$SY" -c "$WORK/unreachable.yaml" cutover
assert_unchanged

pgc_psql TGT -c "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 77"
"$SY" -c "$WORK/cfg.yaml" verify --once >"$WORK/verify.log" 2>&1 && fail "damage not found"
expect_failure 5 "open mismatches in public.pgbench_accounts" -- "$SY" -c "$WORK/cfg.yaml" cutover
assert_unchanged
"$SY" -c "$WORK/cfg.yaml" verify --repair >>"$WORK/verify.log" 2>&1
"$SY" -c "$WORK/cfg.yaml" verify --once >>"$WORK/verify.log" 2>&1 || fail "not clean after repair"

# A row changed by the stream and then damaged on the target: the
# preflight's dirty-only pass finds it before anything is frozen.
pgc_psql SRC -c "UPDATE pgbench_accounts SET abalance = abalance + 5 WHERE aid = 4242"
sleep 1
pgc_psql TGT -c "UPDATE pgbench_accounts SET filler = 'damaged' WHERE aid = 4242"
expect_failure 5 "verify: 1 mismatches in public.pgbench_accounts" -- "$SY" -c "$WORK/cfg.yaml" cutover
assert_unchanged
"$SY" -c "$WORK/cfg.yaml" verify --repair >>"$WORK/verify.log" 2>&1
"$SY" -c "$WORK/cfg.yaml" verify --once >>"$WORK/verify.log" 2>&1 || fail "not clean after repair"

# Lag: hold the apply behind a lock on the target while the source writes.
write_config "$WORK/lag.yaml" "${ROUTER[@]}" "cutover: { max_lag: 4kB }"
hold_table_lock TGT pgbench_tellers
pgc_psql SRC -c "UPDATE pgbench_tellers SET tbalance = tbalance + 1" >/dev/null
for i in $(seq 1 20); do pgc_psql SRC -c "UPDATE pgbench_tellers SET tbalance = tbalance + $i" >/dev/null; done
sleep 0.5
expect_failure 5 "behind the source .*cutover.max_lag" -- "$SY" -c "$WORK/lag.yaml" cutover
assert_unchanged
release_lock TGT

"$SY" -c "$WORK/cfg.yaml" cutover --dry-run >"$WORK/dry-run.out" 2>&1 || { cat "$WORK/dry-run.out"; fail "dry run"; }
grep -q "freeze       at most 5.0 s" "$WORK/dry-run.out" || { cat "$WORK/dry-run.out"; fail "no budget in the plan"; }
# Every preflight check with what it measured and its threshold.
for check in copy stream lag "oldest transaction" "prepared transactions" tables "open mismatches" \
  "verify passes" router "reverse path" sequences; do
  grep -Eq "^    ok   $check +.*\(.+\)$" "$WORK/dry-run.out" || { cat "$WORK/dry-run.out"; fail "no check '$check' in the plan"; }
done
assert_unchanged
log "ok: --dry-run prints the plan and changes nothing"

log "load through pgbouncer: pgbench -c 8 -R 300, probe every 5 ms"
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$BNC_PORT" -U postgres -n -c 8 -j 2 -R 300 -T 600 app \
  >"$WORK/pgbench.log" 2>&1 &
BENCH_PID=$!; BACKGROUND+=("$BENCH_PID")
start_probe "$APP" "$WORK/acks"
sleep 3

log "a transaction holding PAUSE exhausts the freeze budget: roll back"
# The transaction stays open until the test lets it go: it waits on a lock
# the test holds (a sleep would end first when the preflight is slow).
hold_advisory_lock SRC 4242
"$PG_BIN/psql" "$APP" -qAtX -c "BEGIN; INSERT INTO probe (sent_at, note) VALUES (now(), 'long'); SELECT pg_advisory_xact_lock(4242); COMMIT" \
  >/dev/null 2>"$WORK/long.err" &
LONG_PID=$!
for _ in $(seq 1 300); do [ "$(advisory_waiters SRC 4242 false)" = 1 ] && break; sleep 0.1; done
[ "$(advisory_waiters SRC 4242 false)" = 1 ] || fail "the long transaction did not start"
rc=0
"$SY" -c "$WORK/cfg.yaml" cutover --freeze-budget 800ms >"$WORK/budget.log" 2>&1 || rc=$?
[ "$rc" = 9 ] || { cat "$WORK/budget.log"; fail "budget: expected exit 9 (rolled back), got $rc"; }
# The operator reads the budget and the step, not SQL.
last=$(tail -n 1 "$WORK/budget.log")
echo "$last" | grep -Eq "^switchyard: error: .*the freeze budget \(800 ms\) ran out in step [0-9] \([a-z ]+\)" ||
  fail "the rollback does not name the budget and the step: $last"
echo "$last" | grep -Eq "SET |ALTER |SELECT " && fail "the rollback line quotes SQL: $last"
freeze=$(pgc_psql TGT -c "SELECT round(freeze_ms) FROM switchyard.switch_runs ORDER BY run_id DESC LIMIT 1")
[ "$freeze" -le 800 ] || fail "rolled back after $freeze ms, over the 800 ms budget"
assert_unchanged
release_lock SRC
wait "$LONG_PID" || fail "the long transaction failed: $(cat "$WORK/long.err")"
log "ok: rolled back with writes frozen $freeze ms (budget 800 ms); the long transaction committed"

log "cutover under load"
sleep 2
t0=$(now_us)
"$SY" -c "$WORK/cfg.yaml" cutover >"$WORK/cutover.log" 2>&1 || { cat "$WORK/cutover.log"; fail "cutover"; }
t1=$(now_us)
"$SY" -c "$WORK/cfg.yaml" status >"$WORK/status-cutover.out"
grep -q "^direction    reverse" "$WORK/status-cutover.out" || fail "direction not reverse"
grep -q "port=$TGT_PORT" "$BNC_DATABASES" || fail "router not switched"
[ "$(fenced SRC)" = on ] && [ "$(fenced TGT)" = off ] || fail "fence: source $(fenced SRC), target $(fenced TGT)"
sleep 5
log "failback under load"
t2=$(now_us)
"$SY" -c "$WORK/cfg.yaml" failback >"$WORK/failback.log" 2>&1 || { cat "$WORK/failback.log"; fail "failback"; }
t3=$(now_us)
grep -q "port=$SRC_PORT" "$BNC_DATABASES" || fail "router not switched back"
[ "$(fenced SRC)" = off ] && [ "$(fenced TGT)" = on ] || fail "fence: source $(fenced SRC), target $(fenced TGT)"
sleep 3
stop_probe
kill -TERM "$BENCH_PID"; wait "$BENCH_PID" 2>/dev/null || true

errors=$(grep -o '"errors":[0-9]*' "$WORK/acks.json" | cut -d: -f2)
# pgbench reports a failed transaction or an aborted client as it happens.
pgbench_errors=$(grep -Eci "error|abort" "$WORK/pgbench.log" || true)
[ "$errors" = 0 ] || { cat "$WORK/acks.err"; fail "probe saw $errors errors"; }
[ "$pgbench_errors" = 0 ] || { tail "$WORK/pgbench.log"; fail "pgbench saw errors"; }
wait_parity 60 $(source_tables)
missing=$(missing_acks "$WORK/acks" SRC)
[ "$missing" = 0 ] || fail "$missing acknowledged probe inserts missing on the source"
missing=$(missing_acks "$WORK/acks" TGT)
[ "$missing" = 0 ] || fail "$missing acknowledged probe inserts missing on the target"
# Sequences moved with the primary: no duplicate key after either switch.
last=$(pgc_psql SRC -c "SELECT max(id) FROM probe")
seq=$(pgc_psql SRC -c "SELECT last_value FROM probe_id_seq")
[ "$seq" -ge "$last" ] || fail "source sequence $seq behind max(id) $last"
"$SY" -c "$WORK/cfg.yaml" verify --once >>"$WORK/verify.log" 2>&1 || fail "verify after failback"

acked=$(grep -o '"acked":[0-9]*' "$WORK/acks.json" | cut -d: -f2)
log "ok: $acked probe inserts acknowledged, 0 errors, 0 lost; no pgbench errors"
log "cutover: longest write stall $(max_gap_ms "$WORK/acks" "$t0" "$((t1 + 1000000))") ms, freeze in the journal:"
pgc_psql TGT -c "SELECT operation, round(freeze_ms::numeric, 1) FROM switchyard.switch_runs WHERE state = 'completed' ORDER BY run_id"
log "failback: longest write stall $(max_gap_ms "$WORK/acks" "$t2" "$((t3 + 1000000))") ms"
pgc_psql TGT -c "SELECT j.operation, j.step_no, j.step, round(j.duration_ms::numeric, 1) FROM switchyard.switch_journal j JOIN switchyard.switch_runs r USING (run_id) WHERE r.state = 'completed' ORDER BY run_id, step_no"

log "teardown after failback: the target stays fenced, and the hint printed lifts it from a session of its own"
kill -TERM "$REPLICATE_PID"; wait "$REPLICATE_PID" 2>/dev/null || true
[ "$(fenced TGT)" = on ] || fail "the target is not fenced after failback"
"$SY" -c "$WORK/cfg.yaml" teardown --yes >"$WORK/teardown.log" 2>&1 || { cat "$WORK/teardown.log"; fail "teardown"; }
hint=$(grep -o "target: stays fenced.*to lift it: .*" "$WORK/teardown.log" | sed 's/.*to lift it: //')
[ -n "$hint" ] || { cat "$WORK/teardown.log"; fail "no fence hint for the target"; }
pgc_psql TGT -c "$hint" >/dev/null || fail "the fence hint does not work in the fenced database: $hint"
[ "$(fenced TGT)" = off ] || fail "the hint did not lift the fence: $hint"
log "ok: $hint"
log "PASS"
