#!/usr/bin/env bash
# Cutover stall benchmark: how long do application writes stall, and does
# anything fail or get lost, while the primary behind pgbouncer changes?
#
#   bench/cutover_stall.sh [path/to/switchyard]
#
# For every contender, on a fresh pair of clusters (SRC = the legacy primary,
# TGT = the replica) behind one pgbouncer (transaction pooling, database
# "app" -> SRC):
#   1. pgbench -i -s $SCALE on SRC, pgbench_history REPLICA IDENTITY FULL,
#      the probe table (switchyard-write-probe --create);
#   2. the contender replicates SRC -> TGT until it is in sync;
#   3. per operation, a fresh load through pgbouncer: pgbench -n -c 8 -j 2
#      -R 300 -T $LOAD_SECONDS and the write probe (one INSERT every 5 ms,
#      every acknowledged id logged); after $OP_DELAY s the operation runs;
#      $AFTER s after it ended the probe is stopped and pgbench runs out;
#   4. measured: the longest gap between two successive acknowledged probe
#      inserts in [operation start - 1 s, end + 1 s]; client errors (pgbench
#      failed transactions and aborted clients, probe errors); acknowledged
#      probe ids missing on the database that is primary afterwards.
# Contenders: peer (a hand-scripted recipe with psql: native logical
# replication, PAUSE, wait for the slot, setval, rewrite the databases file,
# RELOAD, RESUME; failback the same way in reverse on a subscription created
# during the cutover's freeze) and switchyard (`replicate`, then `cutover`
# and `failback`, their per-step timings from switchyard.switch_journal).
# A third, floor (not in the default set), measures no switch at all: the
# router's PAUSE and RESUME on the same primary, twice, under the same load,
# without a stream or verify running: the least a switch behind pgbouncer
# can stall writes on this machine.
#
# Environment: SCALE (10), CLIENTS (8), THREADS (2), RATE (300 tx/s),
# LOAD_SECONDS (20 per operation; 60 busy), OP_DELAY (4 s of load before the
# operation), AFTER (3 s of load after it), PROBE_INTERVAL_MS (5),
# CONTENDERS ("peer switchyard"), PEER_FAILBACK (yes; no = the peer only cuts
# over, with no reverse subscription in its freeze), PEER_SUB_OPTIONS (extra
# WITH options of the peer's subscriptions, e.g. "synchronous_commit = on",
# for experiments; empty = PostgreSQL's defaults), BOUNCER_CONF (extra
# pgbouncer.ini lines separated by ";", e.g. "server_login_retry = 0.1";
# empty = scripts/lib/pgbouncer.sh's settings), PROBE (the probe binary;
# default <switchyard's build dir>/../bench/switchyard-write-probe).
#
# PROFILE=busy adds, for both contenders, what a production database does
# to a cutover (issue 9): RATE defaults to 1000 tx/s of pgbench's standard
# script (hot pgbench_branches rows; pgbench_history, keyless, appended at
# every transaction), a loader inserting 100-row batches into a bigserial
# table at LOADER_ROWS rows/s (20000; duplicate keys after a switch mean a
# stale sequence), and for switchyard continuous `verify` running the whole
# time. Its errors and duplicate keys are counted in their own columns.
#
# pgbouncer 1.18 caveat: a PAUSE that closes a server connection still
# logging in marks the pool's last connect as failed, and pgbouncer then opens
# no server connection for server_login_retry (15 s): after RESUME every
# client waits ~15 s, whoever did the switch. Such a gap is flagged.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
# shellcheck source=../scripts/lib/pgbouncer.sh
source "$ROOT/scripts/lib/pgbouncer.sh"

