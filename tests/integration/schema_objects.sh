# The new primary can serve the application: init brings over the schema
# objects an application uses besides its tables, and the cutover preflight
# refuses while the new primary lacks one.
#  - the source has extensions (citext installed by hand on the target,
#    hstore only on the source), SQL and plpgsql functions, a procedure,
#    triggers (one fills a NOT NULL tsvector column), a view, a materialized
#    view with an index, a rule, a policy, comments and grants to app_user;
#    a view, a materialized view, a function body and a policy that are
#    valid only once a primary key exists (GROUP BY the key), and a
#    materialized view reading that view;
#  - the target was prepared by hand: citext, one of the tables and one of
#    the functions already exist;
#  - init refuses, naming it and creating nothing, an extension the target
#    cannot install and a grantee role the target lacks; init runs twice;
#  - triggers do not fire for the stream's apply (audit rows are not
#    doubled: verify is clean), the materialized view is populated;
#  - preflight refuses naming a function dropped from the target and a role
#    owning a function that only the source has; init brings the function
#    back;
#  - an application workload (pgbench, as app_user) runs on the source
#    during the cutover (router kind none) and then on the new primary with
#    0 failed transactions; the reverse stream keeps parity.
source "$(dirname "$0")/lib.sh"

pgc_start SRC
pgc_start TGT
for cluster in SRC TGT; do pgc_psql "$cluster" -c "CREATE ROLE app_user LOGIN"; done
pgc_psql SRC -f "$HERE/schema_objects.sql"
# Prepared by hand: an extension, a table and a function already there.
pgc_psql TGT <<'SQL'
CREATE EXTENSION citext;
CREATE TABLE inventory (film_id integer PRIMARY KEY, store_id integer NOT NULL, qty integer NOT NULL);
CREATE FUNCTION inventory_count() RETURNS bigint LANGUAGE sql STABLE AS $$ SELECT count(*) FROM public.inventory $$;
SQL
write_config "$WORK/cfg.yaml" "cutover: { freeze_budget: 5s }"

# Only what the hand-prepared target had, and nothing of switchyard's.
assert_target_as_prepared() {
  local what
  what=$(pgc_psql SRC -c "SELECT (SELECT count(*) FROM pg_publication) || '/' || (SELECT count(*) FROM pg_replication_slots)")
  [ "$what" = "0/0" ] || fail "source keeps publications/slots: $what"
  what=$(pgc_psql TGT -c "SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = 'switchyard') || '/' || (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'v', 'm')) || '/' || (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = pg_proc.oid AND d.deptype = 'e')) || '/' || (SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension)")
  [ "$what" = "0/1/1/citext,plpgsql" ] || fail "target changed (schema/relations/functions/extensions): $what"
}

log "init refuses an extension the target cannot install"
pgc_psql SRC -c "UPDATE pg_extension SET extname = 'hstore_unavailable' WHERE extname = 'hstore'"
expect_failure 5 "extension hstore_unavailable .*not available on the target" -- "$SY" -c "$WORK/cfg.yaml" init
assert_target_as_prepared
pgc_psql SRC -c "UPDATE pg_extension SET extname = 'hstore' WHERE extname = 'hstore_unavailable'"

log "init refuses a grantee role the target lacks"
pgc_psql SRC -c "CREATE ROLE auditor; GRANT SELECT ON audit_log TO auditor"
expect_failure 5 "role auditor .*does not exist on the target" -- "$SY" -c "$WORK/cfg.yaml" init
assert_target_as_prepared
pgc_psql SRC -c "REVOKE SELECT ON audit_log FROM auditor; DROP ROLE auditor"

log "init, twice (first as a source role with a password), then the initial copy"
# pg_dump must get the password without it on its command line, which ps
# shows to every user: a pg_dump first on PATH records its command line.
# The role `secured` needs its password (scram-sha-256, see pgcluster.sh).
SECRET="pg-dump-secret-$RANDOM$RANDOM"
pgc_psql SRC -c "CREATE ROLE secured LOGIN SUPERUSER PASSWORD '$SECRET'"
mkdir -p "$WORK/bin"
printf '#!/bin/bash\ntr "\\0" "\\n" </proc/$$/cmdline >>"%s"\nexec "%s" "$@"\n' \
  "$WORK/pg_dump.cmdline" "$PG_BIN/pg_dump" >"$WORK/bin/pg_dump"
