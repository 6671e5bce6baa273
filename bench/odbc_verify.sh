#!/usr/bin/env bash
# verify --once across engines (a MariaDB legacy against its PostgreSQL
# copy) on a large table, against the scan limit: reading both sides whole
# at once (MariaDB's client with --quick, PostgreSQL's COPY, both into
# /dev/null). Goal: >= 0.8x the scan limit. Peak RSS of verify.
#
#   bench/odbc_verify.sh [path/to/switchyard]
#   env: ROWS (5000000), RUNS (5)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$ROOT/scripts/lib/mariadb.sh"
trap 'mdb_stop_all; bench_cleanup' EXIT

ROWS=${ROWS:-5000000}
RUNS=${RUNS:-5}
command -v sysbench >/dev/null || die "sysbench is not installed (scripts/install-deps.sh)"

log "work dir $WORK"
pgc_start TGT
mdb_start MDB "innodb_buffer_pool_size = 1536M"
mdb_sql MDB -e "CREATE USER bench@'127.0.0.1' IDENTIFIED BY 'bench-pw'; GRANT ALL ON *.* TO bench@'127.0.0.1'"
log "MariaDB: sysbench prepare, 1 table x $ROWS rows"
sysbench oltp_read_write --db-driver=mysql --mysql-socket="$MDB_SOCKET" --mysql-user=root \
  --mysql-db=shop --tables=1 --table-size="$ROWS" prepare >"$WORK/prepare.log" 2>&1 \
  || { cat "$WORK/prepare.log" >&2; die "sysbench prepare failed"; }
CFG=$WORK/odbc.yaml
{
  echo "source: { driver: odbc, password_env: BENCH_PW, conninfo: \"Driver=MariaDB Unicode;Server=127.0.0.1;Port=$MDB_PORT;Database=shop;Uid=bench;CHARSET=utf8mb4\" }"
  echo "target: { driver: postgres, conninfo: \"$(pgc_conninfo TGT)\" }"
  echo "tables: { include: [\"shop.*\"] }"
  echo "verify: { max_bytes_per_second: 0 }"
} >"$CFG"
export BENCH_PW=bench-pw
log "switchyard snapshot"
"$SY" -c "$CFG" snapshot >"$WORK/snapshot.out" 2>"$WORK/snapshot.log" || { tail "$WORK/snapshot.log" >&2; die "snapshot"; }
pgc_psql TGT -c "VACUUM ANALYZE shop.sbtest1" >/dev/null

scan_both() {
  local p1 p2 rc=0
  mariadb --socket="$MDB_SOCKET" -uroot --quick --batch --skip-column-names shop \
    -e "SELECT id, k, c, pad FROM sbtest1" >/dev/null &
  p1=$!
  "$PG_BIN/psql" -h 127.0.0.1 -p "$TGT_PORT" -U postgres -d app -qAtX \
    -c "COPY shop.sbtest1 (id, k, c, pad) TO STDOUT" >/dev/null &
  p2=$!
  wait "$p1" || rc=$?
  wait "$p2" || rc=$?
  [ "$rc" = 0 ] || die "scan failed"
}

declare -a VERIFY SCAN RSS
for run in $(seq 1 "$RUNS"); do
  start=$(now)
  /usr/bin/time -v -o "$WORK/time-verify-$run" "$SY" -c "$CFG" verify --once >"$WORK/verify-$run.out" 2>"$WORK/verify-$run.log" \
    || { cat "$WORK/verify-$run.out" >&2; die "verify did not find parity"; }
  VERIFY+=("$(elapsed "$start")")
  RSS+=("$(( $(max_rss_kb "$WORK/time-verify-$run") / 1024 ))")
  start=$(now)
  scan_both
  SCAN+=("$(elapsed "$start")")
  log "run $run: verify --once ${VERIFY[-1]} s ($(cat "$WORK/verify-$run.out")), peak RSS ${RSS[-1]} MiB; scan limit ${SCAN[-1]} s"
done

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo
machine_summary
echo "data:     sysbench sbtest1, $ROWS rows, MariaDB $(mdb_sql MDB -e 'SELECT VERSION()') -> PostgreSQL; nothing else running"
echo
echo "| run | verify --once s | scan limit s | verify / scan | peak RSS MiB |"
echo "|---|---|---|---|---|"
for i in $(seq 0 $((RUNS - 1))); do
  echo "| $((i + 1)) | ${VERIFY[$i]} | ${SCAN[$i]} | $(div "${SCAN[$i]}" "${VERIFY[$i]}" 2)x | ${RSS[$i]} |"
done
v=$(median "${VERIFY[@]}"); s=$(median "${SCAN[@]}")
echo "| median | $v | $s | $(div "$s" "$v" 2)x | $(median "${RSS[@]}") |"
