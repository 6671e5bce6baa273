#!/usr/bin/env bash
# What trigger capture costs a MariaDB legacy, and how fast replicate keeps
# up with it.
#
#  1. sysbench oltp_write_only tps on MariaDB without the capture, with its
#     triggers installed (replicate stopped: the triggers alone), and with
#     replicate running too (triggers, polling and pruning: the real
#     setup), interleaved run after run. Goal: with capture >= 0.7x.
#  2. The highest sysbench rate (--rate, tx/s) at which replicate keeps the
#     lag under 1 s throughout a run (sampled every second from status).
#  Peak RSS of replicate over all of it.
#
#   bench/odbc_capture.sh [path/to/switchyard]
#   env: RUNS (5), SECONDS_PER_RUN (30), THREADS (4), RATES ("100 200 400 800 1600"),
#        PROFILES ("durable relaxed")
#
# Each profile is a MariaDB server of its own:
#  - durable: how a production primary runs - MariaDB's own default of a
#    redo log flush at each commit (innodb_flush_log_at_trx_commit = 1)
#    and a binary log synced at each commit (log_bin, sync_binlog = 1), as
#    replicas and point-in-time recovery need; log_bin_trust_function_creators
#    so that the capture's triggers may be created;
#  - relaxed: no binary log, the redo log flushed once a second
#    (innodb_flush_log_at_trx_commit = 2): every commit costs CPU only, so
#    the triggers' share of it is as large as it can be (the worst case).
#
# Everything shares this machine's cores (MariaDB, sysbench, PostgreSQL,
# switchyard): the load is noted with each figure.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$ROOT/scripts/lib/mariadb.sh"
trap 'mdb_stop_all; bench_cleanup' EXIT

RUNS=${RUNS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-30}
THREADS=${THREADS:-4}
RATES=${RATES:-100 200 400 800 1600}
PROFILES=${PROFILES:-durable relaxed}
command -v sysbench >/dev/null || die "sysbench is not installed (scripts/install-deps.sh)"

log "work dir $WORK"
pgc_start TGT
export BENCH_PW=bench-pw
CFG=$WORK/odbc.yaml
REPLICATE_PID=

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
start_replicate() {
  /usr/bin/time -v -o "$WORK/time-replicate-$1" "$SY" -c "$CFG" replicate >>"$WORK/replicate.log" 2>&1 &
  REPLICATE_PID=$!
  BACKGROUND+=("$REPLICATE_PID")
  wait_for 300 0.5 "the copy" -- bash -c "'$SY' -c '$CFG' status 2>/dev/null | grep '^state        streaming' >/dev/null"
}
stop_replicate() {
  kill -TERM "$(pgrep -P "$REPLICATE_PID")" 2>/dev/null || true
  wait "$REPLICATE_PID" || true
  REPLICATE_PID=
}
reset() {
  "$SY" -c "$CFG" teardown --yes >/dev/null 2>&1 || true
  pgc_psql TGT -c "DROP SCHEMA IF EXISTS shop CASCADE" >/dev/null 2>&1
}
tps() {  # tps LABEL [sysbench args]: runs sysbench, prints its tps
  local label=$1; shift
  "${SYSBENCH[@]}" --threads="$THREADS" --time="$SECONDS_PER_RUN" "$@" run >"$WORK/sysbench-$label.log" 2>&1 \
    || { tail -5 "$WORK/sysbench-$label.log" >&2; die "sysbench $label"; }
  awk '/transactions:/ { gsub(/[()]/, "", $3); print $3 }' "$WORK/sysbench-$label.log"
}