PROFILE=${PROFILE:-quiet}
case $PROFILE in quiet | busy) ;; *) die "PROFILE must be quiet or busy, not $PROFILE" ;; esac
SCALE=${SCALE:-10}
CLIENTS=${CLIENTS:-8}
THREADS=${THREADS:-2}
if [ "$PROFILE" = busy ]; then RATE=${RATE:-1000}; else RATE=${RATE:-300}; fi
LOADER_ROWS=${LOADER_ROWS:-20000}
# A busy database's preflight compares more before the freeze: more load time.
if [ "$PROFILE" = busy ]; then LOAD_SECONDS=${LOAD_SECONDS:-60}; else LOAD_SECONDS=${LOAD_SECONDS:-20}; fi
OP_DELAY=${OP_DELAY:-4}
AFTER=${AFTER:-3}
PROBE_INTERVAL_MS=${PROBE_INTERVAL_MS:-5}
CONTENDERS=${CONTENDERS:-"peer switchyard"}
PEER_FAILBACK=${PEER_FAILBACK:-yes}
PEER_SUB_OPTIONS=${PEER_SUB_OPTIONS:-}
BOUNCER_CONF=${BOUNCER_CONF:-}
PROBE=${PROBE:-$(dirname "$SY")/../bench/switchyard-write-probe}
[ -x "$PROBE" ] || die "write probe not found at $PROBE (build the target switchyard-write-probe, or set PROBE)"
PROBE=$(cd "$(dirname "$PROBE")" && pwd)/$(basename "$PROBE")
CONF=("max_wal_size = 8GB" "checkpoint_timeout = 30min")
# Inside a freeze: the peer's catch-up poll. Outside: setup waits.
FREEZE_POLL=0.01
# The file name must not contain "switchyard.yaml": scripts/demo.sh finds and
# kills its processes by that pattern machine-wide.
SY_CFG=$WORK/cutover-bench.yaml

declare -A OP_EXIT OPSECS GAP GAP_END PGB_LAT PGB_TX PGB_ERR PROBE_ERR ACKED MISSING NOTE LOADER_ERR DUPS
RESULTS=()  # "contender operation" in the order run

# pgbouncers are not known to lib.sh's exit handler: stop them as well,
# keeping their logs (pgb_stop_all deletes their directories).
stop_bouncer() {  # stop_bouncer CONTENDER
  [ -z "${BNC_DIR:-}" ] || cp "$BNC_DIR/pgbouncer.log" "$WORK/$1-pgbouncer.log" 2>/dev/null || true
  pgb_stop_all || true
  unset BNC_DIR
}
cutover_cleanup() {
  local rc=$?
  stop_bouncer "${CONTENDER:-none}"
  (exit "$rc")
  bench_cleanup
}
trap cutover_cleanup EXIT

# Admin console of this contender's pgbouncer, bounded: a PAUSE waits for
# running transactions and would otherwise hang the benchmark.
bnc_admin() {
  timeout 10 "$PG_BIN/psql" -h 127.0.0.1 -p "$BNC_PORT" -U pgbouncer -d pgbouncer -qAtX -c "$1" >/dev/null
}
bnc_conninfo() { echo "host=127.0.0.1 port=$BNC_PORT dbname=app user=postgres"; }
# point_bouncer CLUSTER: the databases file's only entry, "app", -> CLUSTER.
# Written beside and renamed, so pgbouncer never reads half a file.
point_bouncer() {
  local port_var="${1}_PORT"
  echo "app = host=127.0.0.1 port=${!port_var} dbname=app" >"$BNC_DATABASES.new"
  mv "$BNC_DATABASES.new" "$BNC_DATABASES"
}
ms_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", (b - a) * 1000 }'; }

# ---- shared steps -------------------------------------------------------

