# verify --once while replicate is stopped: rows changed on the source since
# the stream stopped cannot be compared, and nothing will apply them. Verify
# must say so at once, per table, with what to do ("start replicate"), not
# wait verify.recheck_timeout per table for a stream that is not there, nor
# print one line per row calling them "kept changing while re-checked".
# Once replicate runs again, --dirty-only settles every one of them.
source "$(dirname "$0")/lib.sh"

pgc_start SRC
pgc_start TGT
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -i -s 1 -q app >"$WORK/init.log" 2>&1
pgc_psql SRC -c "ALTER TABLE pgbench_history REPLICA IDENTITY FULL"
cfg=$WORK/sy.yaml
# A long re-check wait: a verify that waited for the stopped stream would
# take minutes here.
write_config "$cfg" "verify: { recheck_timeout: 10min }"
start_replicate "$cfg" "$WORK/replicate.log"
wait_streaming "$cfg"
"$SY" -c "$cfg" verify --once >"$WORK/verify.out" 2>"$WORK/verify.log" || { cat "$WORK/verify.log"; fail "first verify not clean"; }

log "replicate stopped; 40 accounts and 5 tellers change on the source"
kill -TERM "$REPLICATE_PID"; wait "$REPLICATE_PID" || fail "replicate did not stop cleanly"
pgc_psql SRC -c "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 2500 = 0"
pgc_psql SRC -c "UPDATE pgbench_tellers SET tbalance = tbalance + 1 WHERE tid <= 5"

rc=0
timeout 120 "$SY" -c "$cfg" verify --once >"$WORK/verify.out" 2>"$WORK/verify.log" || rc=$?
[ "$rc" = 8 ] || { cat "$WORK/verify.log"; fail "verify with the stream stopped: expected exit 8 (inconclusive), got $rc"; }
grep -q "pgbench_accounts: 40 rows changed on the source while the stream is stopped: not compared; start replicate" "$WORK/verify.log" ||
  { cat "$WORK/verify.log"; fail "no per-table line saying the stream is stopped"; }
grep -q "pgbench_tellers: 5 rows changed on the source while the stream is stopped" "$WORK/verify.log" ||
  { cat "$WORK/verify.log"; fail "tellers not reported"; }
named=$(grep -c "pgbench_accounts: row .* in flight, not compared" "$WORK/verify.log" || true)
[ "$named" -le 10 ] || fail "$named rows of pgbench_accounts named one by one (at most 10)"
grep -q "kept changing" "$WORK/verify.log" && fail "rows called 'kept changing' while the stream is stopped"
grep -q "^inconclusive: 45 rows not settled" "$WORK/verify.out" || { cat "$WORK/verify.out"; fail "no summary on stdout"; }
log "ok: exit 8 at once: $(cat "$WORK/verify.out")"

log "replicate again: --dirty-only settles them"
start_replicate "$cfg" "$WORK/replicate.log"
wait_parity 60 public.pgbench_accounts public.pgbench_tellers
"$SY" -c "$cfg" verify --dirty-only >"$WORK/verify.out" 2>>"$WORK/verify.log" || { tail "$WORK/verify.log"; fail "dirty-only after the restart"; }
grep -q "^parity: " "$WORK/verify.out" || fail "no parity summary: $(cat "$WORK/verify.out")"
kill -TERM "$REPLICATE_PID"; wait "$REPLICATE_PID" || true
log "PASS"
