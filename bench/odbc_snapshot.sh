#!/usr/bin/env bash
# The initial copy from a MariaDB legacy: switchyard (init + snapshot:
# translated tables, the capture installed, every table read in a consistent
# snapshot through ODBC and loaded with COPY, keys built) against pgloader
# (schema, data, indexes; prefetch rows lowered to 10000, see run_pgloader) on the same sysbench tables, run after
# run on the same machine. Peak RSS of each.
#
#   bench/odbc_snapshot.sh [path/to/switchyard]
#   env: TABLES (8) x ROWS (600000) sysbench rows (~1.1 GB in InnoDB),
#        RUNS (5), CONTENDERS ("switchyard pgloader")
#
# Each run starts from an empty target database; switchyard's capture is
# removed from the legacy between runs (teardown).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$ROOT/scripts/lib/mariadb.sh"
trap 'mdb_stop_all; bench_cleanup' EXIT

TABLES=${TABLES:-8}
ROWS=${ROWS:-600000}
RUNS=${RUNS:-5}
CONTENDERS=${CONTENDERS:-switchyard pgloader}
command -v sysbench >/dev/null || die "sysbench is not installed (scripts/install-deps.sh)"
command -v pgloader >/dev/null || die "pgloader is not installed (scripts/install-deps.sh)"

log "work dir $WORK"
pgc_start TGT
mdb_start MDB "innodb_buffer_pool_size = 1536M"
mdb_sql MDB -e "CREATE USER bench@'127.0.0.1' IDENTIFIED BY 'bench-pw'; GRANT ALL ON *.* TO bench@'127.0.0.1'"
log "MariaDB: sysbench prepare, $TABLES tables x $ROWS rows"
sysbench oltp_read_write --db-driver=mysql --mysql-socket="$MDB_SOCKET" --mysql-user=root \
  --mysql-db=shop --tables="$TABLES" --table-size="$ROWS" --threads=2 prepare >"$WORK/prepare.log" 2>&1 \
  || { cat "$WORK/prepare.log" >&2; die "sysbench prepare failed"; }
BYTES=$(mdb_sql MDB -e "SELECT SUM(DATA_LENGTH + INDEX_LENGTH) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop'")
log "legacy data: $(div "$BYTES" 1073741824 2) GiB in InnoDB"

CFG=$WORK/odbc.yaml
{
  echo "source: { driver: odbc, password_env: BENCH_PW, conninfo: \"Driver=MariaDB Unicode;Server=127.0.0.1;Port=$MDB_PORT;Database=shop;Uid=bench;CHARSET=utf8mb4\" }"
  echo "target: { driver: postgres, conninfo: \"$(pgc_conninfo TGT)\" }"
  echo "tables: { include: [\"shop.*\"] }"
  echo "snapshot: { workers: 4 }"
} >"$CFG"
export BENCH_PW=bench-pw

reset_target() {
  pgc_psql TGT -c "DROP SCHEMA IF EXISTS shop CASCADE; DROP SCHEMA IF EXISTS switchyard CASCADE" >/dev/null 2>&1
  pgc_psql TGT -c "SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin" >/dev/null
  pgc_psql TGT -c "CHECKPOINT" >/dev/null
}

run_switchyard() {  # -> seconds; RSS in $WORK/time-switchyard-$1
  "$SY" -c "$CFG" teardown --yes >/dev/null 2>&1 || true
  reset_target
  local start
  start=$(now)
  /usr/bin/time -v -o "$WORK/time-switchyard-$1" "$SY" -c "$CFG" snapshot >"$WORK/switchyard-$1.out" 2>"$WORK/switchyard-$1.log" \
    || { tail -5 "$WORK/switchyard-$1.log" >&2; die "switchyard snapshot failed"; }
  elapsed "$start"
  [ "$(pgc_psql TGT -c "SELECT count(*) FROM shop.sbtest1")" = "$ROWS" ] || die "switchyard: sbtest1 incomplete"
  # The capture leaves the legacy: the next contender sees its tables only.
  "$SY" -c "$CFG" teardown --yes >/dev/null 2>&1 || die "switchyard teardown failed"
}

run_pgloader() {
  reset_target
  local start
  start=$(now)
  # With its defaults (prefetch rows = 100000) pgloader 3.6.7 exhausts its
  # 1 GB Lisp heap on these tables ("Heap exhausted, game over"); 10000 is
  # what its documentation suggests for wide rows.
  /usr/bin/time -v -o "$WORK/time-pgloader-$1" pgloader --with "prefetch rows = 10000" \
    "mysql://bench:bench-pw@127.0.0.1:$MDB_PORT/shop" "$(pg_uri TGT)" </dev/null >"$WORK/pgloader-$1.log" 2>&1 \
    || { tail -20 "$WORK/pgloader-$1.log" >&2; die "pgloader failed"; }
  elapsed "$start"
  [ "$(pgc_psql TGT -c "SELECT count(*) FROM shop.sbtest1")" = "$ROWS" ] || die "pgloader: sbtest1 incomplete"
}

declare -A SECONDS_OF RSS_OF
for run in $(seq 1 "$RUNS"); do
  for who in $CONTENDERS; do
    busy0=$(machine_busy)
    s=$("run_$who" "$run")
    busy1=$(machine_busy)
    rss=$(( $(max_rss_kb "$WORK/time-$who-$run") / 1024 ))
    SECONDS_OF[$who]+="$s "
    RSS_OF[$who]+="$rss "
    log "run $run: $who $s s ($(div "$BYTES" "$(awk -v s="$s" 'BEGIN { print s * 1048576 }')" 1) MB/s of InnoDB data), peak RSS $rss MiB, machine busy $(awk -v a="${busy0% *}" -v b="${busy1% *}" -v s="$s" 'BEGIN { printf "%.0f%%", 100 * (b - a) / s / 2 }') of 2 cores"
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo
machine_summary
echo "data:     sysbench $TABLES x $ROWS rows, $(div "$BYTES" 1073741824 2) GiB in InnoDB (MariaDB $(mdb_sql MDB -e 'SELECT VERSION()'))"
echo
echo "| contender | runs (s) | median s | peak RSS MiB (median) |"
echo "|---|---|---|---|"
for who in $CONTENDERS; do
  echo "| $who | ${SECONDS_OF[$who]}| $(echo "${SECONDS_OF[$who]}" | median) | $(echo "${RSS_OF[$who]}" | median) |"
done
if [[ "$CONTENDERS" == *switchyard*pgloader* ]]; then
  echo
  echo "switchyard is $(div "$(echo "${SECONDS_OF[pgloader]}" | median)" "$(echo "${SECONDS_OF[switchyard]}" | median)" 2)x pgloader (median of $RUNS runs each, interleaved)"
fi
