# Large objects (documents kept as `oid` references): logical decoding does
# not carry them (pg_largeobject is a catalog), so switchyard copies them
# with the snapshot, keeps them in sync while `replicate` runs, compares
# them in verify and proves them equal in the cutover's gate:
#  - two objects created before init (one owned by another role) arrive
#    with the same OIDs, owners and content;
#  - objects created, overwritten (lo_put), written through a descriptor
#    (lowrite) and unlinked on the source while replicate runs follow;
#  - one damaged on the target (lo_put), one created and one unlinked there
#    behind the stream's back: `verify --once` exits 1 naming each oid (also
#    in --json and switchyard.mismatches), `verify --repair` fixes them;
#  - a role that may not read an object is refused, naming the object;
#  - written just before the cutover: identical on the new primary as soon
#    as the cutover returns; written on the new primary: identical on the
#    old one as soon as the failback returns.
# Every comparison is independent of switchyard: oid, owner and
# md5(lo_get(oid)) computed by each server.
source "$(dirname "$0")/lib.sh"
source "$ROOT/scripts/lib/pgbouncer.sh"
trap 'pgb_stop_all; it_cleanup' EXIT

# A 3 MB object spans several transfer chunks.
BIG="(SELECT string_agg(decode(md5(g::text), 'hex'), ''::bytea) FROM generate_series(1, 200000) g)"
# Roles are not copied: the owner must exist on the target too.
export SETUP_TARGET_SQL="CREATE ROLE docs_owner"
export SETUP_SOURCE_SQL="
CREATE ROLE docs_owner;
CREATE TABLE documents (id serial PRIMARY KEY, name text, body oid);
INSERT INTO documents (name, body) VALUES
  ('scan-1', lo_from_bytea(100001, convert_to(repeat('page one of a scanned contract ', 500), 'UTF8'))),
  ('scan-2', lo_from_bytea(100002, $BIG));
ALTER LARGE OBJECT 100002 OWNER TO docs_owner;"

# lo_state CLUSTER: one line per large object: oid owner md5.
lo_state() {
  pgc_psql "$1" -c "SELECT oid || ' ' || lomowner::regrole || ' ' || md5(lo_get(oid))
                    FROM pg_largeobject_metadata ORDER BY oid"
}
lo_same() { [ "$(lo_state SRC)" = "$(lo_state TGT)" ]; }
lo_show() {
  echo "source:" >&2; lo_state SRC >&2
  echo "target:" >&2; lo_state TGT >&2
}
# wait_lo SECONDS: until both sides hold the same objects.
wait_lo() {
  local deadline=$(( $(date +%s) + $1 ))
  until lo_same; do
    [ "$(date +%s)" -lt "$deadline" ] || { lo_show; fail "large objects differ after $1 s"; }
    sleep 0.5
  done
}

setup_cutover_pair 1 "stream: { large_object_interval: 500ms }"

log "the snapshot carried the objects created before init"
wait_lo 30
[ "$(pgc_psql TGT -c "SELECT count(*) FROM pg_largeobject_metadata")" = 2 ] || fail "expected 2 objects"
[ "$(pgc_psql TGT -c "SELECT lomowner::regrole FROM pg_largeobject_metadata WHERE oid = 100002")" = docs_owner ] \
  || fail "owner not carried"
log "ok: 2 objects, same oids, owners and content"

log "created, overwritten, written through a descriptor and unlinked while replicate runs"
pgc_psql SRC -c "INSERT INTO documents (name, body) VALUES ('new-1', lo_from_bytea(0, 'invoice 1')), ('new-2', lo_from_bytea(0, $BIG)), ('new-3', lo_from_bytea(0, 'to be removed'))"
pgc_psql SRC -c "SELECT lo_put(body, 6, 'ONE') FROM documents WHERE name = 'scan-1'" >/dev/null
pgc_psql SRC -c "BEGIN; SELECT lowrite(lo_open(body, 131072), 'rewritten head') FROM documents WHERE name = 'new-2'; COMMIT" >/dev/null
pgc_psql SRC -c "SELECT lo_unlink(body) FROM documents WHERE name = 'new-3'; DELETE FROM documents WHERE name = 'new-3'" >/dev/null
wait_lo 60
wait_parity 30 documents
log "ok: $(pgc_psql TGT -c "SELECT count(*) FROM pg_largeobject_metadata") objects identical while streaming"

"$SY" -c "$WORK/cfg.yaml" status >"$WORK/status.out"
grep -Eq "^large objects +4, last synced " "$WORK/status.out" || { cat "$WORK/status.out"; fail "status: no large-object line"; }
"$SY" -c "$WORK/cfg.yaml" status --json | grep '"large_objects":{"objects":4' >/dev/null || fail "status --json: no large_objects"

