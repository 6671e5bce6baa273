#!/usr/bin/env bash
# Huge transactions: how long after its commit is one very large source
# transaction applied, and how much memory does the consumer take for it?
#
#   bench/huge_transaction.sh [path/to/switchyard]
#
# For every contender, on a fresh pair of clusters: a table ledger (id int
# primary key, amount bigint, memo text) of $ROWS rows, replicated and in
# sync; then, one after the other, each case in $CASES, timed from the
# source's COMMIT until the consumer has applied it (its replication
# origin past a position taken inside the transaction):
#   update   one UPDATE of every row ($ROWS rows);
#   mixed    one transaction deleting $MIXED_ROWS rows and inserting as many;
#   update10m  a separate table of $BIG_ROWS rows, one UPDATE of every row.
# Peak RSS is the consumer's VmHWM over each case (reset before it through
# /proc/PID/clear_refs): switchyard's replicate process; for native logical
# replication its apply worker on the subscriber.
# Contenders: switchyard (`replicate`), native (a subscription with
# streaming = on, PostgreSQL 15: in-progress transactions are streamed to
# the subscriber and spooled there, applied at commit).
#
# Environment: ROWS (2000000), MIXED_ROWS (400000), BIG_ROWS (10000000),
# CASES ("update mixed"; add update10m for the 10M-row case),
# CONTENDERS ("switchyard native"), TIMEOUT (3600 s per case).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ROWS=${ROWS:-2000000}
MIXED_ROWS=${MIXED_ROWS:-400000}
BIG_ROWS=${BIG_ROWS:-10000000}
CASES=${CASES:-"update mixed"}
CONTENDERS=${CONTENDERS:-"switchyard native"}
TIMEOUT=${TIMEOUT:-3600}
CONF=("max_wal_size = 16GB" "checkpoint_timeout = 30min")

declare -A SECS RSS

setup_pair() {
  pgc_start SRC "${CONF[@]}"
  pgc_start TGT "${CONF[@]}"
  pgc_psql SRC -c "CREATE TABLE ledger (id int PRIMARY KEY, amount bigint NOT NULL, memo text)"
  pgc_psql SRC -c "INSERT INTO ledger SELECT g, g, 'entry ' || g FROM generate_series(1, $ROWS) g"
  if [[ " $CASES " == *" update10m "* ]]; then
    pgc_psql SRC -c "CREATE TABLE ledger_big (id int PRIMARY KEY, amount bigint NOT NULL, memo text)"
    pgc_psql SRC -c "INSERT INTO ledger_big SELECT g, g, 'entry ' || g FROM generate_series(1, $BIG_ROWS) g"
  fi
  pgc_psql SRC -c "VACUUM ANALYZE"
}

# run_case CONTENDER CASE ORIGIN PID: runs the transaction, waits for ORIGIN
# (on TGT) to pass it; sets SECS and RSS for CONTENDER/CASE.
run_case() {
  local name=$1 case=$2 origin=$3 pid=$4 sql mark t0 t1
  case $case in
    update) sql="UPDATE ledger SET amount = amount + 1" ;;
    mixed) sql="DELETE FROM ledger WHERE id <= $MIXED_ROWS; INSERT INTO ledger SELECT g, -g, 'moved ' || g FROM generate_series($ROWS + 1, $ROWS + $MIXED_ROWS) g" ;;
    update10m) sql="UPDATE ledger_big SET amount = amount + 1" ;;
  esac
  echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || log "$name: cannot reset VmHWM of $pid (not root?)"
  log "$name/$case: running it on the source"
  mark=$(pgc_psql SRC -c "BEGIN" -c "$sql" -c "SELECT pg_current_wal_insert_lsn()" -c "COMMIT" | tail -1)
  t0=$(now)
  poll_open TGT
  applied() { [ "$(poll_query "SELECT coalesce(pg_replication_origin_progress('$origin', false) > '$mark'::pg_lsn, false)")" = t ]; }
  wait_for "$TIMEOUT" 0.05 "$name to apply $case" -- applied
  t1=$(now)
  poll_close
  SECS[$name/$case]=$(elapsed "$t0" "$t1")
  RSS[$name/$case]=$(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null || echo "?")
  log "$name/$case: applied ${SECS[$name/$case]} s after its commit; peak RSS ${RSS[$name/$case]} MiB"
}

