# The least-privilege path, from the README only: no superuser anywhere in
# switchyard's connections, scram-sha-256 passwords in a pgpass file.
#  - a bare role: `check` lists everything missing at once, each with the
#    statement that provides it (the eleven origin functions spelled out,
#    SET ON PARAMETER, CREATE on schema public, the fences); init refuses
#    the same way and creates nothing;
#  - the README's grants, less one right the reverse stream needs, with the
#    target's wal_level still 'replica' and a table owner role missing there:
#    check names exactly those three (the restart and the CREATE ROLE
#    included); init starts the stream with a warning; the cutover preflight
#    refuses, naming them, before anything changes;
#  - once granted and restarted: check is clean, and init, replicate (under
#    the application's load, as app_user), verify, cutover and failback all
#    run as that role; app_user can write on the new primary;
#  - the databases go by their configured names (legacy, cloud) in check,
#    preflight and status, also after the cutover turns the stream round;
#  - tables switchyard creates belong to their source owner (app_owner);
#    one whose owner role the target lacks is named at init.
source "$(dirname "$0")/lib.sh"

pgc_start SRC
pgc_start TGT "wal_level = replica"

# The application: tables and database owned by app_owner, used by app_user.
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -i -s 2 -q app >"$WORK/pgbench-init.log" 2>&1
pgc_psql SRC <<'SQL'
CREATE ROLE app_owner NOLOGIN;
CREATE ROLE app_user LOGIN;
ALTER TABLE pgbench_history REPLICA IDENTITY FULL;
ALTER TABLE pgbench_accounts OWNER TO app_owner;
ALTER TABLE pgbench_branches OWNER TO app_owner;
ALTER TABLE pgbench_tellers OWNER TO app_owner;
ALTER TABLE pgbench_history OWNER TO app_owner;
ALTER DATABASE app OWNER TO app_owner;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app_user;
-- A batch job's table, owned by a role the target does not have.
CREATE ROLE legacy_batch NOLOGIN;
CREATE TABLE batch_runs (id int PRIMARY KEY, note text);
INSERT INTO batch_runs SELECT g, 'run ' || g FROM generate_series(1, 50) g;
ALTER TABLE batch_runs OWNER TO legacy_batch;
SQL

# readme_block NAME: the SQL block of the README's least-privilege setup.
readme_block() {
  awk -v marker="<!-- least-privilege: $1 -->" '
    $0 == marker { found = 1; next }
    found && /^```sql/ { inside = 1; next }
    inside && /^```/ { exit }
    inside { print }' "$ROOT/README.md"
}
readme_block source >"$WORK/source.sql"
readme_block target >"$WORK/target.sql"
grep -q "GRANT app_owner TO migrator" "$WORK/source.sql" || fail "no source block in the README"
grep -q "CREATE ROLE migrator" "$WORK/target.sql" || fail "no target block in the README"

# scram for migrator (connections and walsenders) before the trust lines.
PASSWORD_SRC=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
PASSWORD_TGT=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
for cluster in SRC TGT; do
  dir_var="${cluster}_DIR"
  hba="${!dir_var}/data/pg_hba.conf"
  { echo "host app migrator 127.0.0.1/32 scram-sha-256"; cat "$hba"; } >"$WORK/hba"
  cat "$WORK/hba" >"$hba"
  pgc_psql "$cluster" -c "SELECT pg_reload_conf()" >/dev/null
done
export PGPASSFILE="$WORK/pgpass"
{
  echo "127.0.0.1:$SRC_PORT:app:migrator:$PASSWORD_SRC"
  echo "127.0.0.1:$TGT_PORT:app:migrator:$PASSWORD_TGT"
} >"$PGPASSFILE"
chmod 600 "$PGPASSFILE"

cat >"$WORK/cfg.yaml" <<YAML
source: { name: legacy, driver: postgres, conninfo: "host=127.0.0.1 port=$SRC_PORT dbname=app user=migrator" }
target: { name: cloud, driver: postgres, conninfo: "host=127.0.0.1 port=$TGT_PORT dbname=app user=migrator" }
router: { kind: none }
cutover: { freeze_budget: 5s }
YAML

log "a bare role: everything missing is named at once, with its fix"
pgc_psql SRC -c "CREATE ROLE migrator LOGIN PASSWORD '$PASSWORD_SRC'"
pgc_psql TGT -c "CREATE ROLE migrator LOGIN PASSWORD '$PASSWORD_TGT'"
rc=0
"$SY" -c "$WORK/cfg.yaml" check >"$WORK/check.out" 2>"$WORK/check.err" || rc=$?
[ "$rc" = 5 ] || { cat "$WORK/check.out" "$WORK/check.err"; fail "check: expected exit 5, got $rc"; }
for fix in 'ALTER ROLE "migrator" REPLICATION;' \
           'GRANT SET ON PARAMETER session_replication_role TO "migrator";' \
           'GRANT CREATE ON DATABASE "app" TO "migrator";' \
           'GRANT "app_owner" TO "migrator";' \
           'GRANT pg_signal_backend TO "migrator";' \
           'pg_catalog.pg_replication_origin_xact_setup(pg_lsn,timestamp with time zone) TO "migrator";' \
           'wal_level = logical) and restart the server'; do
  grep -qF -- "$fix" "$WORK/check.out" || { cat "$WORK/check.out"; fail "check does not propose: $fix"; }
