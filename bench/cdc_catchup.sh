#!/usr/bin/env bash
# CDC catch-up benchmark: how fast does each consumer work off a fixed
# backlog of pgbench TPC-B-like transactions sitting in a lagging slot?
#
#   bench/cdc_catchup.sh [path/to/switchyard]
#
# For every contender, on a fresh pair of clusters:
#   1. pgbench -i -s $SCALE on SRC, pgbench_history REPLICA IDENTITY FULL;
#   2. the contender's slot is created (and the target pre-populated) but
#      nothing consumes it;
#   3. burst: pgbench -c 8 -j 2 -T $BURST_SECONDS (default TPC-B-like script),
#      then one marker transaction (a no-op UPDATE of pgbench_branches);
#   4. the consumer is started and timed until it has applied the marker
#      transaction (target origin progress past the marker's commit) -- or,
#      for the decode references, until pg_recvlogical exits at --endpos /
#      pg_logical_slot_get_binary_changes(upto_lsn) returns.
# Contenders: switchyard (`replicate` after init + snapshot), native (a
# PostgreSQL subscription, disabled during the burst), decode (pg_recvlogical
# over the network to /dev/null) and decode_sql (decoding inside the source
# server with pg_logical_slot_get_binary_changes, nothing sent anywhere).
# Applied tx/s = transactions pgbench committed in the burst / catch-up time.
#
# Environment: SCALE (10), BURST_SECONDS (60), CLIENTS (8), THREADS (2),
# CATCHUP_TIMEOUT (1800 s), CONTENDERS ("switchyard native decode decode_sql"),
# SY_CONFIG_EXTRA (extra YAML lines for switchyard's config, e.g.
# "apply: { pipeline_bytes: 4MB }"; empty by default = product defaults).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SCALE=${SCALE:-10}
BURST_SECONDS=${BURST_SECONDS:-60}
CLIENTS=${CLIENTS:-8}
THREADS=${THREADS:-2}
CATCHUP_TIMEOUT=${CATCHUP_TIMEOUT:-1800}
CONTENDERS=${CONTENDERS:-"switchyard native decode decode_sql"}
# Same server settings for every contender and both clusters; fsync and
# friends stay as pgcluster.sh sets them (fsync = off).
CONF=("max_wal_size = 8GB" "checkpoint_timeout = 30min")
TABLES="pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history"
POLL_INTERVAL=0.05

SY_CONFIG_EXTRA=${SY_CONFIG_EXTRA:-}

declare -A TX TPS_SRC SECS RATE BACKLOG NOTE CPU_SRC CPU_TGT CPU_CLIENT COMMITS CPU_OTHER STEAL LOAD

# ---- shared steps -------------------------------------------------------

setup_source() {
  pgc_start SRC "${CONF[@]}"
  log "SRC: pgbench -i -s $SCALE"
  pgbench -i -q -s "$SCALE" -h 127.0.0.1 -p "$SRC_PORT" -U postgres app >"$WORK/$1-pgbench-init.log" 2>&1 \
    || { cat "$WORK/$1-pgbench-init.log" >&2; die "pgbench -i failed"; }
  pgc_psql SRC -c "ALTER TABLE pgbench_history REPLICA IDENTITY FULL"
}

