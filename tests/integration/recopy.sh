# recopy: one table copied again while the stream goes on.
#  - a keyless table (pgbench_history, REPLICA IDENTITY FULL) damaged on the
#    target: verify finds it, repair cannot mend it and says how to; recopy
#    under pgbench load, done by the running replicate: parity, a clean
#    verify, the old mismatches settled;
#  - with replicate stopped, recopy does it itself; the stream then resumes
#    from the right place for that table (nothing applied twice or lost);
#  - a table with a key, under load, the same;
#  - bad requests: a table not in the stream (5), no table (2).
source "$(dirname "$0")/lib.sh"

pgc_start SRC
pgc_start TGT
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -i -s 2 -q app >"$WORK/pgbench-init.log" 2>&1
pgc_psql SRC -c "ALTER TABLE pgbench_history REPLICA IDENTITY FULL"
cfg="$WORK/cfg.yaml"
write_config "$cfg"
TABLES=(pgbench_accounts pgbench_branches pgbench_tellers pgbench_history)

start_replicate "$cfg" "$WORK/replicate.log"
wait_streaming "$cfg"
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -n -c 2 -R 100 -T 600 app \
  >"$WORK/pgbench.log" 2>&1 &
BENCH_PID=$!; BACKGROUND+=("$BENCH_PID")
sleep 3

log "a keyless table damaged on the target: found, not repairable row by row"
pgc_psql TGT -c "DELETE FROM pgbench_history WHERE ctid IN (SELECT ctid FROM pgbench_history LIMIT 5)" \
  -c "INSERT INTO pgbench_history VALUES (1, 1, 1, 999999, now(), 'forged')" >/dev/null
rc=0; "$SY" -c "$cfg" verify --once --table public.pgbench_history >"$WORK/verify.out" 2>"$WORK/verify.err" || rc=$?
[ "$rc" = 1 ] || { cat "$WORK/verify.err"; fail "verify: expected exit 1, got $rc"; }
rc=0; "$SY" -c "$cfg" verify --repair >"$WORK/repair.out" 2>"$WORK/repair.err" || rc=$?
[ "$rc" = 8 ] || { cat "$WORK/repair.err"; fail "repair: expected exit 8, got $rc"; }
grep -q "switchyard recopy public.pgbench_history" "$WORK/repair.err" || fail "repair does not point to recopy"
log "ok: verify exit 1, repair exit 8 pointing to recopy"

log "recopy under load, by the running replicate"
"$SY" -c "$cfg" recopy public.pgbench_history >"$WORK/recopy.out" 2>"$WORK/recopy.err" ||
  { cat "$WORK/recopy.err"; fail "recopy"; }
grep -q "^recopy: public.pgbench_history copied again, [0-9]* rows as of .* (by the running replicate)" "$WORK/recopy.out" ||
  fail "no summary: $(cat "$WORK/recopy.out")"
log "ok: $(cat "$WORK/recopy.out")"
sleep 2
kill -TERM "$BENCH_PID"; wait "$BENCH_PID" 2>/dev/null || true
wait_parity 60 "${TABLES[@]}"
open=$(pgc_psql TGT -c "SELECT count(*) FROM switchyard.mismatches WHERE resolved_at IS NULL")
[ "$open" = 0 ] || fail "$open mismatches left open after the re-copy"
"$SY" -c "$cfg" verify --once >"$WORK/verify.out" 2>"$WORK/verify.err" || { cat "$WORK/verify.err"; fail "verify after recopy"; }
log "ok: parity, no open mismatch, clean verify: $(cat "$WORK/verify.out")"

log "replicate stopped: recopy does it itself, and the stream resumes right"
kill -TERM "$REPLICATE_PID"; wait "$REPLICATE_PID" 2>/dev/null || true
pgc_psql TGT -c "DELETE FROM pgbench_history WHERE ctid IN (SELECT ctid FROM pgbench_history LIMIT 3)" >/dev/null
# Changes while nothing streams: before the re-copy's position, in the copy
# (and skipped by the stream); after it, applied by the stream.
pgc_psql SRC -c "INSERT INTO pgbench_history VALUES (2, 2, 2, 1, now(), 'before')" >/dev/null
"$SY" -c "$cfg" recopy public.pgbench_history >"$WORK/recopy.out" 2>"$WORK/recopy.err" ||
  { cat "$WORK/recopy.err"; fail "recopy without replicate"; }
grep -q "(by this command)" "$WORK/recopy.out" || fail "not done by the command: $(cat "$WORK/recopy.out")"
pgc_psql SRC -c "INSERT INTO pgbench_history VALUES (3, 3, 3, 1, now(), 'after')" >/dev/null
start_replicate "$cfg" "$WORK/replicate.log"
wait_parity 60 "${TABLES[@]}"
log "ok: $(cat "$WORK/recopy.out")"

log "a table with a key, under load"
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -n -c 2 -R 100 -T 600 app \
  >"$WORK/pgbench2.log" 2>&1 &
BENCH_PID=$!; BACKGROUND+=("$BENCH_PID")
sleep 2
"$SY" -c "$cfg" recopy public.pgbench_accounts >"$WORK/recopy.out" 2>"$WORK/recopy.err" ||
  { cat "$WORK/recopy.err"; fail "recopy of a keyed table"; }
sleep 2
kill -TERM "$BENCH_PID"; wait "$BENCH_PID" 2>/dev/null || true
wait_parity 60 "${TABLES[@]}"
"$SY" -c "$cfg" verify --once >"$WORK/verify.out" 2>"$WORK/verify.err" || { cat "$WORK/verify.err"; fail "verify after the keyed recopy"; }
grep -qi "error" "$WORK/replicate.log" && { grep -i error "$WORK/replicate.log" | head -3; fail "replicate logged errors"; }
log "ok: $(cat "$WORK/recopy.out")"

log "bad requests"
expect_failure 5 "table public.nosuch is not in stream switchyard" -- "$SY" -c "$cfg" recopy public.nosuch
expect_failure 2 "table is required" -- "$SY" -c "$cfg" recopy