done
functions=$(grep -o "pg_catalog.pg_replication_origin_[a-z_]*(" "$WORK/check.out" | sort -u | wc -l)
[ "$functions" = 11 ] || fail "check names $functions origin functions, not 11"
grep -q "^switchyard: error: [0-9]* requirements are missing" "$WORK/check.err" ||
  fail "no one-line error: $(cat "$WORK/check.err")"
grep -q "^legacy (host=127.0.0.1 port=$SRC_PORT dbname=app user=migrator)" "$WORK/check.out" &&
  grep -q "^cloud (host=127.0.0.1 port=$TGT_PORT" "$WORK/check.out" || fail "check does not use the configured names"
missing=$(grep -c "MISSING" "$WORK/check.out")
log "ok: check lists $missing missing requirements, exit 5"
expect_failure 5 "init: [0-9]+ requirements are missing" -- "$SY" -c "$WORK/cfg.yaml" init
[ "$(grep -c ' error ' "$WORK/err")" -ge 5 ] || { cat "$WORK/err"; fail "init did not log each missing requirement"; }
assert_nothing_created
pgc_psql SRC -c "DROP ROLE migrator"
pgc_psql TGT -c "DROP ROLE migrator"

log "the README's grants, less the source's SET ON PARAMETER, target wal_level still replica"
grep -v "GRANT SET ON PARAMETER" "$WORK/source.sql" | pgc_psql SRC >/dev/null
pgc_psql TGT -f "$WORK/target.sql" >/dev/null
pgc_psql SRC -c "GRANT legacy_batch TO migrator" >/dev/null
pgc_psql SRC -c "ALTER ROLE migrator PASSWORD '$PASSWORD_SRC'"
pgc_psql TGT -c "ALTER ROLE migrator PASSWORD '$PASSWORD_TGT'"
rc=0
"$SY" -c "$WORK/cfg.yaml" check >"$WORK/check.out" 2>"$WORK/check.err" || rc=$?
[ "$rc" = 5 ] || { cat "$WORK/check.out" "$WORK/check.err"; fail "check: expected exit 5, got $rc"; }
grep "MISSING" "$WORK/check.out" >"$WORK/missing"
[ "$(wc -l <"$WORK/missing")" = 3 ] || { cat "$WORK/check.out"; fail "expected exactly 3 missing"; }
grep -q "MISSING  cutover  SET session_replication_role" "$WORK/missing" || fail "source SET not named"
grep -q "MISSING  cutover  wal_level = logical: wal_level is 'replica'" "$WORK/missing" || fail "target wal_level not named"
grep -q "MISSING  cutover  the roles that own the application's objects: role legacy_batch (owns table public.batch_runs) does not exist on the cloud" "$WORK/missing" ||
  fail "the missing owner role is not named"
grep -q 'fix: CREATE ROLE "legacy_batch" NOLOGIN;' "$WORK/check.out" || fail "no CREATE ROLE proposed"
"$SY" -c "$WORK/cfg.yaml" init >"$WORK/init.log" 2>&1 || { cat "$WORK/init.log"; fail "init as migrator"; }
grep -q "3 requirements of the cutover.*missing" "$WORK/init.log" || { cat "$WORK/init.log"; fail "init did not warn"; }
log "ok: init warns about the 3 the cutover needs and goes ahead"
owners=$(pgc_psql TGT -c "SELECT string_agg(tablename || ':' || tableowner, ' ' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'")
[ "$owners" = "batch_runs:migrator pgbench_accounts:app_owner pgbench_branches:app_owner pgbench_history:app_owner pgbench_tellers:app_owner" ] ||
  fail "created tables' owners: $owners"
grep -q "role legacy_batch owns public.batch_runs on the source but does not exist here" "$WORK/init.log" ||
  { cat "$WORK/init.log"; fail "init does not name the missing owner role"; }
log "ok: created tables belong to their source owner; the one whose owner is missing is named"

"$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U app_user -n -c 2 -R 50 -T 600 app \
  >"$WORK/pgbench.log" 2>&1 &
BENCH_PID=$!; BACKGROUND+=("$BENCH_PID")
start_replicate "$WORK/cfg.yaml" "$WORK/replicate.log"
wait_streaming "$WORK/cfg.yaml"
"$SY" -c "$WORK/cfg.yaml" verify --once >"$WORK/verify.log" 2>&1 || { cat "$WORK/verify.log"; fail "verify as migrator"; }
log "ok: replicate and verify --once as migrator under app_user's load"