# burst CONTENDER: sets TX, TPS_SRC, MARK (pre-commit LSN of the marker
# transaction) and END_LSN (pg_current_wal_lsn() after it).
burst() {
  local name=$1
  pgc_psql SRC -c "CHECKPOINT"
  if [ -n "${TGT_PORT:-}" ]; then pgc_psql TGT -c "CHECKPOINT"; fi
  local start_lsn
  start_lsn=$(pgc_psql SRC -c "SELECT pg_current_wal_lsn()")
  log "$name: burst: pgbench -c $CLIENTS -j $THREADS -T $BURST_SECONDS"
  timeout $(( BURST_SECONDS + 120 )) pgbench -c "$CLIENTS" -j "$THREADS" -T "$BURST_SECONDS" \
    -h 127.0.0.1 -p "$SRC_PORT" -U postgres app >"$WORK/$name-pgbench.log" 2>&1 \
    || { cat "$WORK/$name-pgbench.log" >&2; die "pgbench burst failed"; }
  TX[$name]=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/$name-pgbench.log")
  TPS_SRC[$name]=$(sed -n "s/^tps = \([0-9.]*\) .*/\1/p" "$WORK/$name-pgbench.log" | head -1 | xargs printf "%.0f")
  [ -n "${TX[$name]}" ] || die "cannot read the transaction count from $WORK/$name-pgbench.log"
  # Marker: the last transaction of the backlog. Its commit record ends after
  # MARK; every burst transaction's commit ends at or before MARK. So a
  # target origin position > MARK means the whole backlog is applied.
  MARK=$(pgc_psql SRC -c "BEGIN" -c "UPDATE pgbench_branches SET bbalance = bbalance WHERE bid = 1" \
    -c "SELECT pg_current_wal_insert_lsn()" -c "COMMIT")
  END_LSN=$(pgc_psql SRC -c "SELECT pg_current_wal_lsn()")
  BACKLOG[$name]=$(pgc_psql SRC -c "SELECT pg_wal_lsn_diff('$END_LSN', '$start_lsn')")
  log "$name: burst committed ${TX[$name]} transactions (${TPS_SRC[$name]} tx/s on the source);" \
      "WAL $(div "${BACKLOG[$name]}" 1048576) MiB; marker before $MARK, end $END_LSN"
}

# check_parity: cheap content check after catch-up (not timed).
check_parity() {
  local name=$1 query="SELECT (SELECT sum(abalance) FROM pgbench_accounts) || '/' || (SELECT sum(bbalance) FROM pgbench_branches) || '/' || (SELECT count(*) FROM pgbench_history)"
  local src tgt
  src=$(pgc_psql SRC -c "$query")
  tgt=$(pgc_psql TGT -c "$query")
  if [ "$src" = "$tgt" ]; then
    log "$name: parity ok (sum(abalance)/sum(bbalance)/count(history) = $src)"
  else
    log "$name: PARITY MISMATCH: source $src, target $tgt"
    NOTE[$name]="${NOTE[$name]:-} parity mismatch (src $src, tgt $tgt)"
  fi
}

