# kill -9 at every step boundary of cutover and of failback, under load
# through pgbouncer; after each kill, `status` shows where the run stopped
# and running the same command again settles it (rolls the run back and
# cuts over afresh, or completes it past the point of no return). After
# every settlement: exactly one primary takes writes (router, fence and
# stream direction agree) and, at the end, no acknowledged write is lost.
#
# The kills come from SWITCHYARD_FAILPOINT (common/failpoint.h):
# "<operation>:after:<step>" right after a step is journaled done, and
# "<operation>:in:8" right after the point of no return is journaled.
source "$(dirname "$0")/lib.sh"
source "$ROOT/scripts/lib/pgbouncer.sh"
trap 'pgb_stop_all; it_cleanup' EXIT

setup_cutover_pair 2

"$PG_BIN/pgbench" -h 127.0.0.1 -p "$BNC_PORT" -U postgres -n -c 8 -j 2 -R 300 -T 900 app \
  >"$WORK/pgbench.log" 2>&1 &
BENCH_PID=$!; BACKGROUND+=("$BENCH_PID")
start_probe "$APP" "$WORK/acks"
sleep 2

# One primary: PRIMARY (SRC or TGT) is where the router points, unfenced,
# pgbouncer not paused, and the stream runs away from it.
assert_one_primary() {
  local primary=$1 replica=$2 direction=$3
  local port_var="${primary}_PORT"
  grep -q "port=${!port_var} " "$BNC_DATABASES" || fail "router does not point at $primary: $(cat "$BNC_DATABASES")"
  [ "$(fenced "$primary")" = off ] || fail "$primary (primary) is fenced"
  [ "$(fenced "$replica")" = on ] || [ "$direction" = forward ] || fail "$replica (replica) takes writes"
  [ "$(pgb_admin BNC -c "SHOW DATABASES" | awk -F'|' '$1 == "app" { print $12 }')" = 0 ] ||
    fail "pgbouncer left paused"
  "$SY" -c "$WORK/cfg.yaml" status | grep "^direction    $direction" >/dev/null || fail "direction is not $direction"
}

# crash_and_settle OPERATION POINT PRIMARY REPLICA DIRECTION
crash_and_settle() {
  local operation=$1 point=$2 rc=0
  SWITCHYARD_FAILPOINT="$operation:$point" "$SY" -c "$WORK/cfg.yaml" "$operation" \
    >"$WORK/$operation-$point.log" 2>&1 || rc=$?
  [ "$rc" = 137 ] || { cat "$WORK/$operation-$point.log"; fail "$operation $point: expected a kill (137), got $rc"; }
  "$SY" -c "$WORK/cfg.yaml" status >"$WORK/status.out"
  grep -q "last switch  $operation run [0-9]*: running" "$WORK/status.out" ||
    { cat "$WORK/status.out"; fail "status does not show the interrupted $operation"; }
  local stopped
  stopped=$(grep -E "^  [0-9] " "$WORK/status.out" | tail -n 1 | awk '{ print $1, $2, $3 }')
  rc=0
  "$SY" -c "$WORK/cfg.yaml" "$operation" >>"$WORK/$operation-$point.log" 2>&1 || rc=$?
  [ "$rc" = 0 ] || { cat "$WORK/$operation-$point.log"; fail "$operation $point: re-run exited $rc"; }
  local how
  how=$(grep -Eo "interrupted (before|after) the point of no return; (rolling it back|completing it)" \
    "$WORK/$operation-$point.log" | head -n 1)
  assert_one_primary "$3" "$4" "$5"
  log "ok: $operation killed at $point (status: stopped after step $stopped); re-run: ${how#interrupted }"
}

# Every point by default; the sanitizer build's run takes a few of them
# (tests/integration/CMakeLists.txt): each kill costs it half a minute.
read -ra POINTS <<<"${CRASH_POINTS:-1 2 3 4 5 6 7 in:8 8 9}"
for step in "${POINTS[@]}"; do
  point=$step; [[ $step == in:* ]] || point="after:$step"
  crash_and_settle cutover "$point" TGT SRC reverse
  crash_and_settle failback "$point" SRC TGT forward
done

sleep 3
stop_probe
kill -TERM "$BENCH_PID"; wait "$BENCH_PID" 2>/dev/null || true
errors=$(grep -o '"errors":[0-9]*' "$WORK/acks.json" | cut -d: -f2)
[ "$errors" = 0 ] || { cat "$WORK/acks.err"; fail "probe saw $errors errors"; }
grep -Eqi "error|abort" "$WORK/pgbench.log" && { tail "$WORK/pgbench.log"; fail "pgbench saw errors"; }
wait_parity 60 $(source_tables)
missing=$(missing_acks "$WORK/acks" SRC)
[ "$missing" = 0 ] || fail "$missing acknowledged probe inserts missing on the source"
"$SY" -c "$WORK/cfg.yaml" verify --once >>"$WORK/verify.log" 2>&1 || fail "verify at the end"
acked=$(grep -o '"acked":[0-9]*' "$WORK/acks.json" | cut -d: -f2)
log "ok: $(( ${#POINTS[@]} * 2 )) kills settled; $acked probe inserts acknowledged, 0 errors, 0 lost; parity"
log "PASS"