expect_failure 5 "preflight: 2 requirements are missing.* legacy: role migrator may not set session_replication_role" -- "$SY" -c "$WORK/cfg.yaml" cutover --dry-run
grep -q "cloud lacks what the application uses on the legacy: role legacy_batch" "$WORK/err" ||
  fail "preflight did not name the missing role"
grep -q "GRANT SET ON PARAMETER session_replication_role" "$WORK/err" || fail "preflight did not name the SET right"
grep -q "cloud: wal_level is 'replica'" "$WORK/err" || fail "preflight did not name wal_level on cloud"
"$SY" -c "$WORK/cfg.yaml" status | grep "^direction    forward" >/dev/null || fail "direction changed"

log "grant it, create the role, set wal_level and restart the target under the running stream"
grep "GRANT SET ON PARAMETER" "$WORK/source.sql" | pgc_psql SRC >/dev/null
# What init's warning asks for: the owner role, and the table handed to it.
pgc_psql TGT -c "CREATE ROLE legacy_batch NOLOGIN; GRANT legacy_batch TO migrator; ALTER TABLE batch_runs OWNER TO legacy_batch" >/dev/null
pgc_psql TGT -c "ALTER SYSTEM SET wal_level = logical" >/dev/null
pgc_as_owner "$PG_BIN/pg_ctl" -D "$TGT_DIR/data" -m fast -w restart -o "-p $TGT_PORT" >/dev/null
"$SY" -c "$WORK/cfg.yaml" check >"$WORK/check.out" 2>&1 || { cat "$WORK/check.out"; fail "check not clean"; }
grep -q "MISSING" "$WORK/check.out" && fail "check still lists something missing"
log "ok: check clean: $(tail -n 1 "$WORK/check.out")"

kill -TERM "$BENCH_PID"; wait "$BENCH_PID" 2>/dev/null || true
sleep 1
"$SY" -c "$WORK/cfg.yaml" verify --once >>"$WORK/verify.log" 2>&1 || fail "verify after the restart"
"$SY" -c "$WORK/cfg.yaml" cutover >"$WORK/cutover.out" 2>"$WORK/cutover.log" || { cat "$WORK/cutover.log"; fail "cutover as migrator"; }
grep -q "^cutover: cloud is the primary, legacy fenced; writes frozen [0-9.]* ms (budget 5.0 s)$" "$WORK/cutover.out" ||
  fail "cutover summary: $(cat "$WORK/cutover.out")"
# The databases keep their names whichever way the stream runs.
"$SY" -c "$WORK/cfg.yaml" status >"$WORK/status.out"
grep -q "^direction    reverse (cloud -> legacy; cloud is the primary)" "$WORK/status.out" &&
  grep -q "^upstream     cloud at " "$WORK/status.out" || { cat "$WORK/status.out"; fail "status after cutover"; }
# The application on its new primary, as its own role; the reverse stream
# (applied by migrator on the old primary) carries the write back.
"$PG_BIN/psql" -h 127.0.0.1 -p "$TGT_PORT" -U app_user -d app -qAtX -v ON_ERROR_STOP=1 \
  -c "UPDATE pgbench_accounts SET abalance = abalance + 7 WHERE aid = 11" \
  -c "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, 11, 7, now())" ||
  fail "app_user cannot write on the new primary"
wait_parity 60 pgbench_accounts pgbench_history
# JSON numbers are plain decimals (Boost.JSON would write doubles as 4.21E1).
"$SY" -c "$WORK/cfg.yaml" status --json >"$WORK/status.json"
grep -Eq '"freeze_ms":[0-9]+,' "$WORK/status.json" || fail "no whole freeze_ms: $(cat "$WORK/status.json")"
# (a JSON number, not a quoted string: LSNs are hex and may read 0/322E1E0)
grep -Eq ':-?[0-9.]+[eE][-+]?[0-9]' "$WORK/status.json" && fail "a number in exponent form: $(cat "$WORK/status.json")"
log "ok: cutover as migrator; app_user writes on the new primary; the reverse stream applies"
"$SY" -c "$WORK/cfg.yaml" failback >"$WORK/failback.log" 2>&1 || { cat "$WORK/failback.log"; fail "failback as migrator"; }
"$SY" -c "$WORK/cfg.yaml" status | grep "^direction    forward" >/dev/null || fail "direction not forward after failback"
"$PG_BIN/psql" -h 127.0.0.1 -p "$SRC_PORT" -U app_user -d app -qAtX -v ON_ERROR_STOP=1 \
  -c "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 12" || fail "app_user cannot write after failback"
wait_parity 60 pgbench_accounts pgbench_history pgbench_branches pgbench_tellers
grep -q "$PASSWORD_SRC\|$PASSWORD_TGT" "$WORK"/*.log "$WORK"/*.out && fail "a password leaked into a log"
log "ok: failback as migrator; parity; no password in any log"