# sample_start / sample_end CONTENDER: CPU of both clusters during catch-up,
# and the number of transactions the target committed (minus the polls).
sample_start() {
  read -r BUSY0 STEAL0 < <(machine_busy)
  LOAD0=$(cut -d' ' -f1 /proc/loadavg)
  CPU0_SRC=$(cluster_cpu SRC)
  if [ -n "${TGT_PORT:-}" ]; then
    CPU0_TGT=$(cluster_cpu TGT)
    XACT0=$(pgc_psql TGT -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'app'")
  fi
  POLLS=0
}
sample_end() {  # sample_end CONTENDER [SETTLE_SECONDS]
  local name=$1 busy steal
  read -r busy steal < <(machine_busy)
  # A backend that just exited is in neither the postmaster's children nor
  # its cutime until reaped: give the postmaster a moment when the consumer's
  # server process ends with the catch-up (decode, decode_sql).
  sleep "${2:-0}"
  CPU_SRC[$name]=$(awk -v a="$CPU0_SRC" -v b="$(cluster_cpu SRC)" 'BEGIN { printf "%.1f", b - a }')
  if [ -n "${TGT_PORT:-}" ]; then
    CPU_TGT[$name]=$(awk -v a="$CPU0_TGT" -v b="$(cluster_cpu TGT)" 'BEGIN { printf "%.1f", b - a }')
  fi
  MBUSY=$(awk -v a="$BUSY0" -v b="$busy" 'BEGIN { printf "%.2f", b - a }')
  STEAL[$name]=$(awk -v a="$STEAL0" -v b="$steal" 'BEGIN { printf "%.1f", b - a }')
  LOAD[$name]=$LOAD0
}
# other_cpu CONTENDER: machine busy time during catch-up not accounted to
# SRC, TGT or the consumer (other users of this noisy machine, the poller).
other_cpu() {
  local name=$1 client=${CPU_CLIENT[$1]:-0}
  [[ "$client" =~ ^[0-9.]+$ ]] || client=0
  CPU_OTHER[$name]=$(awk -v m="$MBUSY" -v s="${CPU_SRC[$name]}" -v t="${CPU_TGT[$name]:-0}" -v c="$client" \
    'BEGIN { printf "%.1f", m - s - t - c }')
}
# count_commits CONTENDER: after the consumer has stopped (its stats flushed).
count_commits() {
  local name=$1 polls=$POLLS xact
  sleep 1.5  # the stats of still-running backends are flushed at most once a second
  xact=$(pgc_psql TGT -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'app'")
  # minus the polls and this query's neighbours (a handful of psql calls)
  COMMITS[$name]=$(( xact - XACT0 - polls ))
}

finish() {  # finish CONTENDER T0 T1
  local name=$1
  other_cpu "$name"
  SECS[$name]=$(elapsed "$2" "$3")
  RATE[$name]=$(div "${TX[$name]}" "${SECS[$name]}" 0)
  log "$name: caught up in ${SECS[$name]} s: ${RATE[$name]} tx/s applied"
}

# ---- contenders ---------------------------------------------------------

run_switchyard() {
  setup_source switchyard
  pgc_start TGT "${CONF[@]}"
  local cfg=$WORK/switchyard.yaml
  write_config "$cfg" "stream: { status_interval: 5s }" "$SY_CONFIG_EXTRA"
  [ -z "$SY_CONFIG_EXTRA" ] || log "switchyard: extra config: $SY_CONFIG_EXTRA"
  log "switchyard: init + snapshot"
  "$SY" -c "$cfg" init >"$WORK/switchyard-init.log" 2>&1 || { cat "$WORK/switchyard-init.log" >&2; die "switchyard init failed"; }
  timeout 600 "$SY" -c "$cfg" snapshot >"$WORK/switchyard-snapshot.log" 2>&1 \
    || { cat "$WORK/switchyard-snapshot.log" >&2; die "switchyard snapshot failed"; }
  burst switchyard

  poll_open TGT
  local caught="SELECT coalesce(pg_replication_origin_progress('switchyard', false) > '$MARK'::pg_lsn, false)"
  log "switchyard: replicate"
  local t0 t1 time_pid sy_pid=""
  sample_start
  t0=$(now)
  /usr/bin/time -v -o "$WORK/switchyard-time.txt" "$SY" -c "$cfg" replicate \
    >"$WORK/switchyard-replicate.log" 2>&1 &
  time_pid=$!
  BACKGROUND+=("$time_pid")
  caught_up() {
    [ -n "$sy_pid" ] || sy_pid=$(awk '{ print $1 }' "/proc/$time_pid/task/$time_pid/children" 2>/dev/null)
    kill -0 "$time_pid" 2>/dev/null || { cat "$WORK/switchyard-replicate.log" >&2; die "switchyard replicate exited early"; }
    [ "$(poll_query "$caught")" = t ]
  }
  wait_for "$CATCHUP_TIMEOUT" "$POLL_INTERVAL" "switchyard to apply the backlog" -- caught_up
  t1=$(now)
  sample_end switchyard
  poll_close
  finish switchyard "$t0" "$t1"
  [ -n "$sy_pid" ] || die "could not find the switchyard process under /usr/bin/time"
  BACKGROUND+=("$sy_pid")
  local hwm
  hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$sy_pid/status" 2>/dev/null || echo "?")
  kill -TERM "$sy_pid"
  wait_pid_exit "$time_pid" 60 || NOTE[switchyard]="${NOTE[switchyard]:-} replicate exited non-zero after SIGTERM"
  SY_RSS_KB=$(max_rss_kb "$WORK/switchyard-time.txt")
  SY_CPU=$(cpu_seconds "$WORK/switchyard-time.txt")
  CPU_CLIENT[switchyard]=$SY_CPU
  count_commits switchyard
  log "switchyard: peak RSS $(div "$SY_RSS_KB" 1024) MiB (VmHWM at catch-up ${hwm} kB), CPU ${SY_CPU} s user+sys"
  grep -E "lag|stopped" "$WORK/switchyard-replicate.log" | sed 's/^/    /' >&2 || true
  check_parity switchyard
  pgc_stop_all
  unset TGT_PORT
}

run_native() {
  setup_source native
  pgc_start TGT "${CONF[@]}"
  pgc_psql SRC -c "CREATE PUBLICATION bench_pub FOR TABLE $TABLES"
  pg_dump -h 127.0.0.1 -p "$SRC_PORT" -U postgres -d app --schema-only -t 'public.pgbench_*' \
    | pgc_psql TGT >/dev/null
  log "native: CREATE SUBSCRIPTION (copy_data = true), waiting for the initial sync"
  pgc_psql TGT -c "CREATE SUBSCRIPTION bench_sub CONNECTION '$(pgc_conninfo SRC)' PUBLICATION bench_pub WITH (copy_data = true)"
  synced() { [ "$(pgc_psql TGT -c "SELECT count(*) FILTER (WHERE srsubstate = 'r') = 4 AND count(*) = 4 FROM pg_subscription_rel")" = t ]; }
  wait_for 900 0.5 "the subscription's initial sync" -- synced
  # Let the apply worker catch up to the present, then stop it.
  local now_lsn
  now_lsn=$(pgc_psql SRC -c "SELECT pg_current_wal_lsn()")
  applied() { [ "$(pgc_psql SRC -c "SELECT coalesce(confirmed_flush_lsn >= '$now_lsn', false) FROM pg_replication_slots WHERE slot_name = 'bench_sub'")" = t ]; }
  wait_for 300 0.2 "the subscription to reach $now_lsn" -- applied
  pgc_psql TGT -c "ALTER SUBSCRIPTION bench_sub DISABLE"
  inactive() { [ "$(pgc_psql SRC -c "SELECT NOT active FROM pg_replication_slots WHERE slot_name = 'bench_sub'")" = t ]; }
  wait_for 60 0.2 "the subscription's slot to be released" -- inactive
  burst native

  poll_open TGT
  local caught="SELECT coalesce(pg_replication_origin_progress('pg_' || (SELECT oid FROM pg_subscription WHERE subname = 'bench_sub'), false) > '$MARK'::pg_lsn, false)"
  log "native: ALTER SUBSCRIPTION ENABLE"
  local t0 t1
  sample_start
  t0=$(now)
  pgc_psql TGT -c "ALTER SUBSCRIPTION bench_sub ENABLE"
  caught_up() { [ "$(poll_query "$caught")" = t ]; }
  wait_for "$CATCHUP_TIMEOUT" "$POLL_INTERVAL" "native replication to apply the backlog" -- caught_up
  t1=$(now)
  sample_end native
  poll_close
  finish native "$t0" "$t1"
  pgc_psql TGT -c "ALTER SUBSCRIPTION bench_sub DISABLE"
  CPU_CLIENT[native]="(in TGT)"
  POLLS=$(( POLLS + 2 ))  # ENABLE and DISABLE
  count_commits native
  check_parity native
  pgc_stop_all
  unset TGT_PORT
}

run_decode() {
  setup_source decode
  pgc_psql SRC -c "CREATE PUBLICATION bench_pub FOR TABLE $TABLES"
  pgc_psql SRC -c "SELECT pg_create_logical_replication_slot('bench_decode', 'pgoutput')" >/dev/null
  burst decode
  log "decode: pg_recvlogical --endpos $END_LSN"
  local t0 t1 rc=0
  sample_start
  t0=$(now)
  /usr/bin/time -v -o "$WORK/decode-time.txt" timeout "$CATCHUP_TIMEOUT" pg_recvlogical -h 127.0.0.1 -p "$SRC_PORT" -U postgres -d app \
    --slot bench_decode --start --endpos "$END_LSN" -P pgoutput \
    -o proto_version=1 -o publication_names=bench_pub -f /dev/null >"$WORK/decode-recvlogical.log" 2>&1 || rc=$?
  t1=$(now)
  sample_end decode 0.5
  [ "$rc" = 0 ] || { cat "$WORK/decode-recvlogical.log" >&2; die "pg_recvlogical failed (exit $rc)"; }
  CPU_CLIENT[decode]=$(cpu_seconds "$WORK/decode-time.txt")
  COMMITS[decode]="-"
  finish decode "$t0" "$t1"
  pgc_stop_all
}

run_decode_sql() {
  setup_source decode_sql
  pgc_psql SRC -c "CREATE PUBLICATION bench_pub FOR TABLE $TABLES"
  pgc_psql SRC -c "SELECT pg_create_logical_replication_slot('bench_decode_sql', 'pgoutput')" >/dev/null
  burst decode_sql
  log "decode_sql: pg_logical_slot_get_binary_changes(upto_lsn => $END_LSN)"
  local t0 t1 messages
  sample_start
  t0=$(now)
  messages=$(timeout "$CATCHUP_TIMEOUT" "$PG_BIN/psql" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -d app -qAtX \
    -v ON_ERROR_STOP=1 -c "SELECT count(*) FROM pg_logical_slot_get_binary_changes('bench_decode_sql', '$END_LSN', NULL, 'proto_version', '1', 'publication_names', 'bench_pub')") \
    || die "pg_logical_slot_get_binary_changes failed"
  t1=$(now)
  sample_end decode_sql 0.5
  log "decode_sql: $messages pgoutput messages"
  CPU_CLIENT[decode_sql]="-"
  COMMITS[decode_sql]="-"
  finish decode_sql "$t0" "$t1"
  pgc_stop_all
}

# ---- main ---------------------------------------------------------------

log "work dir $WORK"
for contender in $CONTENDERS; do
  case $contender in
    switchyard) run_switchyard ;;
    native) run_native ;;
    decode) run_decode ;;
    decode_sql) run_decode_sql ;;
    *) die "unknown contender $contender" ;;
  esac
