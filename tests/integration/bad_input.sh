# Bad input: every case exits with its documented code, prints one line
# naming what is wrong, and leaves nothing behind on either database.
source "$(dirname "$0")/lib.sh"

pgc_start SRC
pgc_start TGT
pgc_psql SRC -c "CREATE TABLE accounts (id int PRIMARY KEY, balance numeric)"
cfg=$WORK/good.yaml
write_config "$cfg"

log "configuration errors (exit 2)"
expect_failure 2 "config file .*missing.yaml: cannot be read" -- "$SY" -c "$WORK/missing.yaml" init
printf 'source: {driver: postgres, conninfo: "x"\ntarget: [' >"$WORK/malformed.yaml"
expect_failure 2 "malformed.yaml:[0-9]+: malformed YAML" -- "$SY" -c "$WORK/malformed.yaml" init
write_config "$WORK/unknown.yaml" "tabels: { include: [\"public.*\"] }"
expect_failure 2 "unknown.yaml:3: tabels: unknown key" -- "$SY" -c "$WORK/unknown.yaml" init
write_config "$WORK/type.yaml" "snapshot: { workers: four }"
expect_failure 2 "snapshot.workers: expected an integer" -- "$SY" -c "$WORK/type.yaml" init
write_config "$WORK/unitless.yaml" "cutover: { freeze_budget: 500 }"
expect_failure 2 "cutover.freeze_budget: expected a duration with its unit" -- "$SY" -c "$WORK/unitless.yaml" init
expect_failure 2 "--freeze-budget: '2' is not a positive duration with its unit" -- "$SY" -c "$cfg" cutover --freeze-budget 2
write_config "$WORK/list.yaml" "tables: { include: public.accounts }"
expect_failure 2 "tables.include: expected a list" -- "$SY" -c "$WORK/list.yaml" init
printf 'target: { driver: postgres, conninfo: "x" }\n' >"$WORK/nosource.yaml"
expect_failure 2 "source: missing" -- "$SY" -c "$WORK/nosource.yaml" init
cat >"$WORK/conninfo.yaml" <<YAML
source: { driver: postgres, conninfo: "host=127.0.0.1 port" }
target: { driver: postgres, conninfo: "$(pgc_conninfo TGT)" }
YAML
expect_failure 2 "source.conninfo: invalid connection string" -- "$SY" -c "$WORK/conninfo.yaml" init
# A password typed where a keyword belongs: libpq's message quotes it; ours must not.
cat >"$WORK/conninfo-secret.yaml" <<YAML
source: { driver: postgres, conninfo: "host=127.0.0.1 user=app Tr0ub4dor-3" }
target: { driver: postgres, conninfo: "$(pgc_conninfo TGT)" }
YAML
expect_failure 2 "source.conninfo: invalid connection string" -- "$SY" -c "$WORK/conninfo-secret.yaml" init
grep -q "Tr0ub4dor" "$WORK/err" && fail "the error echoes the password: $(cat "$WORK/err")"
expect_failure 2 "confirm with --yes" -- "$SY" -c "$cfg" teardown
expect_failure 2 "subcommand" -- "$SY" -c "$cfg" frobnicate
# -c after the command too, and in its --help.
expect_failure 2 "missing-after.yaml: cannot be read" -- "$SY" status -c "$WORK/missing-after.yaml"
"$SY" verify --help | grep -- "-c,--config" >/dev/null || fail "verify --help does not show -c"
assert_nothing_created

log "unreachable host (exit 3)"
port=$(pgc_free_port)
cat >"$WORK/unreachable.yaml" <<YAML
source: { driver: postgres, conninfo: "host=127.0.0.1 port=$port dbname=app user=postgres connect_timeout=3" }
target: { driver: postgres, conninfo: "$(pgc_conninfo TGT)" }
YAML
expect_failure 3 "^switchyard: error: source \(host=127.0.0.1 port=$port" -- "$SY" -c "$WORK/unreachable.yaml" init
assert_nothing_created