# setup_pair CONTENDER: SRC with pgbench data and the probe table, an empty
# TGT, and pgbouncer BNC in front of SRC.
setup_pair() {
  pgc_start SRC "${CONF[@]}"
  pgc_start TGT "${CONF[@]}"
  local bouncer_conf=()
  [ -z "$BOUNCER_CONF" ] || IFS=';' read -ra bouncer_conf <<<"$BOUNCER_CONF"
  pgb_start BNC SRC "${bouncer_conf[@]}"
  log "$1: SRC: pgbench -i -s $SCALE; bouncer on port $BNC_PORT"
  pgbench -i -q -s "$SCALE" -h 127.0.0.1 -p "$SRC_PORT" -U postgres app >"$WORK/$1-pgbench-init.log" 2>&1 \
    || { cat "$WORK/$1-pgbench-init.log" >&2; die "pgbench -i failed"; }
  # switchyard refuses tables without an identity; native replication
  # needs one for pgbench_history only if it were updated. Same for both.
  pgc_psql SRC -c "ALTER TABLE pgbench_history REPLICA IDENTITY FULL"
  "$PROBE" --conninfo "$(pgc_conninfo SRC)" --table probe --create || die "cannot create the probe table"
  if [ "$PROFILE" = busy ]; then
    pgc_psql SRC -c "CREATE TABLE events (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), payload text)"
    echo "INSERT INTO events (payload) SELECT md5(random()::text) FROM generate_series(1, 100);" >"$WORK/loader.sql"
  fi
}

# operation CONTENDER OP OLD NEW -- command...: runs the command under a fresh
# load through the bouncer and measures it. OLD is the primary before, NEW
# the one after a successful command; the probe table of whichever is the
# primary afterwards is checked for lost writes. The command runs as a plain
# statement, so that `set -e` still holds inside it (it would not in
# `cmd || rc=$?`); a command whose failure is a result, not the end of the
# benchmark, leaves its exit code in OP_RC and returns 0.
operation() {
  local name=$1 op=$2 old=$3 new=$4; shift 5
  local tag="$name-$op" t0 t1 pgb_pid probe_pid primary
  RESULTS+=("$name $op")
  log "$tag: load: pgbench -n -c $CLIENTS -j $THREADS -R $RATE -T $LOAD_SECONDS + probe every ${PROBE_INTERVAL_MS} ms, through pgbouncer"
  pgbench -n -c "$CLIENTS" -j "$THREADS" -R "$RATE" -T "$LOAD_SECONDS" -l --log-prefix="$WORK/$tag-txlog" \
    -h 127.0.0.1 -p "$BNC_PORT" -U postgres app >"$WORK/$tag-pgbench.log" 2>&1 &
  pgb_pid=$!
  BACKGROUND+=("$pgb_pid")
  local loader_pid=""
  if [ "$PROFILE" = busy ]; then
    pgbench -n -c 2 -j 1 -R $(( LOADER_ROWS / 100 )) -T "$LOAD_SECONDS" -f "$WORK/loader.sql" \
      -h 127.0.0.1 -p "$BNC_PORT" -U postgres app >"$WORK/$tag-loader.log" 2>&1 &
    loader_pid=$!
    BACKGROUND+=("$loader_pid")
  fi
  "$PROBE" --conninfo "$(bnc_conninfo)" --table probe --interval-ms "$PROBE_INTERVAL_MS" \
    --out "$WORK/$tag-acks.txt" >"$WORK/$tag-probe.json" 2>"$WORK/$tag-probe.err" &
  probe_pid=$!
  BACKGROUND+=("$probe_pid")
  sleep "$OP_DELAY"
  kill -0 "$probe_pid" 2>/dev/null || die "$tag: the write probe exited early: $(cat "$WORK/$tag-probe.err")"

  log "$tag: $op"
  OP_RC=0
  t0=$(now)
  "$@"
  t1=$(now)
  OPSECS[$tag]=$(elapsed "$t0" "$t1")
  primary=$new
  if [ "$OP_RC" != 0 ]; then
    primary=$old
    NOTE[$tag]="${NOTE[$tag]:-} $op exited $OP_RC (missing checked on $old)"
  fi
  OP_EXIT[$tag]=$OP_RC
  log "$tag: $op took ${OPSECS[$tag]} s (exit $OP_RC)"

  sleep "$AFTER"
  kill -TERM "$probe_pid"
  wait_pid_exit "$probe_pid" 10 || NOTE[$tag]="${NOTE[$tag]:-} probe exited non-zero"
  local stop pgb_rc=0
  stop=$(now)
  if awk -v s="${OPSECS[$tag]}" -v d="$OP_DELAY" -v l="$LOAD_SECONDS" 'BEGIN { exit !(d + s + 1 > l) }'; then
    NOTE[$tag]="${NOTE[$tag]:-} pgbench ended before $op + 1 s (raise LOAD_SECONDS)"
  fi
  wait_pid_exit "$pgb_pid" $(( LOAD_SECONDS + 60 )) || pgb_rc=$?
  [ "$pgb_rc" = 0 ] || NOTE[$tag]="${NOTE[$tag]:-} pgbench exited $pgb_rc"
  if [ -n "$loader_pid" ]; then
    wait_pid_exit "$loader_pid" $(( LOAD_SECONDS + 60 )) || true
    local loader_failed loader_aborted
    loader_failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$WORK/$tag-loader.log")
    loader_aborted=$(grep -c "aborted in command" "$WORK/$tag-loader.log" || true)
    LOADER_ERR[$tag]=$(( ${loader_failed:-0} + loader_aborted ))
    DUPS[$tag]=$(cat "$WORK/$tag-pgbench.log" "$WORK/$tag-loader.log" "$WORK/$tag-probe.err" | grep -c "duplicate key" || true)
    local loader_tx
    loader_tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/$tag-loader.log")
    NOTE[$tag]="${NOTE[$tag]:-} loader $(( ${loader_tx:-0} * 100 / LOAD_SECONDS )) rows/s"
  fi
  measure "$tag" "$t0" "$t1" "$stop" "$primary"
}