done

{
  echo "== CDC catch-up: pgbench -s $SCALE, burst -c $CLIENTS -j $THREADS -T $BURST_SECONDS (TPC-B-like) =="
  machine_summary
  echo
  printf '%-11s %8s %7s %6s %9s %9s %8s %6s %6s %7s %6s %6s %5s  %s\n' contender "burst tx" "src tx/s" "WAL MiB" \
    "catchup s" "tx/s appl" "tgt cmts" "SRC" "TGT" "client" "other" "steal" "load" notes
  for contender in $CONTENDERS; do
    printf '%-11s %8s %7s %6s %9s %9s %8s %6s %6s %7s %6s %6s %5s  %s\n' "$contender" "${TX[$contender]}" "${TPS_SRC[$contender]}" \
      "$(div "${BACKLOG[$contender]}" 1048576)" "${SECS[$contender]}" "${RATE[$contender]}" "${COMMITS[$contender]:--}" \
      "${CPU_SRC[$contender]:--}" "${CPU_TGT[$contender]:--}" "${CPU_CLIENT[$contender]:--}" "${CPU_OTHER[$contender]:--}" \
      "${STEAL[$contender]:--}" "${LOAD[$contender]:--}" "${NOTE[$contender]:-}"
  done
  echo "SRC/TGT/client/other/steal: CPU seconds during the catch-up -- SRC, TGT = all server processes of"
  echo "that cluster; client = the consumer process (native: its apply worker is in TGT); other = the rest"
  echo "of the machine (other users, the 50 ms poller); steal = hypervisor steal. load = 1-min load average"
  echo "at the start of the catch-up. tgt cmts = target transactions committed during catch-up (approx.)."
  echo "The machine has $(nproc) cores, so at most $(nproc) CPU seconds per second of catch-up exist."
  if [ -n "$SY_CONFIG_EXTRA" ]; then echo "switchyard extra config: $SY_CONFIG_EXTRA"; fi
  echo
  if [ -n "${RATE[switchyard]:-}" ]; then
    if [ -n "${RATE[native]:-}" ]; then echo "switchyard / native:       $(div "${RATE[switchyard]}" "${RATE[native]}" 2)"; fi
    if [ -n "${RATE[decode]:-}" ]; then echo "switchyard / decode limit: $(div "${RATE[switchyard]}" "${RATE[decode]}" 2)"; fi
    echo "switchyard peak RSS:       $(div "$SY_RSS_KB" 1024) MiB (replicate, /usr/bin/time -v); CPU ${SY_CPU} s user+sys"
  fi
  if [ -n "${RATE[switchyard]:-}" ] && [ -n "${RATE[decode_sql]:-}" ]; then
    echo "switchyard / decode_sql:   $(div "${RATE[switchyard]}" "${RATE[decode_sql]}" 2)"
  fi
  if [ -n "${RATE[native]:-}" ] && [ -n "${RATE[decode]:-}" ]; then
    echo "native / decode limit:     $(div "${RATE[native]}" "${RATE[decode]}" 2)"
  fi
} | tee "$WORK/cdc_summary.txt"
