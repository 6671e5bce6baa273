# Schema drift: a column added on the source alone stops the stream with an
# error naming table and column (exit 6) and nothing half-applied; the
# expand/contract order (target first, then source) streams straight through.
source "$(dirname "$0")/lib.sh"

pgc_start SRC
pgc_start TGT
pgc_psql SRC -c "CREATE TABLE orders (id int PRIMARY KEY, item text)"
pgc_psql SRC -c "INSERT INTO orders SELECT g, 'item ' || g FROM generate_series(1, 10) g"
pgc_psql SRC -c "CREATE TABLE stock (id int PRIMARY KEY, qty int, shelf smallint, code varchar(20)); INSERT INTO stock VALUES (1, 10, 1, 'a')"
cfg=$WORK/sy.yaml
write_config "$cfg" "stream: { status_interval: 2s }"
rlog=$WORK/replicate.log
start_replicate "$cfg" "$rlog"
wait_parity 60 public.orders

log "expand the right way: the target first, then the source"
pgc_psql TGT -c "ALTER TABLE orders ADD COLUMN note text"
pgc_psql SRC -c "ALTER TABLE orders ADD COLUMN note text"
pgc_psql SRC -c "INSERT INTO orders VALUES (11, 'item 11', 'with a note'); UPDATE orders SET note = 'later' WHERE id = 1"
wait_parity 60 public.orders
kill -0 "$REPLICATE_PID" || fail "replicate stopped on an additive change the target already had"

log "widen types the right way: the target first (int -> bigint, smallint -> int, varchar -> text), then the source"
pgc_psql TGT -c "ALTER TABLE stock ALTER COLUMN qty TYPE bigint, ALTER COLUMN shelf TYPE int, ALTER COLUMN code TYPE text"
pgc_psql SRC -c "INSERT INTO stock VALUES (2, 20, 2, 'b'); UPDATE stock SET qty = 11 WHERE id = 1"
pgc_psql SRC -c "ALTER TABLE stock ALTER COLUMN qty TYPE bigint, ALTER COLUMN shelf TYPE int, ALTER COLUMN code TYPE text"
pgc_psql SRC -c "INSERT INTO stock VALUES (3, 5000000000, 70000, repeat('c', 40)); UPDATE stock SET qty = qty + 1"
wait_parity 60 public.stock
kill -0 "$REPLICATE_PID" || fail "replicate stopped on a type the target had widened first"
"$SY" -c "$cfg" verify --once --table public.stock >"$WORK/verify-widened.log" 2>&1 || { cat "$WORK/verify-widened.log"; fail "verify of the widened table"; }
log "ok: rows written before and after the source's ALTER streamed; $(tail -n 1 "$WORK/verify-widened.log")"

log "drift: a column added on the source only"
pgc_psql SRC -c "ALTER TABLE orders ADD COLUMN quantity int"
pgc_psql SRC -c "INSERT INTO orders VALUES (12, 'item 12', NULL, 3)"
rc=0; wait "$REPLICATE_PID" || rc=$?
[ "$rc" = 6 ] || { tail -5 "$rlog"; fail "expected exit 6 on drift, got $rc"; }
last=$(tail -n 1 "$rlog")
echo "$last" | grep "switchyard: error: schema drift: column quantity of table public.orders exists on the source but not on the target" >/dev/null \
  || fail "drift error does not name table and column: $last"
log "ok: $last"
[ "$(pgc_psql TGT -c 'SELECT count(*) FROM orders WHERE id = 12')" = 0 ] || fail "half-applied change"
log "verify refuses too while the target lacks the column (exit 6)"
expect_failure 6 "schema drift: column quantity of table public.orders exists on the source but not on the target" -- \
  "$SY" -c "$cfg" verify --once

log "after the DBA adds the column on the target, replicate resumes and catches up"
pgc_psql TGT -c "ALTER TABLE orders ADD COLUMN quantity int"
start_replicate "$cfg" "$rlog"
wait_parity 60 public.orders
log "verify compares the source's columns; a column only the target has is left out"
pgc_psql TGT -c "ALTER TABLE orders ADD COLUMN target_only text DEFAULT 'x'"
"$SY" -c "$cfg" verify --once >"$WORK/verify.log" 2>&1 || { cat "$WORK/verify.log"; fail "verify after the expand exited $?"; }

log "a type that differs on the target is drift too"
pgc_psql TGT -c "ALTER TABLE orders ADD COLUMN price text"
pgc_psql SRC -c "ALTER TABLE orders ADD COLUMN price numeric(10,2)"
pgc_psql SRC -c "INSERT INTO orders VALUES (13, 'item 13', NULL, 1, 9.99)"
rc=0; wait "$REPLICATE_PID" || rc=$?
[ "$rc" = 6 ] || fail "expected exit 6 on a type difference, got $rc"
tail -n 1 "$rlog" | grep "column price of table public.orders has another type on the target (text); change the target's to the source's, or to one that holds every value of it unchanged" >/dev/null \
  || fail "type drift error unclear: $(tail -n 1 "$rlog")"
echo "schema_drift: passed"