log "wrong password (exit 4), and the password is not printed"
pgc_psql SRC -c "CREATE ROLE secured LOGIN SUPERUSER PASSWORD 'right-horse-battery'"
cat >"$WORK/password.yaml" <<YAML
source: { driver: postgres, conninfo: "postgresql://secured:wrong-staple@127.0.0.1:$SRC_PORT/app" }
target: { driver: postgres, conninfo: "$(pgc_conninfo TGT)" }
YAML
expect_failure 4 "source .*password authentication failed for user \"secured\"" -- "$SY" -c "$WORK/password.yaml" init
grep -q "wrong-staple" "$WORK/err" && fail "the password leaked into the error output"
assert_nothing_created

log "table with neither primary key nor replica identity (exit 5)"
pgc_psql SRC -c "CREATE TABLE audit_log (at timestamptz, line text)"
expect_failure 5 "table public.audit_log has no primary key and no replica identity" -- "$SY" -c "$cfg" init
assert_nothing_created
pgc_psql SRC -c "DROP TABLE audit_log"

log "include pattern matching nothing (exit 5)"
write_config "$WORK/none.yaml" "tables: { include: [\"nosuch.*\"] }"
expect_failure 5 "tables.include \(nosuch.\*\) matches no table" -- "$SY" -c "$WORK/none.yaml" init
assert_nothing_created

log "role without the REPLICATION attribute (exit 5)"
pgc_psql SRC -c "CREATE ROLE plain LOGIN; GRANT CREATE ON DATABASE app TO plain; ALTER TABLE accounts OWNER TO plain"
cat >"$WORK/norepl.yaml" <<YAML
source: { driver: postgres, conninfo: "host=127.0.0.1 port=$SRC_PORT dbname=app user=plain" }
target: { driver: postgres, conninfo: "$(pgc_conninfo TGT)" }
YAML
expect_failure 5 "source: role plain may not create a replication slot" -- "$SY" -c "$WORK/norepl.yaml" init
assert_nothing_created

log "target role that may not set session_replication_role (exit 5, at init, not at replicate)"
pgc_psql TGT -c "CREATE ROLE applier LOGIN; GRANT CREATE ON DATABASE app TO applier; GRANT EXECUTE ON FUNCTION pg_replication_origin_create(text) TO applier"
cat >"$WORK/nosrr.yaml" <<YAML
source: { driver: postgres, conninfo: "$(pgc_conninfo SRC)" }
target: { driver: postgres, conninfo: "host=127.0.0.1 port=$TGT_PORT dbname=app user=applier" }
YAML
expect_failure 5 "init: 3 requirements are missing" -- "$SY" -c "$WORK/nosrr.yaml" init
# Each one named with its fix, not one at a time.
grep -q "target: role applier may not set session_replication_role.*GRANT SET ON PARAMETER session_replication_role TO .applier." "$WORK/err" ||
  fail "the SET right is not named: $(cat "$WORK/err")"
grep -q "may not use 10 of the replication origin functions" "$WORK/err" || fail "the origin functions are not named"
grep -q 'GRANT CREATE ON SCHEMA "public" TO "applier"' "$WORK/err" || fail "CREATE on schema public is not named"
assert_nothing_created

log "source with wal_level = replica (exit 5)"
pgc_start OLD "wal_level = replica"
pgc_psql OLD -c "CREATE TABLE accounts (id int PRIMARY KEY)"
cat >"$WORK/walrep.yaml" <<YAML
source: { driver: postgres, conninfo: "$(pgc_conninfo OLD)" }
target: { driver: postgres, conninfo: "$(pgc_conninfo TGT)" }
YAML
expect_failure 5 "source: wal_level is 'replica'; set wal_level = logical" -- "$SY" -c "$WORK/walrep.yaml" init
assert_nothing_created