check_parity() {
  local src tgt
  src=$(pgc_psql SRC -c "SELECT count(*) || '/' || sum(amount) FROM ledger")
  tgt=$(pgc_psql TGT -c "SELECT count(*) || '/' || sum(amount) FROM ledger")
  [ "$src" = "$tgt" ] || die "$1: parity mismatch: source $src, target $tgt"
  log "$1: parity ok ($src)"
}

run_switchyard() {
  setup_pair
  local cfg=$WORK/switchyard.yaml
  write_config "$cfg" "stream: { status_interval: 10s }"
  "$SY" -c "$cfg" init >"$WORK/switchyard-init.log" 2>&1 || die "switchyard init failed"
  "$SY" -c "$cfg" replicate >"$WORK/switchyard-replicate.log" 2>&1 &
  local pid=$!
  BACKGROUND+=("$pid")
  caught_up() { "$SY" -c "$cfg" status 2>/dev/null | grep "^state        streaming" >/dev/null; }
  wait_for 1200 1 "switchyard's initial copy" -- caught_up
  sleep 2
  for case in $CASES; do run_case switchyard "$case" switchyard "$pid"; done
  check_parity switchyard
  kill -TERM "$pid"; wait "$pid" || true
  pgc_stop_all
}

run_native() {
  setup_pair
  "$PG_BIN/pg_dump" -h 127.0.0.1 -p "$SRC_PORT" -U postgres --schema-only app | pgc_psql TGT >/dev/null
  pgc_psql SRC -c "CREATE PUBLICATION bench FOR ALL TABLES"
  pgc_psql TGT -c "CREATE SUBSCRIPTION bench CONNECTION '$(pgc_conninfo SRC)' PUBLICATION bench WITH (streaming = on)"
  synced() { [ "$(pgc_psql TGT -c "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'")" = 0 ]; }
  wait_for 1200 1 "the native initial copy" -- synced
  local origin pid
  origin=$(pgc_psql TGT -c "SELECT 'pg_' || oid FROM pg_subscription WHERE subname = 'bench'")
  pid=$(pgc_psql TGT -c "SELECT pid FROM pg_stat_subscription WHERE subname = 'bench' AND relid IS NULL")
  sleep 2
  for case in $CASES; do run_case native "$case" "$origin" "$pid"; done
  check_parity native
  pgc_psql TGT -c "DROP SUBSCRIPTION bench" >/dev/null
  pgc_stop_all
}

machine_summary >&2
log "ROWS=$ROWS MIXED_ROWS=$MIXED_ROWS BIG_ROWS=$BIG_ROWS CASES=\"$CASES\"; load $(cut -d' ' -f1-3 /proc/loadavg)"
for contender in $CONTENDERS; do "run_$contender"; done

printf '\n%-10s %-10s %12s %12s\n' contender case "seconds" "peak MiB"
for case in $CASES; do
  for contender in $CONTENDERS; do
    printf '%-10s %-10s %12s %12s\n' "$contender" "$case" "${SECS[$contender/$case]:-?}" "${RSS[$contender/$case]:-?}"
  done
  if [[ " $CONTENDERS " == *" switchyard "* && " $CONTENDERS " == *" native "* ]]; then
    printf '%-10s %-10s %12s\n' "ratio" "$case" "$(div "${SECS[native/$case]}" "${SECS[switchyard/$case]}" 2)x (native s / switchyard s)"
  fi
done
log "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
