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
#  - a row the stream changed, damaged on the target after the preflight
#    (while the process is held there), is found by the parity gate with
#    writes frozen: the cutover rolls back the same way (exit 9);
#  - while a cutover runs, another cutover or failback is refused (exit 5);
#  - with pgbouncer.ini as it should be, cutover and failback are proven
#    and complete.
source "$(dirname "$0")/lib.sh"
source "$ROOT/scripts/lib/pgbouncer.sh"
trap 'pgb_stop_all; it_cleanup' EXIT

# A table the application leaves alone, for the row damaged in the freeze.
SETUP_SOURCE_SQL="CREATE TABLE ledger (id int PRIMARY KEY, note text);
  INSERT INTO ledger SELECT g, 'opening' FROM generate_series(1, 100) g"
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
  "$SY" -c "$WORK/cfg.yaml" status | grep "^direction    forward" >/dev/null || fail "direction changed"
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

# switch_time_failure NAME ACTION REASON: a cutover held after its
# preflight while ACTION (a command) changes the world under it; it must roll
# back inside the freeze, REASON (a pattern) named in its log and journal.
switch_time_failure() {
  local name=$1 action=$2 reason=$3 pid rc=0 state=""
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
  $action
  kill -CONT "$pid"
  wait "$pid" || rc=$?
  [ "$rc" = 9 ] || { cat "$WORK/$name.log"; fail "$name: expected exit 9 (rolled back), got $rc"; }
  grep -q "rolled back.*$reason" "$WORK/$name.log" ||
    { cat "$WORK/$name.log"; fail "$name: no reason in the rollback"; }
  local journal
  journal=$(pgc_psql TGT -c "SELECT r.state || ' / ' || j.step || ' ' || j.state || ': ' || j.detail
    FROM switchyard.switch_runs r JOIN switchyard.switch_journal j USING (run_id)
    WHERE j.state = 'failed' ORDER BY run_id DESC LIMIT 1")
  [[ "$journal" =~ ^"rolled_back / "[a-z\ ]+" failed: "$reason ]] ||
    fail "$name: journal says: $journal"
  assert_still_source
  restore_ini
  log "ok: $name: exit 9; journal: ${journal:0:160}"
}

# Changes the ini as an operator would, after the preflight read it.
ini_moved() { edit_ini "s|^%include .*|%include $BNC_DIR/moved/databases.ini|"; }
ini_copy() { edit_ini "s|^%include .*|%include $BNC_DIR/copy.ini|"; }
ROUTER_REASON="pgbouncer did not take the switch"

# A row the stream changes (so it is marked for the gate), then damaged on
# the target once applied: a difference only a read with writes frozen sees.
damage_marked_row() {
  pgc_psql SRC -c "UPDATE ledger SET note = 'changed' WHERE id = 7"
  local _
  for _ in $(seq 1 100); do
    [ "$(pgc_psql TGT -c "SELECT note FROM ledger WHERE id = 7")" = changed ] && break
    sleep 0.1
  done
  [ "$(pgc_psql TGT -c "SELECT note FROM ledger WHERE id = 7")" = changed ] ||
    fail "the stream did not apply the ledger update"
  pgc_psql TGT -c "UPDATE ledger SET note = 'damaged' WHERE id = 7"
}

log "switch time: pgbouncer.ini now %includes a file that is not there (its RELOAD fails)"
switch_time_failure moved ini_moved "$ROUTER_REASON"
log "switch time: pgbouncer.ini now %includes a copy of the databases file"
cp "$BNC_DATABASES" "$BNC_DIR/copy.ini"
switch_time_failure copy ini_copy "$ROUTER_REASON"
log "gate: a marked row damaged on the target after the preflight"
switch_time_failure damaged damage_marked_row "parity gate: public.ledger differs with writes frozen"
# Put right by hand; the gate recorded the mismatch, which a clean pass
# resolves before the next cutover's preflight would refuse for it.
pgc_psql TGT -c "UPDATE ledger SET note = 'changed' WHERE id = 7"
"$SY" -c "$WORK/cfg.yaml" verify --once --table public.ledger >"$WORK/verify-repaired.log" 2>&1 ||
  { cat "$WORK/verify-repaired.log"; fail "verify after the repair by hand"; }

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