chmod +x "$WORK/bin/pg_dump"
sed "1s/user=postgres\"/user=secured password=$SECRET\"/" "$WORK/cfg.yaml" >"$WORK/cfg-secured.yaml"
grep -q "^source: .*user=secured password=" "$WORK/cfg-secured.yaml" || fail "no password in the source conninfo"
PATH="$WORK/bin:$PATH" "$SY" -c "$WORK/cfg-secured.yaml" init >"$WORK/init.log" 2>&1 || { cat "$WORK/init.log"; fail "init"; }
grep -Eq "user='?secured" "$WORK/pg_dump.cmdline" || { cat "$WORK/pg_dump.cmdline"; fail "pg_dump did not run as secured"; }
if grep -q -- "$SECRET" "$WORK/pg_dump.cmdline"; then fail "the password is on pg_dump's command line"; fi
if grep -q -- "$SECRET" "$WORK/init.log"; then fail "init logged the password"; fi
log "ok: pg_dump authenticated with the password, which was not on its command line"
"$SY" -c "$WORK/cfg.yaml" init >>"$WORK/init.log" 2>&1 || { cat "$WORK/init.log"; fail "second init"; }
start_replicate "$WORK/cfg.yaml" "$WORK/replicate.log"
for _ in $(seq 1 120); do
  "$SY" -c "$WORK/cfg.yaml" status 2>/dev/null | grep "^state        streaming" >/dev/null && break
  sleep 0.5
done
"$SY" -c "$WORK/cfg.yaml" status | grep "^state        streaming" >/dev/null || { cat "$WORK/replicate.log"; fail "not streaming"; }

# Every object of the source's public schema, as the server identifies it.
objects() {
  pgc_psql "$1" -c "
    SELECT i.type || ' ' || i.identity FROM (
      SELECT 'pg_proc'::regclass AS c, oid FROM pg_proc WHERE pronamespace = 'public'::regnamespace
      UNION ALL SELECT 'pg_class', oid FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'v', 'm', 'i', 'S')
      UNION ALL SELECT 'pg_trigger', oid FROM pg_trigger WHERE NOT tgisinternal
      UNION ALL SELECT 'pg_rewrite', oid FROM pg_rewrite WHERE rulename <> '_RETURN'
      UNION ALL SELECT 'pg_policy', oid FROM pg_policy
      UNION ALL SELECT 'pg_extension', oid FROM pg_extension) o,
      pg_identify_object(o.c, o.oid, 0) i
    ORDER BY 1"
}
objects SRC >"$WORK/objects.src"
objects TGT >"$WORK/objects.tgt"
diff "$WORK/objects.src" "$WORK/objects.tgt" || fail "the target's schema objects differ from the source's"
for query in \
  "SELECT obj_description('public.film_in_stock(integer,integer)'::regprocedure, 'pg_proc')" \
  "SELECT obj_description('public.film_fulltext_idx'::regclass, 'pg_class')" \
  "SELECT has_table_privilege('app_user', 'public.rental', 'INSERT') AND has_table_privilege('app_user', 'public.film_stats', 'SELECT')" \
  "SELECT relrowsecurity FROM pg_class WHERE oid = 'public.rental'::regclass" \
  "SELECT tgenabled FROM pg_trigger WHERE tgname = 'inventory_audit'" \
  "SELECT count(*) || ' ' || sum(films) FROM film_stats" \
  "SELECT count(*) || ' ' || sum(rentals) || ' ' || max(title) FROM film_rentals" \
  "SELECT count(*) || ' ' || sum(rentals) || ' ' || obj_description('public.film_rental_counts'::regclass, 'pg_class') FROM film_rental_counts" \
  "SELECT count(*) || ' ' || count(title) || ' ' || has_table_privilege('app_user', 'public.popular_films', 'SELECT') FROM popular_films" \
  "SELECT film_rentals_of(3)"; do
  [ "$(pgc_psql SRC -c "$query")" = "$(pgc_psql TGT -c "$query")" ] || fail "differs on the target: $query"
