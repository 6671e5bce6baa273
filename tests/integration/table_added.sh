# A table created on the source while `replicate` runs (an application
# release during weeks of parallel validation) and matching tables.include
# is created on the target, copied and streamed, without stopping the stream
# or copying the other tables again; rows written to it before and after
# its copy all arrive; it verifies clean and shows in status. A table that
# matches but cannot be replicated (no key, no replica identity) is named in
# the log and in the cutover's preflight, and the stream goes on.
source "$(dirname "$0")/lib.sh"

pgc_start SRC
pgc_start TGT
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -i -s 1 -q app >"$WORK/init.log" 2>&1
pgc_psql SRC -c "ALTER TABLE pgbench_history REPLICA IDENTITY FULL"
cfg=$WORK/sy.yaml
write_config "$cfg" "stream: { status_interval: 2s }"
start_replicate "$cfg" "$WORK/replicate.log"
for _ in $(seq 1 120); do
  "$SY" -c "$cfg" status 2>/dev/null | grep "^state        streaming" >/dev/null && break
  sleep 0.5
done
copied_before=$(pgc_psql TGT -c "SELECT string_agg(table_name || '@' || copied_at, ',' ORDER BY table_name) FROM switchyard.tables")

log "load on an existing table, then a new table created and written at once"
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -n -c 2 -R 100 -T 600 app \
  >"$WORK/pgbench.log" 2>&1 &
BENCH_PID=$!; BACKGROUND+=("$BENCH_PID")
pgc_psql SRC -c "CREATE TABLE public.orders_2026 (id bigserial PRIMARY KEY, customer int NOT NULL, note text, placed timestamptz NOT NULL DEFAULT now());
                 INSERT INTO orders_2026 (customer, note) SELECT g % 97, 'before ' || g FROM generate_series(1, 20000) g"
# Writes that keep coming while it is being added: inserts, updates, deletes.
cat >"$WORK/orders.sql" <<'SQL'
\set c random(1, 97)
INSERT INTO orders_2026 (customer, note) VALUES (:c, 'after');
UPDATE orders_2026 SET note = note || '+' WHERE id = (SELECT max(id) - 5 FROM orders_2026);
DELETE FROM orders_2026 WHERE id = (SELECT min(id) FROM orders_2026);
SQL
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -n -c 2 -R 200 -T 600 \
  -f "$WORK/orders.sql" app >"$WORK/orders.log" 2>&1 &
ORDERS_PID=$!; BACKGROUND+=("$ORDERS_PID")

for _ in $(seq 1 60); do
  [ "$(pgc_psql TGT -c "SELECT count(*) FROM switchyard.tables WHERE table_name = 'orders_2026' AND copied_at IS NOT NULL")" = 1 ] && break
  sleep 1
done
"$SY" -c "$cfg" status >"$WORK/status.out"
grep -q "public.orders_2026" "$WORK/status.out" || { cat "$WORK/status.out"; fail "status does not show the new table"; }
log "ok: the new table is part of the stream: $(grep orders_2026 "$WORK/status.out")"
sleep 3
kill -TERM "$BENCH_PID" "$ORDERS_PID"; wait "$BENCH_PID" "$ORDERS_PID" 2>/dev/null || true
grep -Eqi "error|abort" "$WORK/orders.log" && fail "the writer on the new table failed: $(grep -Ei 'error|abort' "$WORK/orders.log" | head -2)"
wait_parity 60 public.orders_2026 $(source_tables)
kill -0 "$REPLICATE_PID" || fail "replicate stopped"
copied_after=$(pgc_psql TGT -c "SELECT string_agg(table_name || '@' || copied_at, ',' ORDER BY table_name) FROM switchyard.tables WHERE table_name <> 'orders_2026'")
[ "$copied_before" = "$copied_after" ] || fail "other tables were copied again: $copied_before / $copied_after"
"$SY" -c "$cfg" verify --once >"$WORK/verify.log" 2>&1 || { tail "$WORK/verify.log"; fail "verify not clean"; }
grep -q "public.orders_2026" "$WORK/verify.log" || fail "verify did not compare the new table"
log "ok: rows before and after its copy arrived; verify clean; nothing else re-copied"