# measure TAG T0 T1 PROBE_STOP PRIMARY
measure() {
  local tag=$1 t0=$2 t1=$3 stop=$4 primary=$5 acks=$WORK/$1-acks.txt
  # Longest gap between successive acks that overlaps [t0 - 1 s, t1 + 1 s]
  # (in microseconds, exact). If the probe never got an ack after the
  # window, the gap runs to the probe's stop and is marked "open".
  local gap
  gap=$(awk -v w0="$t0" -v w1="$t1" -v stop="$stop" '
    BEGIN { w0 = (w0 - 1) * 1e6; w1 = (w1 + 1) * 1e6; stop *= 1e6; max = -1; t0 = w0 + 1e6 }
    NR > 1 && $2 >= w0 && prev <= w1 && $2 - prev > max { max = $2 - prev; at = ($2 - t0) / 1e6 }
    { prev = $2 }
    END {
      if (NR == 0) { print "n/a -"; exit }
      if (prev < w1 && stop - prev > max) { max = stop - prev; at = "open" } else at = sprintf("%+.3f", at)
      printf "%.1f %s\n", max / 1000, at
    }' "$acks")
  GAP[$tag]=${gap% *}
  GAP_END[$tag]=${gap#* }
  if awk -v g="${GAP[$tag]}" 'BEGIN { exit !(g + 0 > 10000) }'; then
    NOTE[$tag]="${NOTE[$tag]:-} stall > 10 s: server_login_retry? (see the header)"
  fi
  # pgbench: the longest latency (from the scheduled start, -R) of any
  # transaction overlapping the window, from its per-transaction logs
  # (client tx time_us script epoch us lag); failed and aborted ones count
  # as errors.
  PGB_LAT[$tag]=$(cat "$WORK/$tag-txlog".* 2>/dev/null | awk -v w0="$t0" -v w1="$t1" '
    $3 ~ /^[0-9]+$/ { end = $5 + $6 / 1e6; if (end >= w0 - 1 && end - $3 / 1e6 <= w1 + 1 && $3 > max) max = $3 }
    END { printf "%.1f", max / 1000 }')
  PGB_TX[$tag]=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/$tag-pgbench.log")
  local failed aborted
  failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$WORK/$tag-pgbench.log")
  aborted=$(grep -c "aborted in command" "$WORK/$tag-pgbench.log" || true)
  PGB_ERR[$tag]=$(( ${failed:-0} + aborted ))
  [ "$aborted" = 0 ] || NOTE[$tag]="${NOTE[$tag]:-} $aborted pgbench clients aborted"
  ACKED[$tag]=$(sed -n 's/.*"acked":\([0-9]*\).*/\1/p' "$WORK/$tag-probe.json")
  PROBE_ERR[$tag]=$(sed -n 's/.*"errors":\([0-9]*\).*/\1/p' "$WORK/$tag-probe.json")
  [ -n "${ACKED[$tag]}" ] || die "$tag: no summary from the probe: $(cat "$WORK/$tag-probe.err")"
  # Lost writes: acknowledged ids that the new primary does not have. The
  # load has stopped; give a stream a moment to apply its last commits.
  sleep 1
  MISSING[$tag]=$(pgc_psql "$primary" -c "CREATE TEMP TABLE acked (id bigint, at bigint)" \
    -c "\\copy acked FROM '$acks' WITH (DELIMITER ' ')" \
    -c "SELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT FROM probe p WHERE p.id = a.id)")
  log "$tag: max gap ${GAP[$tag]} ms (ends at ${GAP_END[$tag]} s from the start), pgbench max latency" \
      "${PGB_LAT[$tag]} ms, errors: pgbench ${PGB_ERR[$tag]}, probe ${PROBE_ERR[$tag]};" \
      "${ACKED[$tag]} probe inserts acknowledged, ${MISSING[$tag]} missing on $primary"
  if [ -s "$WORK/$tag-probe.err" ]; then sed 's/^/    probe: /' "$WORK/$tag-probe.err" | head -5 >&2; fi
  grep -iE "error|abort" "$WORK/$tag-pgbench.log" | head -5 | sed 's/^/    pgbench: /' >&2 || true
}

# ---- peer: native logical replication + a psql recipe -------------------

declare -A PHASES  # "peer-OP" -> "phase=ms phase=ms ..."

# peer_switch OP FROM TO SLOT [reverse]: the freeze, phase by phase. SLOT is
# the slot on FROM whose confirmed_flush_lsn must reach FROM's WAL position.
peer_switch() {
  local op=$1 from=$2 to=$3 slot=$4 reverse=${5:-} tag="peer-$1" t lsn phases=""
  poll_open "$from"
  t=$(now)
  bnc_admin "PAUSE app" || die "$tag: PAUSE failed or hung"
  phases+="pause=$(ms_since "$t") "

  # Every transaction that went through the bouncer has ended: FROM's
  # current WAL position is past all of their commits.
  t=$(now)
  lsn=$(pgc_psql "$from" -c "SELECT pg_current_wal_lsn()")
  local deadline caught
  deadline=$(awk -v t="$t" 'BEGIN { printf "%.3f", t + 30 }')
  while :; do
    caught=$(poll_query "SELECT coalesce(confirmed_flush_lsn >= '$lsn', false) FROM pg_replication_slots WHERE slot_name = '$slot'")
    [ "$caught" != t ] || break
    awk -v a="$(now)" -v d="$deadline" 'BEGIN { exit !(a > d) }' && die "$tag: slot $slot did not reach $lsn within 30 s"
    sleep "$FREEZE_POLL"
  done
  phases+="catchup=$(ms_since "$t") "

  t=$(now)
  pgc_psql "$from" -c "SELECT format('SELECT setval(%L, %s);', format('%I.%I', schemaname, sequencename),
                                     coalesce(last_value, start_value) + 1000) FROM pg_sequences" \
    | pgc_psql "$to" >/dev/null
  phases+="sequences=$(ms_since "$t") "

  if [ -n "$reverse" ]; then
    # Failback needs every write made on TO from now on: stop the forward
    # subscription (else the two would echo each other's changes) and
    # subscribe FROM to TO while nothing is written.
    t=$(now)
    pgc_psql "$to" -c "ALTER SUBSCRIPTION peer_sub DISABLE"
    pgc_psql "$to" -c "CREATE PUBLICATION peer_rev_pub FOR ALL TABLES"
    pgc_psql "$from" -c "SET client_min_messages = warning" \
      -c "CREATE SUBSCRIPTION peer_rev CONNECTION '$(pgc_conninfo "$to")' PUBLICATION peer_rev_pub WITH (copy_data = false${PEER_SUB_OPTIONS:+, $PEER_SUB_OPTIONS})"
    phases+="reverse=$(ms_since "$t") "
  fi

  t=$(now)
  point_bouncer "$to"
  bnc_admin "RELOAD" || die "$tag: RELOAD failed"
  phases+="switch=$(ms_since "$t") "
  t=$(now)
  bnc_admin "RESUME app" || die "$tag: RESUME failed"
  phases+="resume=$(ms_since "$t")"
  poll_close
  PHASES[$tag]=$phases
  log "$tag: phases (ms): $phases"
}

run_peer() {
  setup_pair peer
  pg_dump -h 127.0.0.1 -p "$SRC_PORT" -U postgres -d app --schema-only | pgc_psql TGT >/dev/null
  pgc_psql SRC -c "CREATE PUBLICATION peer_pub FOR ALL TABLES"
  log "peer: CREATE SUBSCRIPTION (copy_data = true), waiting for the initial sync"
  pgc_psql TGT -c "SET client_min_messages = warning" \
    -c "CREATE SUBSCRIPTION peer_sub CONNECTION '$(pgc_conninfo SRC)' PUBLICATION peer_pub WITH (copy_data = true${PEER_SUB_OPTIONS:+, $PEER_SUB_OPTIONS})"
  synced() { [ "$(pgc_psql TGT -c "SELECT count(*) > 0 AND bool_and(srsubstate = 'r') FROM pg_subscription_rel")" = t ]; }
  wait_for 300 0.5 "the subscription's initial sync" -- synced

  local reverse=""
  [ "$PEER_FAILBACK" = yes ] && reverse=reverse
  operation peer cutover SRC TGT -- peer_switch cutover SRC TGT peer_sub "$reverse"
  if [ -n "$reverse" ]; then
    operation peer failback TGT SRC -- peer_switch failback TGT SRC peer_rev
  fi
  stop_bouncer peer
  pgc_stop_all
}

# ---- floor: the router's pause alone ------------------------------------

# What any switch through pgbouncer costs before it does anything: PAUSE
# waits for the transactions in flight, and closes every server connection;
# after RESUME pgbouncer opens them again one at a time (it allows a pool
# a single connection attempt at once). floor_pause does only that, on the
# same primary, so its gap is a lower bound for every contender's.
floor_pause() {
  local tag="floor-$1" times
  # One admin session for both commands, timed by psql itself: a psql
  # started between them would add its own start to the stall.
  times=$(timeout 10 "$PG_BIN/psql" -h 127.0.0.1 -p "$BNC_PORT" -U pgbouncer -d pgbouncer -qAtX \
    -c '\timing on' -c "PAUSE app" -c "RESUME app") || die "$tag: PAUSE or RESUME failed or hung"
  PHASES[$tag]=$(awk '/^Time:/ { printf "%s%s=%s", sep, (++n == 1 ? "pause" : "resume"), $2; sep = " " }' <<<"$times")
  log "$tag: phases (ms): ${PHASES[$tag]}"
}

run_floor() {
  setup_pair floor
  operation floor pause-1 SRC SRC -- floor_pause pause-1
  operation floor pause-2 SRC SRC -- floor_pause pause-2
  stop_bouncer floor
  pgc_stop_all
}

# ---- switchyard ---------------------------------------------------------

sy_op() {  # sy_op cutover|failback: its exit code in OP_RC, its log kept
  "$SY" -c "$SY_CFG" "$1" >"$WORK/switchyard-$1.log" 2>&1 || OP_RC=$?
  [ "$OP_RC" = 0 ] || { log "switchyard $1 exited $OP_RC:"; tail -20 "$WORK/switchyard-$1.log" | sed 's/^/    /' >&2; }
}

# The journal of the latest run, on the target.
sy_journal() {
  local out
  out=$(pgc_psql TGT -F ' | ' -c "SELECT operation, step_no, step, state, round(duration_ms::numeric, 1)
    FROM switchyard.switch_journal WHERE run_id = (SELECT max(run_id) FROM switchyard.switch_journal)
    ORDER BY step_no" \
    -c "SELECT 'run ' || run_id || ': ' || state || ', writes frozen ' || coalesce(round(freeze_ms::numeric, 1) || ' ms', '-')
    FROM switchyard.switch_runs ORDER BY run_id DESC LIMIT 1" 2>&1) || out="(no journal: $out)"
  printf '%s\n' "$out" >"$WORK/switchyard-$1-journal.txt"
  log "switchyard-$1: switch_journal:"
  sed 's/^/    /' "$WORK/switchyard-$1-journal.txt" >&2
}

run_switchyard() {
  setup_pair switchyard
  write_config "$SY_CFG" \
    "router: { kind: pgbouncer, admin_conninfo: \"host=127.0.0.1 port=$BNC_PORT dbname=pgbouncer user=pgbouncer\", database: app, databases_file: \"$BNC_DATABASES\" }" \
    "cutover: { freeze_budget: 2s }" "verify: { pass_interval: 5s }"
  log "switchyard: replicate (init + copy + stream)"
  "$SY" -c "$SY_CFG" replicate >"$WORK/switchyard-replicate.log" 2>&1 &
  local sy_pid=$!
  BACKGROUND+=("$sy_pid")
  # `status` prints "state  streaming" and "lag  <n> <unit>[, ...]".
  streaming() {
    kill -0 "$sy_pid" 2>/dev/null || { tail -20 "$WORK/switchyard-replicate.log" >&2; die "switchyard replicate exited early"; }
    "$SY" -c "$SY_CFG" status 2>/dev/null | awk '
      $1 == "state" { state = $2 }
      $1 == "lag" && $2 ~ /^[0-9.]+$/ { unit = $3; sub(/,$/, "", unit)
        bytes = $2 * (unit == "B" ? 1 : unit == "kB" ? 1024 : unit == "MB" ? 1048576 : 1073741824) }
      END { exit !(state == "streaming" && bytes != "" && bytes < 1048576) }'
  }
  wait_for 300 0.5 "switchyard to stream with under 1 MB of lag" -- streaming
  "$SY" -c "$SY_CFG" status >"$WORK/switchyard-status-before.txt" 2>&1 || true
  log "switchyard: verify --once"
  timeout 600 "$SY" -c "$SY_CFG" verify --once >"$WORK/switchyard-verify.log" 2>&1 \
    || { tail -20 "$WORK/switchyard-verify.log" >&2; die "switchyard verify --once failed before the cutover"; }
  local verify_pid=""
  if [ "$PROFILE" = busy ]; then
    log "switchyard: continuous verify, running through both operations"
    "$SY" -c "$SY_CFG" verify >"$WORK/switchyard-verify-continuous.log" 2>&1 &
    verify_pid=$!
    BACKGROUND+=("$verify_pid")
  fi

  operation switchyard cutover SRC TGT -- sy_op cutover
  if [ "$OP_RC" = 0 ]; then
    sy_journal cutover
    "$SY" -c "$SY_CFG" status >"$WORK/switchyard-status-after-cutover.txt" 2>&1 || true
    kill -0 "$sy_pid" 2>/dev/null || log "switchyard: replicate has exited after the cutover"
    operation switchyard failback TGT SRC -- sy_op failback
    sy_journal failback
  else
    sy_journal cutover
    log "switchyard: cutover failed, no failback"
  fi
  [ -z "$verify_pid" ] || { kill -TERM "$verify_pid" 2>/dev/null; wait_pid_exit "$verify_pid" 60 || true; }
  kill -TERM "$sy_pid" 2>/dev/null || true
  wait_pid_exit "$sy_pid" 60 || true
  stop_bouncer switchyard
  pgc_stop_all
}

# ---- main ---------------------------------------------------------------

log "work dir $WORK"
for contender in $CONTENDERS; do
  CONTENDER=$contender
  case $contender in
    peer) run_peer ;;
    floor) run_floor ;;
    switchyard) run_switchyard ;;
    *) die "unknown contender $contender" ;;
  esac
