# A target prepared by the DBA with pg_dump --schema-only, as most are:
# foreign keys between the tables (one chain of three, ON DELETE CASCADE),
# GENERATED ALWAYS identities (as primary keys, and one beside the key), a
# unique index (updates applied row by row), triggers, its own owner.
#  - init says what it found in each table and how it will be handled;
#  - the copy empties the tables without fighting the foreign keys, also
#    when re-run over an interrupted copy's rows;
#  - the stream applies inserts, updates (the unique index: one by one),
#    `id = DEFAULT` (an identity value that changes: the row is replaced),
#    key-only updates and cascading deletes, under load; parity, verify;
#  - recopy of a table that foreign keys point at (emptied without TRUNCATE);
#  - verify --repair mends a row whose identity value differs;
#  - after a cutover the application inserts on the new primary with the
#    identity's own default, without a duplicate key.
source "$(dirname "$0")/lib.sh"

pgc_start SRC
pgc_start TGT

SCHEMA=$(cat <<'SQL'
CREATE ROLE app_owner NOLOGIN;
CREATE TABLE customers (
  id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email text NOT NULL UNIQUE,
  name text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE orders (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_id int NOT NULL REFERENCES customers,
  total numeric(12,2) NOT NULL,
  note text);
CREATE TABLE order_lines (
  order_id bigint NOT NULL REFERENCES orders ON DELETE CASCADE,
  line_no int NOT NULL,
  ticket int GENERATED ALWAYS AS IDENTITY,
  qty int NOT NULL,
  PRIMARY KEY (order_id, line_no));
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN NEW.updated_at := now(); RETURN NEW; END$$;
CREATE TRIGGER customers_touch BEFORE UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION touch();
ALTER TABLE customers OWNER TO app_owner;
ALTER TABLE orders OWNER TO app_owner;
ALTER TABLE order_lines OWNER TO app_owner;
SQL
)
pgc_psql SRC -c "$SCHEMA" >/dev/null
pgc_psql SRC >/dev/null <<'SQL'
INSERT INTO customers (email, name) SELECT 'c' || g || '@example.org', 'customer ' || g FROM generate_series(1, 2000) g;
INSERT INTO orders (customer_id, total, note) SELECT 1 + g % 2000, g / 100.0, repeat('n', g % 50) FROM generate_series(1, 20000) g;
INSERT INTO order_lines (order_id, line_no, qty) SELECT o, l, o % 7 + l FROM generate_series(1, 20000) o, generate_series(1, 3) l;
SQL

log "the target, prepared with pg_dump --schema-only"
pgc_psql TGT -c "CREATE ROLE app_owner NOLOGIN" >/dev/null
"$PG_BIN/pg_dump" -h 127.0.0.1 -p "$SRC_PORT" -U postgres --schema-only app >"$WORK/schema.sql"
pgc_psql TGT -f "$WORK/schema.sql" >/dev/null 2>"$WORK/restore.err"
write_config "$WORK/cfg.yaml" "router: { kind: none }" "snapshot: { workers: 3, split_tables_larger_than: 256kB }"

log "a prepared table that holds a row: refused before the source holds a slot"
pgc_psql TGT -c "SET session_replication_role = replica; INSERT INTO customers (id, email, name) OVERRIDING SYSTEM VALUE VALUES (-1, 'rehearsal@example.org', 'left over from a rehearsal')" >/dev/null
expect_failure 5 "target: table public.customers already holds rows; the initial copy needs it empty \(TRUNCATE it on the target, or leave it out with tables.exclude\)" -- "$SY" -c "$WORK/cfg.yaml" replicate
[ "$(pgc_psql SRC -c "SELECT (SELECT count(*) FROM pg_replication_slots) || '/' || (SELECT count(*) FROM pg_publication)")" = 0/0 ] ||
  fail "the refused replicate left a slot or publication on the source"
[ "$(pgc_psql TGT -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'switchyard'")" = 0 ] || fail "the refused replicate left the control schema"
pgc_psql TGT -c "DELETE FROM customers WHERE id = -1" >/dev/null
log "ok: exit 5, nothing created on either side"

"$SY" -c "$WORK/cfg.yaml" init >"$WORK/init.log" 2>&1 || { cat "$WORK/init.log"; fail "init"; }
grep -q "table public.orders exists (owner app_owner): used as it is; foreign keys (2).*GENERATED ALWAYS identity id" "$WORK/init.log" ||
  { cat "$WORK/init.log"; fail "init does not report the prepared orders table"; }
grep -q "table public.customers exists.*triggers (1)" "$WORK/init.log" || fail "init does not report the trigger"
log "ok: $(grep -o 'table public.order_lines exists.*' "$WORK/init.log" | cut -c1-160)"

log "an interrupted copy's rows are emptied again, foreign keys and all"
"$SY" -c "$WORK/cfg.yaml" snapshot >"$WORK/snapshot.log" 2>&1 || { cat "$WORK/snapshot.log"; fail "snapshot"; }
pgc_psql TGT -c "UPDATE switchyard.streams SET phase = 'copying'" >/dev/null
"$SY" -c "$WORK/cfg.yaml" snapshot >>"$WORK/snapshot.log" 2>&1 || { tail -5 "$WORK/snapshot.log"; fail "snapshot over copied rows"; }
wait_parity 10 customers orders order_lines

log "stream under load: inserts, unique-index updates, id = DEFAULT, cascading deletes"
cat >"$WORK/load.sql" <<'SQL'
\set c random(1, 2000)
\set o random(1, 20000)
BEGIN;
INSERT INTO orders (customer_id, total, note) VALUES (:c, random() * 100, 'new');
INSERT INTO order_lines (order_id, line_no, qty) VALUES (currval('orders_id_seq'), 1, 1);
UPDATE customers SET name = name || '.' WHERE id = :c;
UPDATE order_lines SET qty = qty + 1 WHERE order_id = :o;
UPDATE order_lines SET ticket = DEFAULT WHERE order_id = :o AND line_no = 2;
UPDATE orders SET total = total + 1 WHERE id = :o;
COMMIT;
SQL
start_replicate "$WORK/cfg.yaml" "$WORK/replicate.log"
wait_streaming "$WORK/cfg.yaml"
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -n -c 3 -T 8 -R 150 -f "$WORK/load.sql" app \
  >"$WORK/load.log" 2>&1 || { cat "$WORK/load.log"; fail "load"; }
pgc_psql SRC -c "DELETE FROM orders WHERE id % 97 = 0" >/dev/null
pgc_psql SRC -c "UPDATE customers SET id = DEFAULT WHERE id = 5" >/dev/null 2>&1 &&
  fail "the source let an identity key change?" || true
wait_parity 60 customers orders order_lines
"$SY" -c "$WORK/cfg.yaml" verify --once >"$WORK/verify.log" 2>&1 || { cat "$WORK/verify.log"; fail "verify"; }
grep -qi "error" "$WORK/replicate.log" && { grep -i error "$WORK/replicate.log" | head -3; fail "replicate logged errors"; }
log "ok: parity and a clean verify: $(tail -n 1 "$WORK/verify.log")"

log "recopy of a table other tables' foreign keys point at (no TRUNCATE possible)"
"$SY" -c "$WORK/cfg.yaml" recopy public.customers >"$WORK/recopy.out" 2>"$WORK/recopy.err" ||
  { cat "$WORK/recopy.err"; fail "recopy of customers"; }
wait_parity 30 customers orders order_lines
log "ok: $(cat "$WORK/recopy.out")"

log "repair of a row whose identity value differs (no UPDATE may set it)"
pgc_psql TGT -c "UPDATE order_lines SET ticket = DEFAULT, qty = 999 WHERE order_id = 3 AND line_no = 1" >/dev/null
rc=0; "$SY" -c "$WORK/cfg.yaml" verify --once >>"$WORK/verify.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "the damaged row was not found (exit $rc)"
"$SY" -c "$WORK/cfg.yaml" verify --repair >"$WORK/repair.log" 2>&1 || { cat "$WORK/repair.log"; fail "repair"; }
"$SY" -c "$WORK/cfg.yaml" verify --once >>"$WORK/verify.log" 2>&1 || fail "not clean after repair"
log "ok: $(tail -n 1 "$WORK/repair.log")"

log "cutover: the application inserts on the new primary with the identity default"
"$SY" -c "$WORK/cfg.yaml" cutover >"$WORK/cutover.log" 2>&1 || { cat "$WORK/cutover.log"; fail "cutover"; }
pgc_psql TGT -c "INSERT INTO customers (email, name) VALUES ('after@example.org', 'after')" \
  -c "INSERT INTO orders (customer_id, total) SELECT id, 1 FROM customers WHERE email = 'after@example.org'" \
  -c "INSERT INTO order_lines (order_id, line_no, qty) SELECT max(id), 1, 1 FROM orders" >/dev/null ||
  fail "inserting on the new primary failed"
wait_parity 30 customers orders order_lines
"$SY" -c "$WORK/cfg.yaml" failback >"$WORK/failback.log" 2>&1 || { cat "$WORK/failback.log"; fail "failback"; }
pgc_psql SRC -c "INSERT INTO orders (customer_id, total) VALUES (1, 2)" >/dev/null || fail "insert after failback"
wait_parity 30 orders
log "ok: cutover and failback over the prepared schema; identities carried"