log "a keyless table without replica identity is named, and the stream goes on"
pgc_psql SRC -c "CREATE TABLE public.audit_log (at timestamptz, what text); INSERT INTO audit_log VALUES (now(), 'x')"
for _ in $(seq 1 30); do
  grep -q "audit_log" "$WORK/replicate.log" && break
  sleep 1
done
grep "audit_log" "$WORK/replicate.log" | grep -i "replica identity" >/dev/null || fail "the unreplicable table is not named: $(grep audit_log "$WORK/replicate.log")"
pgc_psql SRC -c "INSERT INTO orders_2026 (customer, note) VALUES (1, 'still streaming')"
wait_parity 30 public.orders_2026
kill -0 "$REPLICATE_PID" || fail "replicate stopped"
pgc_psql SRC -c "DROP TABLE audit_log"

log "a table dropped and created again under the same name is copied afresh and streams"
# The publication loses the old table with its DROP; the new one was
# silently never streamed.
pgc_psql SRC -c "DROP TABLE orders_2026;
                 CREATE TABLE orders_2026 (id bigserial PRIMARY KEY, customer int NOT NULL, note text, placed timestamptz NOT NULL DEFAULT now());
                 INSERT INTO orders_2026 (customer, note) SELECT g, 'second life ' || g FROM generate_series(1, 500) g"
for _ in $(seq 1 60); do
  grep -q "public.orders_2026 was dropped and created again on the source; copying it afresh" "$WORK/replicate.log" && break
  sleep 1
done
pgc_psql SRC -c "INSERT INTO orders_2026 (customer, note) VALUES (7, 'after the copy')"
wait_parity 60 public.orders_2026
kill -0 "$REPLICATE_PID" || fail "replicate stopped"
log "ok: the new orders_2026 (501 rows) streamed"

log "a table renamed on the source and written at once streams on under its new name"
# Its Relation message under the new name used to stop replicate (exit 6),
# and every restart stopped the same way.
pgc_psql SRC -c "ALTER TABLE orders_2026 RENAME TO orders_archive; INSERT INTO orders_archive (customer, note) VALUES (8, 'renamed')"
pgc_psql SRC -c "UPDATE orders_archive SET note = note || ' (seen)' WHERE customer < 20"
wait_parity 60 public.orders_archive
kill -0 "$REPLICATE_PID" || fail "replicate stopped on a rename"
[ "$(pgc_psql TGT -c "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM switchyard.tables WHERE table_name LIKE 'orders%'")" = orders_archive ] ||
  fail "the stream's tables after the rename: $(pgc_psql TGT -c "SELECT string_agg(table_name, ',') FROM switchyard.tables")"
grep -q "public.orders_2026 was renamed public.orders_archive on the source; renamed on the target too" "$WORK/replicate.log" ||
  fail "the rename was not followed: $(grep -E 'orders_(2026|archive)' "$WORK/replicate.log" | tail -3)"
[ "$(pgc_psql TGT -c "SELECT to_regclass('public.orders_2026') IS NULL")" = t ] || fail "the target kept the old name beside the new"
log "ok: orders_archive streams, renamed on the target too (not copied again)"

log "a table dropped on the source leaves the stream; verify and the preflight go on without it"
pgc_psql SRC -c "DROP TABLE orders_archive"
for _ in $(seq 1 60); do
  grep -q "public.orders_archive was dropped on the source: it leaves the stream" "$WORK/replicate.log" && break
  sleep 1
done
kill -0 "$REPLICATE_PID" || fail "replicate stopped"
[ "$(pgc_psql TGT -c "SELECT count(*) FROM switchyard.tables WHERE table_name = 'orders_archive'")" = 0 ] || fail "the dropped table is still in the stream"
[ "$(pgc_psql TGT -c "SELECT count(*) FROM orders_archive")" = 502 ] || fail "the target's table or rows went with it"
"$SY" -c "$cfg" verify --once >"$WORK/verify-dropped.log" 2>&1 || { tail "$WORK/verify-dropped.log"; fail "verify after the drop"; }
"$SY" -c "$cfg" status | grep -q orders_archive && fail "status still lists the dropped table"
log "ok: $(tail -n 1 "$WORK/verify-dropped.log")"
log "PASS"