done

{
  echo "== cutover stall ($PROFILE): pgbench -s $SCALE, load -c $CLIENTS -j $THREADS -R $RATE through pgbouncer (transaction pooling) + probe every ${PROBE_INTERVAL_MS} ms =="
  [ "$PROFILE" = quiet ] || echo "busy: + loader of 100-row batches into a bigserial table at $LOADER_ROWS rows/s; switchyard: continuous verify running"
  machine_summary
  echo "probe:    $PROBE"
  echo "pgbouncer: $(pgbouncer --version | head -1)${BOUNCER_CONF:+, with: $BOUNCER_CONF}"
  if [ -n "$PEER_SUB_OPTIONS" ]; then echo "peer subscriptions: WITH ($PEER_SUB_OPTIONS)"; fi
  echo
  printf '%-10s %-8s %7s %9s %8s %9s %7s %6s %6s %6s %5s %7s  %s\n' contender operation "op s" "max gap" "gap end" \
    "pgb lat" "pgb tx" "pgb er" "prb er" "ld er" "dup" "missing" notes
  for result in "${RESULTS[@]}"; do
    read -r name op <<<"$result"
    tag="$name-$op"
    printf '%-10s %-8s %7s %9s %8s %9s %7s %6s %6s %6s %5s %7s  %s\n' "$name" "$op" "${OPSECS[$tag]:--}" "${GAP[$tag]:--}" \
      "${GAP_END[$tag]:--}" "${PGB_LAT[$tag]:--}" "${PGB_TX[$tag]:--}" "${PGB_ERR[$tag]:--}" "${PROBE_ERR[$tag]:--}" \
      "${LOADER_ERR[$tag]:--}" "${DUPS[$tag]:--}" "${MISSING[$tag]:--}/${ACKED[$tag]:--}" "${NOTE[$tag]:-}"
  done
  echo "op s: wall time of the operation (peer: its psql recipe; switchyard: the command). max gap: longest"
  echo "time in ms between two successive acknowledged probe inserts overlapping [start - 1 s, end + 1 s];"
  echo "gap end: when it ended, in s from the operation's start (open = no ack after it). pgb lat: longest"
  echo "pgbench latency in ms (from the scheduled start) in that window. pgb er: failed transactions +"
  echo "aborted clients; prb er: probe errors; ld er: the busy loader's failed transactions; dup: duplicate-key"
  echo "errors seen by any client. missing: acknowledged probe ids absent on the new primary /"
  echo "acknowledged."
  for tag in peer-cutover peer-failback floor-pause-1 floor-pause-2; do
    [ -z "${PHASES[$tag]:-}" ] || echo "$tag phases (ms): ${PHASES[$tag]}"
  done
  if [[ " $CONTENDERS " == *" peer "* ]] && [ "$PEER_FAILBACK" != yes ]; then
    echo "peer: cutover only (PEER_FAILBACK=$PEER_FAILBACK)"
  elif [ -n "${PHASES[peer-cutover]:-}" ]; then
    echo "peer: its cutover includes creating the reverse subscription (phase 'reverse'), as switchyard's does"
  fi
  for op in cutover failback; do
    if [ -f "$WORK/switchyard-$op-journal.txt" ]; then
      echo "switchyard $op journal (operation | step_no | step | state | ms):"
      sed 's/^/  /' "$WORK/switchyard-$op-journal.txt"
    fi
  done
  echo
  if [ "${OP_EXIT[switchyard-cutover]:-}" != "" ] && [ "${OP_EXIT[switchyard-cutover]}" != 0 ]; then
    echo "no ratio: switchyard's cutover did not complete (exit ${OP_EXIT[switchyard-cutover]}; 9 = rolled back)"
  elif [[ "${GAP[peer-cutover]:-}" =~ ^[0-9.]+$ && "${GAP[switchyard-cutover]:-}" =~ ^[0-9.]+$ ]]; then
    echo "cutover max gap, peer / switchyard: $(div "${GAP[peer-cutover]}" "${GAP[switchyard-cutover]}" 2)"
  fi
} | tee "$WORK/cutover_summary.txt"
