# verify under load, then against deliberate damage.
#
# 1. pgbench plus a writer of every column type run for LOAD_SECONDS (over
#    two minutes by default) while `replicate` streams and a continuous
#    `verify` passes over every table again and again: it must report zero
#    mismatches (keys still changing are "in flight", never mismatches).
# 2. The target is then changed behind the replicator's back (one row
#    updated, one deleted, one inserted): `verify --once --json` must name
#    exactly those three keys with the right kinds and exit 1; after
#    `verify --repair`, `verify --once` exits 0.
source "$(dirname "$0")/lib.sh"
LOAD_SECONDS=${LOAD_SECONDS:-130}

start_mixed_workload_clusters
cfg=$WORK/sy.yaml
write_config "$cfg" "stream: { status_interval: 5s }" \
  "tables: { include: [\"public.*\", \"Other Schema.*\"] }" \
  "verify: { pass_interval: 1s, chunk_time: 200ms, recheck_timeout: 20s }"
mapfile -t TABLES < <(source_tables)

rlog=$WORK/replicate.log vlog=$WORK/verify.log
start_replicate "$cfg" "$rlog"
for _ in $(seq 1 120); do
  [ "$(pgc_psql TGT -c "SELECT phase FROM switchyard.streams" 2>/dev/null)" = streaming ] && break
  sleep 0.5
done
[ "$(pgc_psql TGT -c "SELECT phase FROM switchyard.streams")" = streaming ] ||
  { tail -20 "$rlog"; fail "initial copy did not finish"; }

expect_failure 2 "--table public.nosuch: not a table of stream switchyard" -- \
  "$SY" -c "$cfg" verify --once --table public.nosuch

log "continuous verify under ${LOAD_SECONDS}s of pgbench + mixed-type load"
"$SY" -c "$cfg" verify >"$vlog" 2>&1 &
VERIFY_PID=$!; BACKGROUND+=("$VERIFY_PID")
start_mixed_load "$LOAD_SECONDS" 300
sleep $(( LOAD_SECONDS / 4 ))
log "kill -9 the continuous verify mid-pass, start it again"
kill -9 "$VERIFY_PID"; wait "$VERIFY_PID" 2>/dev/null || true
"$SY" -c "$cfg" verify >>"$vlog" 2>&1 &
VERIFY_PID=$!; BACKGROUND+=("$VERIFY_PID")
sleep $(( LOAD_SECONDS / 4 ))
log "cut verify's connections on both sides"
for cluster in SRC TGT; do
  pgc_psql "$cluster" -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE application_name = 'switchyard-verify'" >/dev/null
done
wait "$BENCH_PID" || { cat "$WORK/pgbench.log"; fail "pgbench failed"; }
wait "$TYPES_PID" || { cat "$WORK/types-load.log"; fail "types writer failed"; }
log "load done: $(grep -h 'number of transactions actually processed' "$WORK/pgbench.log" "$WORK/types-load.log" | tr '\n' ' ')"

kill -0 "$VERIFY_PID" 2>/dev/null || { tail -20 "$vlog"; fail "continuous verify died"; }
kill -TERM "$VERIFY_PID"
rc=0; wait "$VERIFY_PID" || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 8 ] || { tail -20 "$vlog"; fail "verify exited $rc on SIGTERM"; }
grep -q "reconnecting" "$vlog" || { tail -20 "$vlog"; fail "verify did not reconnect after its connections were cut"; }
passes=$(grep -c "verify pass .* done" "$vlog" || true)
in_flight=$(grep -c "in flight, not compared" "$vlog" || true)
rechecked=$(grep -o '[0-9]* re-checked' "$vlog" | awk '{s += $1} END {print s + 0}')
rows=$(grep -o '[0-9]* rows compared' "$vlog" | awk '{s += $1} END {print s + 0}')
log "continuous verify: $passes passes, $rows rows compared, $rechecked rows re-checked by position, $in_flight left in flight"
[ "$passes" -ge 2 ] || { tail -20 "$vlog"; fail "continuous verify finished fewer than 2 passes"; }
if grep -q "mismatch:" "$vlog"; then grep "mismatch:" "$vlog" >&2; fail "false mismatch under load"; fi
[ "$(pgc_psql TGT -c "SELECT count(*) FROM switchyard.mismatches")" = 0 ] ||
  fail "mismatches recorded in the control schema"

wait_parity 120 "${TABLES[@]}"
log "the servers agree (md5 of every row); verify --once and --dirty-only must too"
"$SY" -c "$cfg" verify --once --json >"$WORK/once.json" 2>"$WORK/once.log" ||
  { tail "$WORK/once.log"; fail "verify --once after the load exited $?"; }
"$SY" -c "$cfg" verify --dirty-only >"$WORK/dirty.log" 2>&1 ||
  { tail "$WORK/dirty.log"; fail "verify --dirty-only after the load exited $?"; }

log "a bulk change of more keys than a key-by-key check pays for: --dirty-only makes a full pass"
pgc_psql SRC -c "UPDATE pgbench_accounts SET filler = 'bulk' WHERE aid % 8 = 0"
wait_parity 120 public.pgbench_accounts
"$SY" -c "$cfg" verify --dirty-only --table public.pgbench_accounts --json >"$WORK/bulk.json" 2>"$WORK/bulk.log" ||
  { tail "$WORK/bulk.log"; fail "dirty-only after a bulk change exited $?"; }
grep -q "verifying the whole table" "$WORK/bulk.log" || { cat "$WORK/bulk.log"; fail "no full pass after a bulk change"; }
grep -q '"rows_compared":500000' "$WORK/bulk.json" || fail "bulk dirty-only: $(cat "$WORK/bulk.json")"
[ "$(pgc_psql TGT -c "SELECT count(*) FROM switchyard.dirty_keys WHERE table_name = 'pgbench_accounts'")" = 0 ] ||
  fail "marks left after a clean full pass"

