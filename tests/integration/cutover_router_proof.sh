# A switch is proven from pgbouncer itself before clients resume:
#  - preflight refuses (exit 5, nothing changed) when pgbouncer.ini
#    %includes another file than router.databases_file, even one with the
#    same content, and when pgbouncer's RELOAD cannot load the file (here:
#    pgbouncer runs as another user and may not read it);
#  - when pgbouncer.ini changes after the preflight (the process is held
#    there by SWITCHYARD_FAILPOINT=cutover:after:1=stop) so that the
#    switch's RELOAD cannot read the databases file, or reads a copy, the
#    cutover rolls back inside the freeze (exit 9, the reason in its log and
#    journal): old file content back, old primary unfenced, clients resumed
#    there, 0 failed client transactions;
#  - while a cutover runs, another cutover or failback is refused (exit 5);
#  - with pgbouncer.ini as it should be, cutover and failback are proven
#    and complete.
source "$(dirname "$0")/lib.sh"
source "$ROOT/scripts/lib/pgbouncer.sh"
trap 'pgb_stop_all; it_cleanup' EXIT

setup_cutover_pair 1
INI="$BNC_DIR/pgbouncer.ini"
cp "$INI" "$WORK/pgbouncer.ini.orig"
FILE_BEFORE=$(cat "$BNC_DATABASES")

# Where pgbouncer itself sends the application: "port" of its app entry.
bouncer_port() {
  pgb_admin BNC -c "SHOW DATABASES" | awk -F'|' '$1 == "app" { print $3 }'
}

# edit_ini SED_EXPR: change pgbouncer.ini as an operator would (not reloaded).
edit_ini() {
  sed -i "$1" "$INI"
}

restore_ini() {
  cp "$WORK/pgbouncer.ini.orig" "$INI"
  pgb_admin BNC -c RELOAD
  [ "$(bouncer_port)" = "$SRC_PORT" ] || fail "pgbouncer does not point at the source after restoring its ini"
}

# The source is still the primary and nothing of a switch is left: stream
# forward, source writable, router file and pgbouncer at the source and
# not paused, no probe entry, no slot on the target.
assert_still_source() {
  local what
  "$SY" -c "$WORK/cfg.yaml" status | grep -q "^direction    forward" || fail "direction changed"
  [ "$(fenced SRC)" = off ] || fail "source left fenced"
  [ "$(cat "$BNC_DATABASES")" = "$FILE_BEFORE" ] || fail "databases file changed: $(cat "$BNC_DATABASES")"
  [ "$(bouncer_port)" = "$SRC_PORT" ] || fail "pgbouncer sends app to port $(bouncer_port)"
  what=$(pgb_admin BNC -c "SHOW DATABASES" | awk -F'|' '$1 == "app" { print $12 }')
  [ "$what" = 0 ] || fail "pgbouncer left app paused ($what)"
  what=$(pgb_admin BNC -c "SHOW DATABASES" | awk -F'|' '$1 ~ /^switchyard/ { print $1 }')
  [ -z "$what" ] || fail "probe entry left in pgbouncer: $what"
  what=$(pgc_psql TGT -c "SELECT count(*) FROM pg_replication_slots")
  [ "$what" = 0 ] || fail "a slot was left on the target"
}

log "preflight: pgbouncer.ini %includes a copy of router.databases_file"
cp "$BNC_DATABASES" "$BNC_DIR/copy.ini"
edit_ini "s|^%include .*|%include $BNC_DIR/copy.ini|"
pgb_admin BNC -c RELOAD
expect_failure 5 "router.databases_file .*$BNC_DATABASES.*RELOAD" -- "$SY" -c "$WORK/cfg.yaml" cutover
assert_still_source
# Refused before anything was prepared on either database.
[ "$(pgc_psql SRC -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'switchyard'")" = 0 ] ||
  fail "the refused cutover created the control schema on the source"
[ "$(pgc_psql TGT -c "SELECT count(*) FROM pg_publication")" = 0 ] ||
  fail "the refused cutover created a publication on the target"
restore_ini

log "preflight: pgbouncer's RELOAD cannot read router.databases_file"
# RELOAD answers OK and keeps the old configuration. (As root, pgbouncer
# runs as postgres; otherwise switchyard cannot read the file either.)
mode=$(stat -c %a "$BNC_DATABASES"); owner=$(stat -c %U:%G "$BNC_DATABASES")
chmod 000 "$BNC_DATABASES"
expect_failure 5 "router.databases_file.*$BNC_DATABASES" -- "$SY" -c "$WORK/cfg.yaml" cutover
[ "$(stat -c %a "$BNC_DATABASES")" = 0 ] || fail "the probe changed the file's mode"
chmod "$mode" "$BNC_DATABASES"; chown "$owner" "$BNC_DATABASES"
assert_still_source
restore_ini