log "a target that is the source's own database under another spelling (exit 5, at check and init)"
# The copy used to wait on its own FREEZE lock, for ever, and the
# application's writes behind it.
cat >"$WORK/same.yaml" <<YAML
source: { driver: postgres, conninfo: "$(pgc_conninfo SRC)" }
target: { driver: postgres, conninfo: "hostaddr=127.0.0.1 port=$SRC_PORT dbname=app user=postgres connect_timeout=5" }
YAML
expect_failure 5 "target: target.conninfo reaches the source's own database app; point target.conninfo at the cloud replica" -- "$SY" -c "$WORK/same.yaml" init
assert_nothing_created
[ "$(pgc_psql SRC -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'switchyard'")" = 0 ] || fail "init left a control schema on the source"
rc=0; "$SY" -c "$WORK/same.yaml" check >"$WORK/check-same.out" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "check passed a target that is the source"
grep -q "MISSING.*reaches the source's own database app" "$WORK/check-same.out" || fail "check does not name it: $(cat "$WORK/check-same.out")"
"$SY" -c "$cfg" check >"$WORK/check-pair.out" 2>&1 || true
grep -q "ok .*a database other than the source's" "$WORK/check-pair.out" || fail "check of a real pair: $(cat "$WORK/check-pair.out")"

log "verify refuses to run without a stream or before the copy (exit 5), bad options (exit 2)"
expect_failure 5 "stream switchyard does not exist \(run init and snapshot\)" -- "$SY" -c "$cfg" verify --once
expect_failure 2 "--json needs --once, --dirty-only or --repair" -- "$SY" -c "$cfg" verify --json
expect_failure 2 "excludes" -- "$SY" -c "$cfg" verify --once --repair
assert_nothing_created

log "a good init still works afterwards, twice"
"$SY" -c "$cfg" init >"$WORK/init.out" 2>"$WORK/init.log" || { cat "$WORK/init.log"; fail "init failed"; }
# Every text-mode command ends with one summary line on stdout.
# (role plain, which owns accounts on the source, does not exist on the
# target: the cutover would need it)
grep -q "^init: 1 table (1 created on the target), publication and slot switchyard ready; 1 requirement of the cutover missing (switchyard check)$" "$WORK/init.out" ||
  fail "init summary: $(cat "$WORK/init.out")"
expect_failure 5 "has not finished its initial copy \(phase initialized\); run snapshot first" -- "$SY" -c "$cfg" verify --once
"$SY" -c "$cfg" init 2>>"$WORK/init.log" || { cat "$WORK/init.log"; fail "second init failed"; }
"$SY" -c "$cfg" teardown --yes >"$WORK/teardown.out" 2>>"$WORK/init.log"
grep -q "^teardown: stream switchyard removed from both databases" "$WORK/teardown.out" ||
  fail "teardown summary: $(cat "$WORK/teardown.out")"
pgc_psql TGT -c "DROP TABLE accounts"
assert_nothing_created

log "SIGINT during the initial copy: exit 130 with one line, and a re-run copies afresh"
pgc_psql SRC -c "INSERT INTO accounts SELECT g FROM generate_series(1, 3000000) g"
"$SY" -c "$cfg" init 2>>"$WORK/init.log"
"$SY" -c "$cfg" snapshot >"$WORK/out" 2>"$WORK/err" &
pid=$!
for _ in $(seq 1 200); do
  [ "$(pgc_psql TGT -c "SELECT count(*) FROM pg_stat_progress_copy")" -gt 0 ] && break
  sleep 0.05
done
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 130 ] || { cat "$WORK/err"; fail "SIGINT during the copy: expected exit 130, got $rc"; }
last=$(tail -n 1 "$WORK/err")
[[ "$last" == "switchyard: error: "*"the initial copy was stopped by a signal"* ]] || fail "no one-line error: $last"
log "ok: exit 130: ${last#switchyard: error: }"
"$SY" -c "$cfg" snapshot >"$WORK/snapshot.out" 2>>"$WORK/init.log" || { tail -5 "$WORK/init.log"; fail "snapshot after the interrupted one"; }
grep -Eq "^snapshot: 1 table, [0-9]+ rows, .* copied in .*; streaming starts at [0-9A-F]+/[0-9A-F]+$" "$WORK/snapshot.out" ||
  fail "snapshot summary: $(cat "$WORK/snapshot.out")"
[ "$(pgc_psql TGT -c "SELECT count(*) FROM accounts")" = "$(pgc_psql SRC -c "SELECT count(*) FROM accounts")" ] ||
  fail "the re-run copy differs"
"$SY" -c "$cfg" teardown --yes 2>>"$WORK/init.log"
echo "bad_input: all cases passed"
