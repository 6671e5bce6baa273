# The other two router kinds, and verify after a cutover:
#  - kind: command — freeze, switch, check and resume are shell commands
#    (here they drive pgbouncer's admin console with psql, as a
#    load-balancer script would drive its own API); switch and check see
#    SWITCHYARD_PRIMARY; a switch that does not take is caught by
#    router.check and rolled back;
#  - kind: none — applications connect to the primary directly: the fence
#    ends their sessions on the old primary and new ones there are
#    read-only, while the reverse stream still applies;
#  - verify --once after the cutover compares in the stream's new direction.
source "$(dirname "$0")/lib.sh"
source "$ROOT/scripts/lib/pgbouncer.sh"
trap 'pgb_stop_all; it_cleanup' EXIT

setup_cutover_pair 1
ADMIN="$PG_BIN/psql -h 127.0.0.1 -p $BNC_PORT -U pgbouncer -d pgbouncer -qAtX"
cat >"$WORK/switch.sh" <<SH
#!/bin/sh
# A router script: point pgbouncer's app entry at \$SWITCHYARD_PRIMARY.
set -e
case "\$SWITCHYARD_PRIMARY" in
  source) port=$SRC_PORT ;;
  target) port=$TGT_PORT ;;
  *) echo "unknown primary '\$SWITCHYARD_PRIMARY'"; exit 2 ;;
esac
echo "app = host=127.0.0.1 port=\$port dbname=app" > "$BNC_DATABASES.new"
mv "$BNC_DATABASES.new" "$BNC_DATABASES"
echo "\$SWITCHYARD_PRIMARY" >> "$WORK/switched"
$ADMIN -c RELOAD
SH
chmod +x "$WORK/switch.sh"
cat >"$WORK/check.sh" <<SH
#!/bin/sh
# A read-only router check: does pgbouncer send app to \$SWITCHYARD_PRIMARY?
case "\$SWITCHYARD_PRIMARY" in
  source) want=$SRC_PORT ;;
  target) want=$TGT_PORT ;;
  *) echo "unknown primary '\$SWITCHYARD_PRIMARY'"; exit 2 ;;
esac
echo "\$SWITCHYARD_PRIMARY" >> "$WORK/checked"
got=\$($ADMIN -c "SHOW DATABASES" | awk -F'|' '\$1 == "app" { print \$3 }')
[ "\$got" = "\$want" ] || { echo "pgbouncer sends app to port \$got"; exit 1; }
SH
chmod +x "$WORK/check.sh"
write_config "$WORK/command.yaml" "router:" "  kind: command" \
  "  freeze: \"$ADMIN -c 'PAUSE app'\"" \
  "  switch: \"$WORK/switch.sh\"" \
  "  check: \"$WORK/check.sh\"" \
  "  resume: \"$ADMIN -c 'RESUME app' || true\"" \
  "  command_timeout: 3s"
write_config "$WORK/none.yaml" "router: { kind: none }"


log "kind: command, under the probe through pgbouncer"
start_probe "$APP" "$WORK/acks"
sleep 1
"$SY" -c "$WORK/command.yaml" cutover >"$WORK/cutover.log" 2>&1 || { cat "$WORK/cutover.log"; fail "cutover (command)"; }
# No session to end: the drain's marker goes in the fence's own round trip.
grep -q "source fenced, 0 sessions ended.*; the drain's marker written with it" "$WORK/cutover.log" ||
  fail "the drain's marker did not go with the fence: $(grep -o 'source fenced.*' "$WORK/cutover.log")"
[ "$(tail -n 1 "$WORK/switched")" = target ] || fail "switch command did not get SWITCHYARD_PRIMARY=target"
grep -q "port=$TGT_PORT" "$BNC_DATABASES" || fail "router not switched"
# Preflight for the source, then the proof for the target.
[ "$(tr '\n' ' ' <"$WORK/checked")" = "source target " ] ||
  fail "router.check ran for: $(tr '\n' ' ' <"$WORK/checked")"
sleep 1
# replicate killed and restarted after the cutover resumes the reverse
# stream where its origin on the source says.
kill -9 "$REPLICATE_PID"
sleep 1
start_replicate "$WORK/cfg.yaml" "$WORK/replicate.log"
# A sanitizer build takes seconds to start: wait for it, up to a minute.
for _ in $(seq 1 600); do
  [ "$(grep -c "streaming reverse (target -> source)" "$WORK/replicate.log")" = 2 ] && break
  sleep 0.1
done
[ "$(grep -c "streaming reverse (target -> source)" "$WORK/replicate.log")" = 2 ] ||
  fail "the restarted replicate did not resume the reverse stream"