log "load through pgbouncer: pgbench -c 4 -R 200, probe every 5 ms"
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$BNC_PORT" -U postgres -n -c 4 -j 2 -R 200 -T 600 app \
  >"$WORK/pgbench.log" 2>&1 &
BENCH_PID=$!; BACKGROUND+=("$BENCH_PID")
start_probe "$APP" "$WORK/acks"
sleep 2

# switch_time_failure NAME SED_EXPR: a cutover held after its preflight
# while pgbouncer.ini is edited with SED_EXPR; it must roll back.
switch_time_failure() {
  local name=$1 edit=$2 pid rc=0 state=""
  SWITCHYARD_FAILPOINT="cutover:after:1=stop" "$SY" -c "$WORK/cfg.yaml" cutover \
    >"$WORK/$name.log" 2>&1 &
  pid=$!; BACKGROUND+=("$pid")
  for _ in $(seq 1 600); do
    state=$(ps -o stat= -p "$pid" 2>/dev/null || true)
    [[ "$state" == T* ]] && break
    [ -z "$state" ] && break
    sleep 0.1
  done
  [[ "$state" == T* ]] || { cat "$WORK/$name.log"; fail "$name: the cutover did not stop after its preflight"; }
  # One switch at a time: a second one (which would take the first for
  # interrupted and settle it under its feet) is refused.
  expect_failure 5 "a cutover or failback of stream .* is already running" -- \
    "$SY" -c "$WORK/cfg.yaml" failback
  edit_ini "$edit"
  kill -CONT "$pid"
  wait "$pid" || rc=$?
  [ "$rc" = 9 ] || { cat "$WORK/$name.log"; fail "$name: expected exit 9 (rolled back), got $rc"; }
  grep -q "rolled back.*pgbouncer did not take the switch" "$WORK/$name.log" ||
    { cat "$WORK/$name.log"; fail "$name: no reason in the rollback"; }
  local journal
  journal=$(pgc_psql TGT -c "SELECT r.state || ' / ' || j.step || ' ' || j.state || ': ' || j.detail
    FROM switchyard.switch_runs r JOIN switchyard.switch_journal j USING (run_id)
    WHERE j.state = 'failed' ORDER BY run_id DESC LIMIT 1")
  [[ "$journal" == "rolled_back / router failed: pgbouncer did not take the switch"* ]] ||
    fail "$name: journal says: $journal"
  assert_still_source
  restore_ini
  log "ok: $name: exit 9; journal: ${journal:0:160}"
}

log "switch time: pgbouncer.ini now %includes a file that is not there (its RELOAD fails)"
switch_time_failure moved "s|^%include .*|%include $BNC_DIR/moved/databases.ini|"
log "switch time: pgbouncer.ini now %includes a copy of the databases file"
cp "$BNC_DATABASES" "$BNC_DIR/copy.ini"
switch_time_failure copy "s|^%include .*|%include $BNC_DIR/copy.ini|"

log "cutover and failback with pgbouncer.ini as it should be: proven"
"$SY" -c "$WORK/cfg.yaml" cutover >"$WORK/cutover.log" 2>&1 || { cat "$WORK/cutover.log"; fail "cutover"; }
[ "$(bouncer_port)" = "$TGT_PORT" ] || fail "pgbouncer does not send app to the target"
grep -q "7 router: .*SHOW DATABASES" "$WORK/cutover.log" || { cat "$WORK/cutover.log"; fail "no proof in the log"; }
sleep 2
"$SY" -c "$WORK/cfg.yaml" failback >"$WORK/failback.log" 2>&1 || { cat "$WORK/failback.log"; fail "failback"; }
[ "$(bouncer_port)" = "$SRC_PORT" ] || fail "pgbouncer does not send app back to the source"
sleep 2

stop_probe
kill -TERM "$BENCH_PID"; wait "$BENCH_PID" 2>/dev/null || true
errors=$(grep -o '"errors":[0-9]*' "$WORK/acks.json" | cut -d: -f2)
[ "$errors" = 0 ] || { cat "$WORK/acks.err"; fail "probe saw $errors errors"; }
grep -Eqi "error|abort" "$WORK/pgbench.log" && { tail "$WORK/pgbench.log"; fail "pgbench saw errors"; }
wait_parity 60 $(source_tables)
[ "$(missing_acks "$WORK/acks" SRC)" = 0 ] || fail "acknowledged probe inserts lost"
acked=$(grep -o '"acked":[0-9]*' "$WORK/acks.json" | cut -d: -f2)
log "ok: two rollbacks, a cutover and a failback under load: $acked probe inserts, 0 errors, 0 lost; no pgbench errors"
log "PASS"
