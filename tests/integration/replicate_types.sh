# Every column type, identifier shape and table shape round-trips exactly,
# through the initial copy and through streaming; unchanged TOASTed values
# survive updates; a clean stop and teardown leave nothing behind.
source "$(dirname "$0")/lib.sh"

pgc_start SRC
pgc_start TGT
pgc_psql SRC -f "$HERE/types_schema.sql"
pgc_psql SRC -f "$HERE/types_rows.sql"
pgc_psql SRC -c "INSERT INTO toasty SELECT g, (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 400) i), 0 FROM generate_series(1, 5) g"
pgc_psql SRC -c "INSERT INTO scratch SELECT g, 'row ' || g FROM generate_series(1, 100) g"
cfg=$WORK/sy.yaml
write_config "$cfg" "stream: { status_interval: 2s }" "tables: { include: [\"public.*\", \"Other Schema.*\"] }"
mapfile -t TABLES < <(source_tables)
log "tables: ${TABLES[*]}"

log "init, twice (idempotent), then replicate"
"$SY" -c "$cfg" init 2>>"$WORK/replicate.log"
"$SY" -c "$cfg" init 2>>"$WORK/replicate.log"
start_replicate "$cfg" "$WORK/replicate.log"
wait_parity 60 "${TABLES[@]}"
log "initial copy matches"

log "streamed changes: inserts, updates (key changes too), deletes, truncate"
pgc_psql SRC -f "$HERE/types_rows.sql"
pgc_psql SRC <<'SQL'
UPDATE all_types SET f8 = f8 * 2, txt = coalesce(txt, '') || '✓' WHERE id % 2 = 0;
UPDATE all_types SET id = id + 1000 WHERE id = 3;
-- Regression: a multi-row UPDATE cast char(3) values to bare char (char(1)), cutting 'ab ' to 'a'.
UPDATE all_types SET flag = NOT flag WHERE ch = 'ab';
DELETE FROM all_types WHERE id = 1;
UPDATE "Other Schema"."Mixed Case" SET "Value Text" = NULL, "select" = -1 WHERE "Id" < 5;
DELETE FROM "Other Schema"."Mixed Case" WHERE "Id" = 20;
UPDATE no_key SET b = 'one of two' WHERE ctid = (SELECT min(ctid) FROM no_key WHERE a = 1);
DELETE FROM no_key WHERE a = 2;
UPDATE events SET region = 'us' WHERE id = 1;
DELETE FROM events WHERE id = 2;
UPDATE toasty SET counter = counter + 1;
UPDATE toasty SET counter = counter + 1 WHERE id = 1;
TRUNCATE scratch;
INSERT INTO scratch VALUES (1, 'after truncate');
BEGIN;
INSERT INTO scratch VALUES (2, 'in a transaction');
UPDATE scratch SET v = 'changed twice' WHERE id = 2;
COMMIT;
BEGIN;
INSERT INTO scratch VALUES (3, 'rolled back');
ROLLBACK;
SQL
wait_parity 60 "${TABLES[@]}"
log "streamed changes match"

big_src=$(pgc_psql SRC -c "SELECT md5(string_agg(big, '' ORDER BY id)) FROM toasty")
big_tgt=$(pgc_psql TGT -c "SELECT md5(string_agg(big, '' ORDER BY id)) FROM toasty")
[ "$big_src" = "$big_tgt" ] || fail "TOASTed values differ after updates"
dups=$(pgc_psql SRC -c "SELECT count(*) FROM no_key WHERE a = 1 AND b = 'dup'")
[ "$dups" -ge 2 ] || fail "test setup: expected duplicate rows in no_key"
[ "$(pgc_psql TGT -c "SELECT count(*) FROM no_key WHERE a = 1 AND b = 'dup'")" = "$dups" ] || fail "duplicate rows in the keyless table were not kept"

status=$("$SY" -c "$cfg" status --json 2>/dev/null)
echo "$status" | grep '"state":"streaming"' >/dev/null || fail "status does not say streaming: $status"
"$SY" -c "$cfg" status >"$WORK/status.txt" 2>&1
grep -q "Other Schema.Mixed Case" "$WORK/status.txt" || fail "status does not list the tables"

log "a second replicate on the same stream is refused"
expect_failure 5 "stream switchyard is already being replicated: another .switchyard replicate. or .serve. is running \(connected from 127.0.0.1 since [0-9-]+ [0-9:.+]+\)" -- "$SY" -c "$cfg" replicate
kill -0 "$REPLICATE_PID" || fail "the first replicate died"

log "SIGTERM stops cleanly"
kill -TERM "$REPLICATE_PID"
rc=0; wait "$REPLICATE_PID" || rc=$?
[ "$rc" = 0 ] || { tail -20 "$WORK/replicate.log"; fail "replicate exited $rc on SIGTERM"; }
grep -q "stopped cleanly" "$WORK/replicate.log" || fail "no clean-stop message"
confirmed=$(pgc_psql SRC -c "SELECT confirmed_flush_lsn FROM pg_replication_slots")
applied=$(pgc_psql TGT -c "SELECT pg_replication_origin_progress('switchyard', true)")
[ "$(pgc_psql SRC -c "SELECT '$confirmed'::pg_lsn >= '$applied'::pg_lsn")" = t ] || fail "slot behind applied position after stop"

log "teardown removes slot, publication, origin, control schema; data stays"
"$SY" -c "$cfg" teardown --yes 2>>"$WORK/replicate.log"
[ "$(pgc_psql SRC -c 'SELECT count(*) FROM pg_replication_slots')" = 0 ] || fail "slot left"
[ "$(pgc_psql SRC -c 'SELECT count(*) FROM pg_publication')" = 0 ] || fail "publication left"
[ "$(pgc_psql TGT -c 'SELECT count(*) FROM pg_replication_origin')" = 0 ] || fail "origin left"
[ "$(pgc_psql TGT -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'switchyard'")" = 0 ] || fail "control schema left"
parity_ok "${TABLES[@]}" || fail "teardown changed data"
echo "replicate_types: passed"