log "verify: clean, then damage on the target behind the stream's back"
"$SY" -c "$WORK/cfg.yaml" verify --once >"$WORK/verify.log" 2>&1 || { cat "$WORK/verify.log"; fail "verify not clean"; }
grep -q "pg_catalog.pg_largeobject: 4 large objects compared" "$WORK/verify.log" || { cat "$WORK/verify.log"; fail "verify did not compare large objects"; }
damaged=$(pgc_psql TGT -c "SELECT body FROM documents WHERE name = 'scan-2'")
pgc_psql TGT -c "SELECT lo_put($damaged, 100, '\\xdeadbeef')" >/dev/null
removed=$(pgc_psql TGT -c "SELECT body FROM documents WHERE name = 'new-1'")
pgc_psql TGT -c "SELECT lo_unlink($removed)" >/dev/null
extra=$(pgc_psql TGT -c "SELECT lo_from_bytea(0, 'not on the source')")
rc=0
"$SY" -c "$WORK/cfg.yaml" verify --once --json >"$WORK/verify.json" 2>"$WORK/verify.err" || rc=$?
[ "$rc" = 1 ] || { cat "$WORK/verify.err" "$WORK/verify.json"; fail "verify: expected exit 1, got $rc"; }
for expected in "{\"table\":\"pg_catalog.pg_largeobject\",\"key\":{\"oid\":$damaged},\"kind\":\"different\"}" \
                "{\"table\":\"pg_catalog.pg_largeobject\",\"key\":{\"oid\":$removed},\"kind\":\"missing\"}" \
                "{\"table\":\"pg_catalog.pg_largeobject\",\"key\":{\"oid\":$extra},\"kind\":\"extra\"}"; do
  grep -qF "$expected" "$WORK/verify.json" || { cat "$WORK/verify.json"; fail "verify --json lacks $expected"; }
done
grep -q "large object $damaged differs" "$WORK/verify.err" || { cat "$WORK/verify.err"; fail "verify log does not name $damaged"; }
open=$(pgc_psql TGT -c "SELECT string_agg(key[1] || ':' || kind, ',' ORDER BY key[1]::bigint) FROM switchyard.mismatches
                        WHERE schema_name = 'pg_catalog' AND table_name = 'pg_largeobject' AND resolved_at IS NULL")
[ -n "$open" ] && [ "$(echo "$open" | tr ',' '\n' | wc -l)" = 3 ] || fail "switchyard.mismatches: $open"
expect_failure 5 "open mismatches in pg_catalog.pg_largeobject" -- "$SY" -c "$WORK/cfg.yaml" cutover --dry-run
"$SY" -c "$WORK/cfg.yaml" verify --repair >"$WORK/repair.log" 2>&1 || { cat "$WORK/repair.log"; fail "repair"; }
lo_same || { lo_show; fail "not identical after verify --repair"; }
"$SY" -c "$WORK/cfg.yaml" verify --once >>"$WORK/verify.log" 2>&1 || { cat "$WORK/verify.log"; fail "verify not clean after repair"; }
log "ok: damaged $damaged, removed $removed and extra $extra reported (exit 1) and repaired"

log "a role that may not read an object is refused, by name"
# clerk may read every table and every object but one (the grants count).
owned=100002
pgc_psql SRC -c "CREATE ROLE clerk LOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO clerk"
pgc_psql SRC -c "DO \$\$ DECLARE o oid; BEGIN
  FOR o IN SELECT oid FROM pg_largeobject_metadata WHERE oid <> $owned LOOP
    EXECUTE format('GRANT SELECT ON LARGE OBJECT %s TO clerk', o);
  END LOOP; END \$\$"
write_config "$WORK/clerk.yaml" "${ROUTER[@]}"
sed -i "1s/user=postgres/user=clerk/" "$WORK/clerk.yaml"
expect_failure 5 "large object $owned .*no right to read it" -- "$SY" -c "$WORK/clerk.yaml" verify --once
pgc_psql SRC -c "DROP OWNED BY clerk; DROP ROLE clerk"  # the cutover would ask for it on the target

log "written just before the cutover: identical as soon as it returns"
pgc_psql SRC -c "INSERT INTO documents (name, body) VALUES ('late', lo_from_bytea(0, 'signed at the last minute'))"
pgc_psql SRC -c "SELECT lo_put(body, 0, 'PAGE') FROM documents WHERE name = 'scan-1'" >/dev/null
"$SY" -c "$WORK/cfg.yaml" cutover >"$WORK/cutover.log" 2>&1 || { cat "$WORK/cutover.log"; fail "cutover"; }
lo_same || { lo_show; fail "large objects differ right after the cutover"; }
grep -q "large objects" "$WORK/cutover.log" || { cat "$WORK/cutover.log"; fail "the gate did not mention large objects"; }
log "ok: $(pgc_psql TGT -c "SELECT count(*) FROM pg_largeobject_metadata") objects identical on the new primary"

log "new documents on the new primary follow back to the source"
pgc_psql TGT -c "INSERT INTO documents (name, body) VALUES ('after-1', lo_from_bytea(0, 'written on the new primary')), ('after-2', lo_from_bytea(0, $BIG))"
pgc_psql TGT -c "SELECT lo_put(body, 1000, 'edited') FROM documents WHERE name = 'new-2'" >/dev/null
pgc_psql TGT -c "SELECT lo_unlink(body) FROM documents WHERE name = 'new-1'; DELETE FROM documents WHERE name = 'new-1'" >/dev/null
wait_lo 60
log "ok: the reverse stream keeps them in sync"
pgc_psql TGT -c "INSERT INTO documents (name, body) VALUES ('after-3', lo_from_bytea(0, 'just before failback'))"
"$SY" -c "$WORK/cfg.yaml" failback >"$WORK/failback.log" 2>&1 || { cat "$WORK/failback.log"; fail "failback"; }
lo_same || { lo_show; fail "large objects differ right after the failback"; }
wait_parity 30 documents
"$SY" -c "$WORK/cfg.yaml" verify --once >>"$WORK/verify.log" 2>&1 || { cat "$WORK/verify.log"; fail "verify after failback"; }
log "ok: $(pgc_psql SRC -c "SELECT count(*) FROM pg_largeobject_metadata") objects identical after the failback"
log "PASS"