run_profile() {  # run_profile NAME: a MariaDB server configured so, and the whole measure on it
  local profile=$1
  case $profile in
    durable) mdb_start MDB "innodb_buffer_pool_size = 512M" "innodb_flush_log_at_trx_commit = 1" \
               "log_bin = binlog" "sync_binlog = 1" "server_id = 1" \
               "log_bin_trust_function_creators = 1" ;;
    relaxed) mdb_start MDB "innodb_buffer_pool_size = 512M" "innodb_flush_log_at_trx_commit = 2" ;;
    *) die "unknown profile $profile (durable, relaxed)" ;;
  esac
  mdb_sql MDB -e "CREATE USER bench@'127.0.0.1' IDENTIFIED BY 'bench-pw'; GRANT ALL ON *.* TO bench@'127.0.0.1'"
  SYSBENCH=(sysbench oltp_write_only --db-driver=mysql --mysql-socket="$MDB_SOCKET" --mysql-user=root
            --mysql-db=shop --tables=4 --table-size=100000)
  "${SYSBENCH[@]}" --threads=2 prepare >"$WORK/prepare.log" 2>&1 || { cat "$WORK/prepare.log" >&2; die "prepare"; }
  {
    echo "source: { driver: odbc, password_env: BENCH_PW, conninfo: \"Driver=MariaDB Unicode;Server=127.0.0.1;Port=$MDB_PORT;Database=shop;Uid=bench;CHARSET=utf8mb4\" }"
    echo "target: { driver: postgres, conninfo: \"$(pgc_conninfo TGT)\" }"
    echo "tables: { include: [\"shop.*\"] }"
    echo "stream: { status_interval: 1s }"
  } >"$CFG"

  local -a plain=() triggers=() streaming=()
  local run
  for run in $(seq 1 "$RUNS"); do
    # The triggers alone: installed by init (no copy), so that the
    # target's work after a bulk load (autovacuum, checkpoint) does not
    # take its share of the cores from MariaDB during the measure.
    reset
    plain+=("$(tps "plain-$run")")
    "$SY" -c "$CFG" init >/dev/null 2>&1 || die "init"
    triggers+=("$(tps "triggers-$run")")
    # The real setup: copied, the target settled, replicate running.
    reset
    "$SY" -c "$CFG" snapshot >/dev/null 2>&1 || die "snapshot"
    pgc_psql TGT -c "VACUUM ANALYZE" >/dev/null && pgc_psql TGT -c "CHECKPOINT" >/dev/null
    start_replicate "$profile-$run"
    streaming+=("$(tps "streaming-$run")")
    stop_replicate
    log "$profile run $run: tps without capture ${plain[-1]}, with triggers ${triggers[-1]}, with triggers and replicate ${streaming[-1]}"
  done

  # ---- the highest rate with lag < 1 s -----------------------------------------------
  reset
  "$SY" -c "$CFG" snapshot >/dev/null 2>&1 || die "snapshot"
  start_replicate "$profile-rates"
  local best=0 rate_lines="" rate bench_pid max_lag lag got
  for rate in $RATES; do
    "${SYSBENCH[@]}" --threads="$THREADS" --time=20 --rate="$rate" run >"$WORK/sysbench-rate-$rate.log" 2>&1 &
    bench_pid=$!
    max_lag=0
    while kill -0 "$bench_pid" 2>/dev/null; do
      lag=$("$SY" -c "$CFG" status --json 2>/dev/null | grep -o '"lag_milliseconds":[0-9]*' | cut -d: -f2 || true)
      [ -n "$lag" ] && [ "$lag" -gt "$max_lag" ] && max_lag=$lag
      sleep 1
    done
    wait "$bench_pid" || die "sysbench at rate $rate"
    got=$(awk '/transactions:/ { gsub(/[()]/, "", $3); print $3 }' "$WORK/sysbench-rate-$rate.log")
    log "$profile rate $rate tx/s: sysbench did $got tx/s, replicate's lag at most $max_lag ms"
    rate_lines+="| $rate | $got | $max_lag |"$'\n'
    awk -v got="$got" -v want="$rate" 'BEGIN { exit !(got >= 0.95 * want) }' || { log "MariaDB itself cannot sustain $rate tx/s here"; break; }
    [ "$max_lag" -lt 1000 ] && best=$rate || break
  done
  stop_replicate

  echo
  echo "### profile: $profile"
  echo "load: sysbench oltp_write_only, $THREADS threads, ${SECONDS_PER_RUN}s per run, 4 tables x 100000 rows; MariaDB $(mdb_sql MDB -e 'SELECT VERSION()'), PostgreSQL and switchyard on the same cores"
  echo
  echo "| run | tps without capture | with triggers | with triggers + replicate |"
  echo "|---|---|---|---|"
  local i p t s
  for i in $(seq 0 $((RUNS - 1))); do echo "| $((i + 1)) | ${plain[$i]} | ${triggers[$i]} | ${streaming[$i]} |"; done
  p=$(median "${plain[@]}"); t=$(median "${triggers[@]}"); s=$(median "${streaming[@]}")
  echo "| median | $p | $t ($(div "$t" "$p" 2)x) | $s ($(div "$s" "$p" 2)x) |"
  echo
  echo "| sysbench --rate | achieved tx/s | replicate's max lag ms |"
  echo "|---|---|---|"
  printf '%s' "$rate_lines"
  echo
  echo "highest rate with lag < 1 s: $best tx/s (each oltp_write_only transaction writes 4 rows: 2 updates, a delete and an insert)"
  local rss=0 file r
  for file in "$WORK"/time-replicate-"$profile"-*; do r=$(max_rss_kb "$file"); [ "$r" -gt "$rss" ] && rss=$r; done
  echo "replicate's peak RSS: $((rss / 1024)) MiB"
  reset
  mdb_stop_all
}

machine_summary
for profile in $PROFILES; do run_profile "$profile"; done
