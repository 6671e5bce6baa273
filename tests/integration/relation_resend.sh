# pgoutput sends a table's Relation message again after every invalidation
# of it: ANALYZE, VACUUM, a DDL. Weeks of autovacuum on a busy table do that
# thousands of times. Each one used to prepare fresh statements on the
# target under new names, never freeing the old ones. Here the table's
# shape is re-sent 1,500 times, with one column's statistics target changed
# in the middle (the same shape) and a column added at the end (another
# shape): the apply session's prepared statements must stay a handful.
source "$(dirname "$0")/lib.sh"

pgc_start SRC
pgc_start TGT
pgc_psql SRC -c "CREATE TABLE counters (id int PRIMARY KEY, v bigint NOT NULL, note text)"
pgc_psql SRC -c "INSERT INTO counters SELECT g, 0, 'n' FROM generate_series(1, 100) g"
cfg=$WORK/sy.yaml
write_config "$cfg" "stream: { status_interval: 1s }"
"$SY" -c "$cfg" init 2>>"$WORK/replicate.log"
start_replicate "$cfg" "$WORK/replicate.log"
wait_streaming "$cfg"
wait_parity 60 public.counters

cat >"$WORK/resend.sql" <<'SQL'
\set id random(1, 100)
ANALYZE counters;
UPDATE counters SET v = v + 1 WHERE id = :id;
INSERT INTO counters VALUES (1000 + :id, 0, 'x') ON CONFLICT (id) DO UPDATE SET v = counters.v + 1;
DELETE FROM counters WHERE id = 1000 + :id AND v > 3;
SQL
log "1,500 transactions, each after an ANALYZE (a Relation message re-sent each time)"
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -n -c 1 -t 750 -f "$WORK/resend.sql" app >"$WORK/pgbench.log" 2>&1
pgc_psql SRC -c "ALTER TABLE counters ALTER COLUMN note SET STATISTICS 500"
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -n -c 1 -t 750 -f "$WORK/resend.sql" app >>"$WORK/pgbench.log" 2>&1
wait_parity 60 public.counters
sleep 2
held=$(pgc_psql TGT -c "SELECT apply_statements FROM switchyard.streams")
log "prepared statements held by the apply session: $held"
[ -n "$held" ] && [ "$held" -le 20 ] || fail "the apply session holds $held prepared statements after 1,500 re-sent Relation messages"

log "a new shape (a column added on both sides) frees the old statements"
pgc_psql TGT -c "ALTER TABLE counters ADD COLUMN extra int"
pgc_psql SRC -c "ALTER TABLE counters ADD COLUMN extra int"
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -n -c 1 -t 100 -f "$WORK/resend.sql" app >>"$WORK/pgbench.log" 2>&1
pgc_psql SRC -c "UPDATE counters SET extra = id WHERE id <= 10"
wait_parity 60 public.counters
sleep 2
after=$(pgc_psql TGT -c "SELECT apply_statements FROM switchyard.streams")
[ "$after" -le 20 ] || fail "the apply session holds $after prepared statements after a new shape"
"$SY" -c "$cfg" verify --once >"$WORK/verify.log" 2>&1 || fail "verify"
log "ok: $held statements before the new shape, $after after; verify clean"
log "PASS"