"$SY" -c "$WORK/command.yaml" verify --once >>"$WORK/verify.log" 2>&1 || fail "verify after cutover"
grep -q "target is the primary since a cutover: comparing it with source" "$WORK/verify.log" || fail "verify did not follow the direction"
log "ok: verify --once after the cutover compares target -> source and is clean"
"$SY" -c "$WORK/command.yaml" failback >"$WORK/failback.log" 2>&1 || { cat "$WORK/failback.log"; fail "failback (command)"; }
[ "$(tail -n 1 "$WORK/switched")" = source ] || fail "switch command did not get SWITCHYARD_PRIMARY=source"
sleep 1
stop_probe
errors=$(grep -o '"errors":[0-9]*' "$WORK/acks.json" | cut -d: -f2)
[ "$errors" = 0 ] || { cat "$WORK/acks.err"; fail "probe saw $errors errors"; }
wait_parity 30 $(source_tables)
[ "$(missing_acks "$WORK/acks" SRC)" = 0 ] || fail "acknowledged probe inserts lost"
log "ok: kind command: cutover and failback, 0 probe errors, 0 lost"

log "kind: command, a failing freeze command is refused inside the freeze and rolled back"
write_config "$WORK/badcmd.yaml" "router:" "  kind: command" \
  "  freeze: \"echo 'load balancer says no' >&2; exit 4\"" \
  "  switch: \"$WORK/switch.sh\"" "  resume: \"true\""
rc=0; "$SY" -c "$WORK/badcmd.yaml" cutover >"$WORK/badcmd.log" 2>&1 || rc=$?
[ "$rc" = 9 ] || { cat "$WORK/badcmd.log"; fail "expected exit 9, got $rc"; }
grep -q "router.freeze exited with status 4: load balancer says no" "$WORK/badcmd.log" ||
  { cat "$WORK/badcmd.log"; fail "no reason in the rollback"; }
[ "$(fenced SRC)" = off ] || fail "source left fenced after the rollback"
log "ok: rolled back: $(grep -o 'router.freeze exited.*says no' "$WORK/badcmd.log" | head -1)"

log "kind: command, a switch that does not take is caught by router.check and rolled back"
write_config "$WORK/notaken.yaml" "router:" "  kind: command" \
  "  freeze: \"$ADMIN -c 'PAUSE app'\"" \
  "  switch: \"true\"" \
  "  check: \"$WORK/check.sh\"" \
  "  resume: \"$ADMIN -c 'RESUME app' || true\""
rc=0; "$SY" -c "$WORK/notaken.yaml" cutover >"$WORK/notaken.log" 2>&1 || rc=$?
[ "$rc" = 9 ] || { cat "$WORK/notaken.log"; fail "expected exit 9, got $rc"; }
grep -q "router.check exited with status 1: pgbouncer sends app to port $SRC_PORT" "$WORK/notaken.log" ||
  { cat "$WORK/notaken.log"; fail "no reason in the rollback"; }
[ "$(fenced SRC)" = off ] || fail "source left fenced after the rollback"
[ "$(pgb_admin BNC -c "SHOW DATABASES" | awk -F'|' '$1 == "app" { print $12 }')" = 0 ] ||
  fail "pgbouncer left paused"
"$SY" -c "$WORK/cfg.yaml" status | grep "^direction    forward" >/dev/null || fail "direction changed"
log "ok: rolled back: $(grep -o 'router.check exited.*' "$WORK/notaken.log" | head -1 | cut -c1-120)"

log "kind: none: a direct session on the old primary is ended, new ones are read-only"
pgc_psql SRC -c "SELECT pg_sleep(30)" >"$WORK/direct.out" 2>&1 &
DIRECT_PID=$!
sleep 0.5
"$SY" -c "$WORK/none.yaml" cutover >"$WORK/none.log" 2>&1 || { cat "$WORK/none.log"; fail "cutover (none)"; }
wait "$DIRECT_PID" && fail "the direct session on the old primary survived the fence"
grep -q "terminating connection" "$WORK/direct.out" || fail "unexpected: $(cat "$WORK/direct.out")"
grep -Eq "source fenced, [1-9][0-9]* sessions ended" "$WORK/none.log" || { cat "$WORK/none.log"; fail "fence count"; }
# An ended session may commit until it exits: the drain's marker must come after.
grep -q "drain's marker written with it" "$WORK/none.log" && fail "the drain's marker was written beside a session still exiting"
out=$(pgc_psql SRC -c "INSERT INTO probe (sent_at, note) VALUES (now(), 'direct')" 2>&1 || true)
[[ "$out" == *"read-only transaction"* ]] || fail "old primary accepted a direct write: $out"
pgc_psql TGT -c "INSERT INTO probe (sent_at, note) VALUES (now(), 'on the new primary')" >/dev/null
for _ in $(seq 1 50); do
  [ "$(pgc_psql SRC -c "SELECT count(*) FROM probe WHERE note = 'on the new primary'")" = 1 ] && break
  sleep 0.2
done
[ "$(pgc_psql SRC -c "SELECT count(*) FROM probe WHERE note = 'on the new primary'")" = 1 ] ||
  fail "the reverse stream did not bring the new primary's write to the source"
"$SY" -c "$WORK/none.yaml" failback >>"$WORK/none.log" 2>&1 || { cat "$WORK/none.log"; fail "failback (none)"; }
pgc_psql SRC -c "INSERT INTO probe (sent_at, note) VALUES (now(), 'source again')" >/dev/null
log "ok: kind none: fenced, read-only, reverse stream applied, failback restored writes on the source"
log "PASS"