log "damage the target behind the replicator's back"
victim=$(pgc_psql SRC -c "SELECT min(id) FROM all_types")
# txt can be NULL in the sample rows: coalesce, or the update would change nothing.
pgc_psql TGT -c "UPDATE all_types SET txt = coalesce(txt, '') || ' (edited)' WHERE id = $victim"
pgc_psql TGT -c "DELETE FROM pgbench_accounts WHERE aid = 4242"
pgc_psql TGT -c "INSERT INTO pgbench_accounts VALUES (9999999, 1, 0, 'not on the source')"
rc=0
"$SY" -c "$cfg" verify --once --json >"$WORK/damaged.json" 2>"$WORK/damaged.log" || rc=$?
[ "$rc" = 1 ] || { tail "$WORK/damaged.log"; fail "verify --once on a damaged target exited $rc, not 1"; }
# The servers parse the JSON: table, key and kind of every mismatch.
found=$(pgc_psql TGT -v json="$(cat "$WORK/damaged.json")" <<'SQL'
SELECT string_agg(m->>'table' || ' ' || (m->'key')::text || ' ' || (m->>'kind'), '; ' ORDER BY m->>'kind')
  FROM json_array_elements((:'json')::json->'mismatches') m
SQL
)
expected="public.all_types {\"id\":$victim} different; public.pgbench_accounts {\"aid\":9999999} extra; public.pgbench_accounts {\"aid\":4242} missing"
[ "$found" = "$expected" ] || fail "verify reported: $found; expected: $expected"
log "ok: $found"

"$SY" -c "$cfg" verify --repair >"$WORK/repair.log" 2>&1 || { cat "$WORK/repair.log"; fail "repair failed"; }
[ "$(grep -c "repaired row" "$WORK/repair.log")" = 3 ] || { cat "$WORK/repair.log"; fail "repair did not log 3 rows"; }
"$SY" -c "$cfg" verify --once >"$WORK/after.log" 2>&1 || { tail "$WORK/after.log"; fail "verify after repair exited $?"; }
wait_parity 30 "${TABLES[@]}"
[ "$(pgc_psql TGT -c "SELECT count(*) FROM switchyard.mismatches WHERE resolved_at IS NULL")" = 0 ] ||
  fail "open mismatches after repair"
log "repaired; verify --once exits 0"

log "a row the target lost is found by --dirty-only once the source changes it"
pgc_psql TGT -c "DELETE FROM pgbench_accounts WHERE aid = 77"
pgc_psql SRC -c "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 77"
rc=0
for _ in $(seq 1 50); do
  rc=0; "$SY" -c "$cfg" verify --dirty-only --json >"$WORK/dirty.json" 2>"$WORK/dirty.log" || rc=$?
  [ "$rc" = 1 ] && break
  sleep 0.2
done
[ "$rc" = 1 ] || { tail "$WORK/dirty.log"; fail "verify --dirty-only exited $rc, not 1"; }
grep -q '"key":{"aid":77},"kind":"missing"' "$WORK/dirty.json" ||
  fail "dirty-only did not report aid 77 missing: $(cat "$WORK/dirty.json")"
"$SY" -c "$cfg" verify --repair >>"$WORK/repair.log" 2>&1 || fail "second repair failed"
"$SY" -c "$cfg" verify --dirty-only >/dev/null 2>&1 || fail "dirty-only after repair exited $?"
wait_parity 30 public.pgbench_accounts
log "ok: dirty-only found the lost row, repair restored it"

log "a loader's new keys are read back as one key range: rows between them are compared too"
# 200 new keys two apart: one run. The target then loses one of them and
# gains a row in a gap between two of them, a key nobody marked. Another run
# starts at the smallest integer there is (aid is an int4): its range must
# not be bounded below by a value the type cannot hold.
pgc_psql SRC -c "INSERT INTO pgbench_accounts SELECT 3000000 + 2 * g, 1, 0, 'loaded' FROM generate_series(1, 200) g"
pgc_psql SRC -c "INSERT INTO pgbench_accounts SELECT -2147483648 + 2 * g, 1, 0, 'lowest' FROM generate_series(0, 39) g"
wait_parity 60 public.pgbench_accounts
pgc_psql TGT -c "DELETE FROM pgbench_accounts WHERE aid = 3000100"
pgc_psql TGT -c "INSERT INTO pgbench_accounts VALUES (3000101, 1, 0, 'between two new keys')"
rc=0
"$SY" -c "$cfg" verify --dirty-only --json >"$WORK/run.json" 2>"$WORK/run.log" || rc=$?
[ "$rc" = 1 ] || { tail "$WORK/run.log"; fail "verify --dirty-only over a run of new keys exited $rc, not 1"; }
found=$(pgc_psql TGT -v json="$(cat "$WORK/run.json")" <<'SQL'
SELECT string_agg((m->'key')::text || ' ' || (m->>'kind'), '; ' ORDER BY m->>'kind')
  FROM json_array_elements((:'json')::json->'mismatches') m
SQL
)
expected='{"aid":3000101} extra; {"aid":3000100} missing'
[ "$found" = "$expected" ] || fail "dirty-only over a run reported: $found; expected: $expected"
"$SY" -c "$cfg" verify --repair >>"$WORK/repair.log" 2>&1 || fail "repair after the run failed"
"$SY" -c "$cfg" verify --once >/dev/null 2>&1 || fail "verify --once after repairing the run exited $?"
log "ok: $found"

kill -TERM "$REPLICATE_PID"
wait "$REPLICATE_PID" || true
echo "verify_parity: passed"