done
log "ok: functions, procedure, triggers, view, materialized view (populated), rule, policy, comments, grants and extensions on the target"
# The new primary plans with statistics from the copy on (autovacuum sets last_autoanalyze, not last_analyze).
unanalyzed=$(pgc_psql TGT -c "SELECT string_agg(relname, ', ') FROM pg_stat_user_tables WHERE schemaname = 'public' AND last_analyze IS NULL")
[ -z "$unanalyzed" ] || fail "copied tables without statistics on the target: $unanalyzed"
log "ok: every copied table and filled materialized view analyzed"
log "ok: a view, a materialized view, a function and a policy that need a primary key, and a materialized view on that view (filled from its real definition)"

# Triggers do not fire for the apply session: the audit trigger's rows
# arrive once, from the source.
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U app_user -n -t 50 -f "$HERE/schema_app.sql" app \
  >"$WORK/app-source.log" 2>&1 || { cat "$WORK/app-source.log"; fail "the workload failed on the source"; }
sleep 2
"$SY" -c "$WORK/cfg.yaml" verify --once >"$WORK/verify.log" 2>&1 || { cat "$WORK/verify.log"; fail "verify not clean"; }
log "ok: verify clean after the workload ran on the source (no trigger fired twice)"

log "preflight refuses a target without a function, and a role only the source has"
pgc_psql TGT -c "DROP FUNCTION film_in_stock(integer, integer)"
pgc_psql SRC -c "CREATE ROLE legacy_owner; ALTER FUNCTION inventory_count() OWNER TO legacy_owner"
expect_failure 5 "function public\.film_in_stock\(integer,integer\).*role legacy_owner" -- "$SY" -c "$WORK/cfg.yaml" cutover
pgc_psql TGT -c "CREATE ROLE legacy_owner"
"$SY" -c "$WORK/cfg.yaml" init >>"$WORK/init.log" 2>&1 || { cat "$WORK/init.log"; fail "init on a streaming pair"; }
"$SY" -c "$WORK/cfg.yaml" cutover --dry-run >"$WORK/dry-run.log" 2>&1 || { cat "$WORK/dry-run.log"; fail "dry run after init"; }
log "ok: init brought the function back"

log "cutover while the application runs on the source"
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U app_user -n -c 2 -T 600 -R 50 -f "$HERE/schema_app.sql" app \
  >"$WORK/app-during.log" 2>&1 &
APP_PID=$!; BACKGROUND+=("$APP_PID")
sleep 2
"$SY" -c "$WORK/cfg.yaml" cutover >"$WORK/cutover.log" 2>&1 || { cat "$WORK/cutover.log"; fail "cutover"; }
# Router kind none: the fence ended the application's sessions on the old
# primary; it now connects to the new one.
kill -TERM "$APP_PID" 2>/dev/null || true; wait "$APP_PID" 2>/dev/null || true
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$TGT_PORT" -U app_user -n -c 2 -t 100 -f "$HERE/schema_app.sql" app \
  >"$WORK/app-target.log" 2>&1 || { cat "$WORK/app-target.log"; fail "the workload failed on the new primary"; }
grep -q "number of transactions actually processed: 200/200" "$WORK/app-target.log" || { cat "$WORK/app-target.log"; fail "not every transaction ran"; }
if grep -q "number of failed transactions" "$WORK/app-target.log"; then
  grep -q "number of failed transactions: 0 " "$WORK/app-target.log" || { cat "$WORK/app-target.log"; fail "failed transactions"; }
fi
nulls=$(pgc_psql TGT -c "SELECT count(*) FROM film WHERE title LIKE 'New film %' AND fulltext = ''::tsvector")
[ "$nulls" = 0 ] || fail "$nulls new films without their full-text vector"
wait_parity 60 film inventory rental audit_log
log "ok: 200 application transactions on the new primary, 0 failed; the reverse stream keeps parity"
log "PASS"
