#!/usr/bin/env bash
# Verify benchmark: how fast does `switchyard verify` compare a large table,
# find one damaged row, and re-check the rows the replicator marked dirty?
#
#   bench/verify_scan.sh [path/to/switchyard]
#
# One pair of clusters: pgbench -i -s $SCALE on SRC, `switchyard replicate`
# copies it to TGT and keeps streaming for the whole run. Then, side by side
# on the same data:
#   1. full comparison of pgbench_accounts ($SCALE * 100 000 rows), $RUNS times:
#        switchyard  `verify --once --table public.pgbench_accounts --json`
#                    (rate limit off), wall clock of the process
#        scan        `COPY (SELECT * FROM pgbench_accounts ORDER BY aid) TO STDOUT`
#                    on both clusters at once into /dev/null: the scan limit
#        md5         data-diff style: per chunk of $CHUNK_ROWS aids one
#                    count + sum of md5-derived 60-bit integers per side, both
#                    sides at once, chunks in sequence, one persistent
#                    session per side
#      rows/s = rows of the table / wall seconds; peak RSS of switchyard.
#   2. one row changed on TGT only: time until `verify --once` names it (must
#      exit 1 with exactly that aid "different"), against the md5 chunk pass
#      (finds the chunk) plus a row-md5 diff inside that chunk (finds the row).
#      The row is then restored with `verify --repair`.
#   3. $DIRTY_UPDATES updates of distinct random aids on SRC (one
#      transaction), applied by the running replicator, then
#      `verify --dirty-only --table public.pgbench_accounts --json` timed,
#      $RUNS times. Goal < 100 ms.
#
# Environment: SCALE (50), RUNS (3), CHUNK_ROWS (100000), DIRTY_UPDATES (1000),
# VERIFY_TIMEOUT (1800 s, per command), SY_PGOPTIONS (PGOPTIONS for
# switchyard's verify commands only, e.g. "-c random_page_cost=1.1", for
# experiments; empty by default = server defaults like everyone else).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SCALE=${SCALE:-50}
RUNS=${RUNS:-3}
CHUNK_ROWS=${CHUNK_ROWS:-100000}
DIRTY_UPDATES=${DIRTY_UPDATES:-1000}
VERIFY_TIMEOUT=${VERIFY_TIMEOUT:-1800}
SY_PGOPTIONS=${SY_PGOPTIONS:-}
CONF=("max_wal_size = 8GB" "checkpoint_timeout = 30min")
ROWS=$(( SCALE * 100000 ))
TABLE=public.pgbench_accounts
SCAN_SQL="COPY (SELECT * FROM pgbench_accounts ORDER BY aid) TO STDOUT"

declare -A SY_S SY_REP SY_CHUNKS SY_RATE SY_RSS SY_CPU SCAN_S SCAN_RATE MD5_S MD5_RATE LOAD
declare -A CPU_SRC CPU_TGT
declare -A D_APPLY D_WALL D_REP D_TABLE D_ROWS D_LEFT D_LOAD

# median DECIMALS VALUES...: the median (mean of the middle two for an even
# count), with DECIMALS decimals.
median() {
  local decimals=$1; shift
  printf '%s\n' "$@" | sort -g | awk -v d="$decimals" '{ a[NR] = $1 } END {
    if (NR == 0) { print "n/a"; exit }
    m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    printf "%.*f\n", d, m }'
}

# json_get JSON EXPR...: evaluate json expressions over j (the JSON, parsed by
# the SRC server), joined by '|'. E.g. json_get "$json" "j->>'status'".
json_get() {
  local json=$1 list; shift
  list=$(IFS=,; echo "$*")
  pgc_psql SRC -v j="$json" <<SQL
SELECT concat_ws('|', $list) FROM (SELECT (:'j')::json AS j) s
SQL
}

# json_seconds OBJ: SQL for the duration an object of verify's JSON reports,
# in seconds ("milliseconds" since b722df7, "seconds" before).
json_seconds() {
  echo "coalesce(($1->>'milliseconds')::numeric / 1000, ($1->>'seconds')::numeric)"
}

# cpu_start / cpu_end KEY: server CPU (user+sys, all processes of each
# cluster) used in between.
cpu_start() { C0_SRC=$(cluster_cpu SRC); C0_TGT=$(cluster_cpu TGT); }
cpu_end() {
  # exited backends are counted once the postmaster has reaped them
  sleep 0.5
  CPU_SRC[$1]=$(awk -v a="$C0_SRC" -v b="$(cluster_cpu SRC)" 'BEGIN { printf "%.1f", b - a }')
  CPU_TGT[$1]=$(awk -v a="$C0_TGT" -v b="$(cluster_cpu TGT)" 'BEGIN { printf "%.1f", b - a }')
}

# sy_verify ARGS...: switchyard -c CFG verify ARGS, bounded, with SY_PGOPTIONS.
sy_verify() {
  PGOPTIONS="$SY_PGOPTIONS" timeout "$VERIFY_TIMEOUT" "$SY" -c "$CFG" verify "$@"
}

# ---- the md5-per-chunk contender: one persistent psql per side -----------

md5_open() {  # md5_open CLUSTER: sets MD5_<CLUSTER>_IN / _OUT (fds)
  local name=$1 port_var="${1}_PORT" fd_in fd_out
  mkfifo "$WORK/md5-$name.in" "$WORK/md5-$name.out"
  "$PG_BIN/psql" -h 127.0.0.1 -p "${!port_var}" -U postgres -d app -qAtX -v ON_ERROR_STOP=1 \
    <"$WORK/md5-$name.in" >"$WORK/md5-$name.out" 2>&1 &
  BACKGROUND+=("$!")
  exec {fd_in}>"$WORK/md5-$name.in" {fd_out}<"$WORK/md5-$name.out"
  printf -v "MD5_${name}_IN" '%s' "$fd_in"
  printf -v "MD5_${name}_OUT" '%s' "$fd_out"
}

# md5_chunk_sql K: the aggregate over chunk K (aid in (K*CHUNK_ROWS, (K+1)*CHUNK_ROWS];
# the last chunk is open-ended).
md5_chunk_sql() {
  local lo=$(( $1 * CHUNK_ROWS )) hi=$(( ($1 + 1) * CHUNK_ROWS )) where
  where="aid > $lo"
  [ "$hi" -ge "$ROWS" ] || where="$where AND aid <= $hi"
  echo "SELECT count(*) || '|' || coalesce(sum(('x' || substr(md5(t::text), 18))::bit(60)::bigint), 0) FROM pgbench_accounts t WHERE $where;"
}

# md5_pass: every chunk in sequence, each sent to both sides at once; sets
# MD5_DIFF (indexes of the chunks whose count or sum differ) and MD5_FIRST
# (seconds from the start of the pass until the first such chunk was seen).
md5_pass() {
  local k sql a b start
  MD5_DIFF=() MD5_FIRST=
  start=$(now)
  for (( k = 0; k * CHUNK_ROWS < ROWS; k++ )); do
    sql=$(md5_chunk_sql "$k")
    echo "$sql" >&"$MD5_SRC_IN"
    echo "$sql" >&"$MD5_TGT_IN"
    read -t "$VERIFY_TIMEOUT" -r a <&"$MD5_SRC_OUT" || die "md5 session on SRC did not answer"
    read -t "$VERIFY_TIMEOUT" -r b <&"$MD5_TGT_OUT" || die "md5 session on TGT did not answer"
    [[ "$a" =~ ^[0-9]+\|-?[0-9]+$ ]] || die "md5 session on SRC answered: $a"
    [[ "$b" =~ ^[0-9]+\|-?[0-9]+$ ]] || die "md5 session on TGT answered: $b"
    if [ "$a" != "$b" ]; then
      MD5_DIFF+=("$k")
      [ -n "$MD5_FIRST" ] || MD5_FIRST=$(elapsed "$start")
    fi
  done
}

# ---- the scan limit -----------------------------------------------------------

scan_both() {  # scan_both: COPY ... ORDER BY aid on both clusters at once, to /dev/null
  local p1 p2 rc=0
  timeout "$VERIFY_TIMEOUT" "$PG_BIN/psql" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -d app -qAtX \
    -v ON_ERROR_STOP=1 -c "$SCAN_SQL" >/dev/null 2>"$WORK/scan-src.err" &
  p1=$!
  timeout "$VERIFY_TIMEOUT" "$PG_BIN/psql" -h 127.0.0.1 -p "$TGT_PORT" -U postgres -d app -qAtX \
    -v ON_ERROR_STOP=1 -c "$SCAN_SQL" >/dev/null 2>"$WORK/scan-tgt.err" &
  p2=$!
  BACKGROUND+=("$p1" "$p2")
  wait "$p1" || rc=$?
  wait "$p2" || rc=$?
  [ "$rc" = 0 ] || { cat "$WORK"/scan-*.err >&2; die "scan COPY failed"; }
}

# ---- setup --------------------------------------------------------------

log "work dir $WORK"
pgc_start SRC "${CONF[@]}"
pgc_start TGT "${CONF[@]}"
log "SRC: pgbench -i -q -s $SCALE ($ROWS accounts)"
timeout 1800 pgbench -i -q -s "$SCALE" -h 127.0.0.1 -p "$SRC_PORT" -U postgres app >"$WORK/pgbench-init.log" 2>&1 \
  || { cat "$WORK/pgbench-init.log" >&2; die "pgbench -i failed"; }
pgc_psql SRC -c "ALTER TABLE pgbench_history REPLICA IDENTITY FULL"

CFG=$WORK/verify-bench.yaml
write_config "$CFG" "verify: { max_bytes_per_second: 0 }"
log "switchyard replicate (init + initial copy + streaming)"
REPLICATE_T0=$(now)
"$SY" -c "$CFG" replicate >"$WORK/replicate.log" 2>&1 &
REPLICATE_PID=$!
BACKGROUND+=("$REPLICATE_PID")
streaming() {
  kill -0 "$REPLICATE_PID" 2>/dev/null || { tail -20 "$WORK/replicate.log" >&2; die "switchyard replicate exited early"; }
  [ "$(pgc_psql TGT -c "SELECT phase FROM switchyard.streams WHERE name = 'switchyard'" 2>/dev/null)" = streaming ]
}
wait_for 1800 0.5 "switchyard replicate to finish the initial copy" -- streaming
# replicate_alive WHEN: die if replicate has stopped (measures 2 and 3 need it).
replicate_alive() {
  kill -0 "$REPLICATE_PID" 2>/dev/null || { tail -5 "$WORK/replicate.log" >&2; die "switchyard replicate is no longer running ($1)"; }
}
COPY_S=$(elapsed "$REPLICATE_T0")
log "initial copy done after $COPY_S s; phase streaming"

# Untimed preparation, the same for every contender: counts agree; VACUUM
# ANALYZE (hint bits, visibility map, statistics) on both sides so no
# contender pays for the freshly copied target's first read or meets
# autovacuum; a checkpoint; one scan of both sides to warm the OS page cache.
SRC_COUNT=$(pgc_psql SRC -c "SELECT count(*) FROM pgbench_accounts")
TGT_COUNT=$(pgc_psql TGT -c "SELECT count(*) FROM pgbench_accounts")
[ "$SRC_COUNT" = "$ROWS" ] && [ "$TGT_COUNT" = "$ROWS" ] || die "row counts: SRC $SRC_COUNT, TGT $TGT_COUNT, expected $ROWS"
for cluster in SRC TGT; do
  pgc_psql "$cluster" -c "VACUUM ANALYZE pgbench_accounts"
  pgc_psql "$cluster" -c "CHECKPOINT"
done
TABLE_BYTES=$(pgc_psql SRC -c "SELECT pg_table_size('pgbench_accounts')")
# For reading the figures: how well the heap follows aid order on each side
# (the target was filled by a parallel copy), and the plans of one chunk.
CORR_SQL="SELECT round(correlation::numeric, 3) FROM pg_stats WHERE schemaname = 'public' AND tablename = 'pgbench_accounts' AND attname = 'aid'"
CORR_SRC=$(pgc_psql SRC -c "$CORR_SQL")
CORR_TGT=$(pgc_psql TGT -c "$CORR_SQL")
for cluster in SRC TGT; do
  {
    echo "== $cluster"
    pgc_psql "$cluster" -c "EXPLAIN SELECT * FROM pgbench_accounts t WHERE t.aid > $(( ROWS / 2 )) AND t.aid <= $(( ROWS / 2 + 300000 )) ORDER BY t.aid"
    pgc_psql "$cluster" -c "EXPLAIN $(md5_chunk_sql $(( ROWS / CHUNK_ROWS / 2 )) | tr -d ';')"
    pgc_psql "$cluster" -c "EXPLAIN SELECT * FROM pgbench_accounts ORDER BY aid"
  } >>"$WORK/plans.txt"
done
log "correlation of aid with the heap order: SRC $CORR_SRC, TGT $CORR_TGT (plans in $WORK/plans.txt)"
log "warm-up scan of both sides (untimed); table $(div "$TABLE_BYTES" 1048576) MiB per side"
scan_both
md5_open SRC
md5_open TGT

# ---- 1. full comparison ---------------------------------------------------

for (( run = 1; run <= RUNS; run++ )); do
  LOAD[$run]=$(cut -d' ' -f1 /proc/loadavg)

  log "run $run: scan limit (COPY ... ORDER BY aid on both sides at once)"
  cpu_start; t0=$(now)
  scan_both
  SCAN_S[$run]=$(elapsed "$t0"); cpu_end "scan-$run"
  SCAN_RATE[$run]=$(div "$ROWS" "${SCAN_S[$run]}" 0)

  log "run $run: md5 per chunk of $CHUNK_ROWS rows"
  cpu_start; t0=$(now)
  md5_pass
  MD5_S[$run]=$(elapsed "$t0"); cpu_end "md5-$run"
  MD5_RATE[$run]=$(div "$ROWS" "${MD5_S[$run]}" 0)
  [ "${#MD5_DIFF[@]}" = 0 ] || die "md5 pass found differing chunks on identical tables: ${MD5_DIFF[*]}"

  log "run $run: switchyard verify --once"
  cpu_start; t0=$(now); rc=0
  /usr/bin/time -f '%M %U %S' -o "$WORK/once-$run.time" \
    env PGOPTIONS="$SY_PGOPTIONS" timeout "$VERIFY_TIMEOUT" "$SY" -c "$CFG" verify --once --table "$TABLE" --json >"$WORK/once-$run.json" 2>"$WORK/once-$run.log" || rc=$?
  SY_S[$run]=$(elapsed "$t0"); cpu_end "switchyard-$run"
  [ "$rc" = 0 ] || { cat "$WORK/once-$run.log" >&2; cat "$WORK/once-$run.json" >&2; die "verify --once on identical tables exited $rc (expected 0)"; }
  IFS="|" read -r status rows chunks reported < <(json_get "$(cat "$WORK/once-$run.json")" \
    "j->>'status'" "j->'tables'->0->>'rows_compared'" "j->'tables'->0->>'chunks'" "$(json_seconds "j")")
  [ "$status" = parity ] && [ "$rows" = "$ROWS" ] || die "verify --once reported status $status, $rows rows (expected parity, $ROWS)"
  SY_CHUNKS[$run]=$chunks
  SY_REP[$run]=$(printf '%.3f' "$reported")
  SY_RATE[$run]=$(div "$ROWS" "${SY_S[$run]}" 0)
  read -r rss user sys < <(tail -1 "$WORK/once-$run.time")
  SY_RSS[$run]=$rss
  SY_CPU[$run]=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.1f", u + s }')
  log "run $run: switchyard ${SY_S[$run]} s (${SY_RATE[$run]} rows/s, $chunks chunks, peak RSS $(div "$rss" 1024) MiB)," \
      "scan ${SCAN_S[$run]} s (${SCAN_RATE[$run]} rows/s), md5 ${MD5_S[$run]} s (${MD5_RATE[$run]} rows/s)"
done

# ---- 2. one changed row -----------------------------------------------------

replicate_alive "before measure 2"
VICTIM=$(shuf -i 1-"$ROWS" -n 1)
log "changing aid $VICTIM on the target only"
pgc_psql TGT -c "UPDATE pgbench_accounts SET filler = 'x' WHERE aid = $VICTIM"
FIND_LOAD=$(cut -d' ' -f1 /proc/loadavg)

t0=$(now); rc=0
sy_verify --once --table "$TABLE" --json >"$WORK/find.json" 2>"$WORK/find.log" || rc=$?
FIND_SY_S=$(elapsed "$t0")
[ "$rc" = 1 ] || { cat "$WORK/find.log" >&2; cat "$WORK/find.json" >&2; die "verify --once with one changed row exited $rc (expected 1)"; }
found=$(json_get "$(cat "$WORK/find.json")" "j->>'status'" "json_array_length(j->'mismatches')" \
  "j->'mismatches'->0->>'table'" "(j->'mismatches'->0->'key')::text" "j->'mismatches'->0->>'kind'")
expected="mismatch|1|$TABLE|{\"aid\":$VICTIM}|different"
[ "$found" = "$expected" ] || { cat "$WORK/find.json" >&2; die "verify --once reported $found; expected $expected"; }
FIND_RECHECKED=$(json_get "$(cat "$WORK/find.json")" "j->'tables'->0->>'rechecked'")
# when it named the row: its "mismatch: row ..." log line
stamp=$(grep -m1 -- "mismatch: row" "$WORK/find.log" | cut -c1-23)
FIND_SY_FIRST=$(if [ -n "$stamp" ]; then elapsed "$t0" "$(date -d "$stamp" +%s.%N)"; else echo "?"; fi)
log "switchyard found aid $VICTIM (different) in $FIND_SY_S s (named it after $FIND_SY_FIRST s; $FIND_RECHECKED rows re-checked)"

t0=$(now)
md5_pass
FIND_MD5_S=$(elapsed "$t0")
[ "${#MD5_DIFF[@]}" = 1 ] || die "md5 pass found ${#MD5_DIFF[@]} differing chunks (${MD5_DIFF[*]:-none}), expected 1"
FIND_CHUNK=${MD5_DIFF[0]}
FIND_MD5_FIRST=$MD5_FIRST
chunk_lo=$(( FIND_CHUNK * CHUNK_ROWS )); chunk_hi=$(( chunk_lo + CHUNK_ROWS ))
[ "$VICTIM" -gt "$chunk_lo" ] && [ "$VICTIM" -le "$chunk_hi" ] || die "md5 pass flagged chunk $FIND_CHUNK, which does not hold aid $VICTIM"
# data-diff's last step: the rows of the differing segment, md5 per row,
# both sides at once, compared by the client.
t0=$(now)
ROW_SQL="COPY (SELECT aid, md5(t::text) FROM pgbench_accounts t WHERE aid > $chunk_lo AND aid <= $chunk_hi ORDER BY aid) TO STDOUT"
pgc_psql SRC -c "$ROW_SQL" >"$WORK/rows-src.txt" & p1=$!
pgc_psql TGT -c "$ROW_SQL" >"$WORK/rows-tgt.txt" & p2=$!
wait "$p1"; wait "$p2"
row_found=$({ diff "$WORK/rows-src.txt" "$WORK/rows-tgt.txt" || true; } | awk '/^[<>]/ { print $2 }' | sort -un | paste -sd' ')
FIND_ROW_S=$(elapsed "$t0")
[ "$row_found" = "$VICTIM" ] || die "row diff of chunk $FIND_CHUNK found aids '$row_found', expected $VICTIM"
log "md5: chunk $FIND_CHUNK (aid in ($chunk_lo, $chunk_hi]) in $FIND_MD5_S s, then the row in $FIND_ROW_S s"

t0=$(now); rc=0
sy_verify --repair --json >"$WORK/repair.json" 2>"$WORK/repair.log" || rc=$?
REPAIR_S=$(elapsed "$t0")
[ "$rc" = 0 ] || { cat "$WORK/repair.log" >&2; cat "$WORK/repair.json" >&2; die "verify --repair exited $rc"; }
row_sql="SELECT md5(t::text) FROM pgbench_accounts t WHERE aid = $VICTIM"
[ "$(pgc_psql SRC -c "$row_sql")" = "$(pgc_psql TGT -c "$row_sql")" ] || die "aid $VICTIM still differs after verify --repair"
log "repaired aid $VICTIM in $REPAIR_S s"

# ---- 3. dirty-only after scattered updates -----------------------------------

dirty_marks() {  # dirty_marks [LSN]: keys marked for pgbench_accounts (in rows newer than LSN)
  pgc_psql TGT -c "SELECT coalesce(sum(coalesce(array_length(keys, 1), 1)), 0) FROM switchyard.dirty_keys WHERE stream = 'switchyard' AND schema_name = 'public' AND table_name = 'pgbench_accounts'${1:+ AND marked_lsn > '$1'::pg_lsn}"
}
DIRTY_BEFORE=$(dirty_marks)
[ "$DIRTY_BEFORE" = 0 ] || log "note: $DIRTY_BEFORE dirty marks on pgbench_accounts before the first dirty-only run"
for (( run = 1; run <= RUNS; run++ )); do
  replicate_alive "before dirty-only run $run"
  aids=$(shuf -i 1-"$ROWS" -n "$DIRTY_UPDATES" | paste -sd,)
  log "run $run: $DIRTY_UPDATES updates of random distinct aids on SRC (one transaction)"
  t0=$(now)
  mark=$(pgc_psql SRC -c "BEGIN" -c "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = ANY('{$aids}'::int[])" \
    -c "SELECT pg_current_wal_insert_lsn()" -c "COMMIT")
  applied() {
    [ "$(pgc_psql TGT -c "SELECT coalesce(pg_replication_origin_progress('switchyard', false) > '$mark'::pg_lsn, false)")" = t ] &&
      [ "$(dirty_marks "$mark")" -ge "$DIRTY_UPDATES" ]
  }
  wait_for 300 0.05 "the target to apply the updates and mark $DIRTY_UPDATES keys dirty" -- applied
  D_APPLY[$run]=$(elapsed "$t0")
  marks=$(dirty_marks)
  D_LOAD[$run]=$(cut -d' ' -f1 /proc/loadavg)

  t0=$(now); rc=0
  sy_verify --dirty-only --table "$TABLE" --json >"$WORK/dirty-$run.json" 2>"$WORK/dirty-$run.log" || rc=$?
  D_WALL[$run]=$(elapsed "$t0")
  [ "$rc" = 0 ] || { cat "$WORK/dirty-$run.log" >&2; cat "$WORK/dirty-$run.json" >&2; die "verify --dirty-only exited $rc (expected 0)"; }
  IFS="|" read -r status drows dtable dreported < <(json_get "$(cat "$WORK/dirty-$run.json")" \
    "j->>'status'" "j->'tables'->0->>'rows_compared'" "$(json_seconds "j->'tables'->0")" "$(json_seconds "j")")
  [ "$status" = parity ] || die "verify --dirty-only reported status $status"
  D_ROWS[$run]=$drows
  D_TABLE[$run]=$(printf '%.3f' "$dtable")
  D_REP[$run]=$(printf '%.3f' "$dreported")
  D_LEFT[$run]=$(dirty_marks)
  [ "${D_ROWS[$run]}" = "$marks" ] || log "note: $marks marks, but dirty-only compared ${D_ROWS[$run]} rows"
  log "run $run: applied after ${D_APPLY[$run]} s; dirty-only over $marks marks: ${D_WALL[$run]} s wall" \
      "(reports ${D_REP[$run]} s, table ${D_TABLE[$run]} s), ${D_LEFT[$run]} marks left"
done

# ---- stop ---------------------------------------------------------------

replicate_alive "at the end"
log "stopping replicate (SIGTERM)"
kill -TERM "$REPLICATE_PID"
rc=0
wait_pid_exit "$REPLICATE_PID" 60 || rc=$?
REPLICATE_RC=$rc
[ "$rc" = 0 ] || log "switchyard replicate exited $rc after SIGTERM (see $WORK/replicate.log)"

# ---- summary ------------------------------------------------------------

ms() { awk -v s="$1" 'BEGIN { printf "%.0f", s * 1000 }'; }
{
  echo "== Verify: pgbench_accounts, pgbench -s $SCALE ($ROWS rows, $(div "$TABLE_BYTES" 1048576) MiB per side) =="
  machine_summary
  [ -z "$SY_PGOPTIONS" ] || echo "PGOPTIONS of switchyard verify: $SY_PGOPTIONS"
  echo "initial copy (replicate until phase streaming): $COPY_S s; correlation of aid with heap order: SRC $CORR_SRC, TGT $CORR_TGT"
  echo
  echo "### 1. Full comparison (rows/s = $ROWS / wall seconds)"
  echo
  echo "| run | switchyard s | (reports) | chunks | switchyard rows/s | scan limit s | scan rows/s | switchyard / scan | md5 chunks s | md5 rows/s | switchyard / md5 | peak RSS MiB | load |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  r_scan=() r_md5=()
  for (( run = 1; run <= RUNS; run++ )); do
    r_scan+=("$(div "${SY_RATE[$run]}" "${SCAN_RATE[$run]}" 2)")
    r_md5+=("$(div "${SY_RATE[$run]}" "${MD5_RATE[$run]}" 2)")
    echo "| $run | ${SY_S[$run]} | ${SY_REP[$run]} | ${SY_CHUNKS[$run]} | ${SY_RATE[$run]} | ${SCAN_S[$run]} | ${SCAN_RATE[$run]} | ${r_scan[-1]} | ${MD5_S[$run]} | ${MD5_RATE[$run]} | ${r_md5[-1]} | $(div "${SY_RSS[$run]}" 1024) | ${LOAD[$run]} |"
  done
  echo "| **median** | $(median 3 "${SY_S[@]}") | $(median 3 "${SY_REP[@]}") | | $(median 0 "${SY_RATE[@]}") | $(median 3 "${SCAN_S[@]}") | $(median 0 "${SCAN_RATE[@]}") | $(median 2 "${r_scan[@]}") | $(median 3 "${MD5_S[@]}") | $(median 0 "${MD5_RATE[@]}") | $(median 2 "${r_md5[@]}") | $(div "$(median 0 "${SY_RSS[@]}")" 1024) | |"
  echo
  echo "CPU seconds (user+sys) during each contender: SRC / TGT = all server processes of the cluster,"
  echo "client = switchyard itself (the psql clients of scan and md5 are not measured)."
  echo
  echo "| run | switchyard SRC / TGT / client | scan SRC / TGT | md5 SRC / TGT |"
  echo "|---|---|---|---|"
  for (( run = 1; run <= RUNS; run++ )); do
    echo "| $run | ${CPU_SRC[switchyard-$run]} / ${CPU_TGT[switchyard-$run]} / ${SY_CPU[$run]} | ${CPU_SRC[scan-$run]} / ${CPU_TGT[scan-$run]} | ${CPU_SRC[md5-$run]} / ${CPU_TGT[md5-$run]} |"
  done
  echo
  echo "### 2. One row changed on the target (aid $VICTIM), load $FIND_LOAD"
  echo
  echo "| contender | whole pass s | difference seen after s | finds |"
  echo "|---|---:|---:|---|"
  echo "| switchyard \`verify --once\` | $FIND_SY_S | $FIND_SY_FIRST | the row: aid $VICTIM \"different\", exit 1 ($FIND_RECHECKED rows re-checked) |"
  echo "| md5 per chunk | $FIND_MD5_S | $FIND_MD5_FIRST | only the chunk: no. $FIND_CHUNK, aid in ($chunk_lo, $chunk_hi] |"
  echo "| md5 per chunk + row md5 diff of that chunk | $(awk -v a="$FIND_MD5_S" -v b="$FIND_ROW_S" 'BEGIN { printf "%.3f", a + b }') | | the row: aid $row_found (row step $FIND_ROW_S s) |"
  echo
  echo "\"difference seen after\": switchyard = its \"mismatch: row\" log line (row confirmed by the re-check),"
  echo "md5 = the differing chunk's answer; both from the start of the pass (aid $VICTIM is at $(div $(( VICTIM * 100 )) "$ROWS" 0) % of the table)."
  echo
  echo "switchyard / md5 chunk pass: $(div "$FIND_MD5_S" "$FIND_SY_S" 2)x the speed; \`verify --repair\` restored the row in $REPAIR_S s."
  echo
  echo "### 3. \`verify --dirty-only\` after $DIRTY_UPDATES scattered updates (goal < 100 ms)"
  echo
  echo "| run | apply wait s | rows compared | wall ms | reports ms (total / table) | marks left | load |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  walls=() reps=() tables=()
  for (( run = 1; run <= RUNS; run++ )); do
    walls+=("$(ms "${D_WALL[$run]}")"); reps+=("$(ms "${D_REP[$run]}")"); tables+=("$(ms "${D_TABLE[$run]}")")
    echo "| $run | ${D_APPLY[$run]} | ${D_ROWS[$run]} | ${walls[-1]} | ${reps[-1]} / ${tables[-1]} | ${D_LEFT[$run]} | ${D_LOAD[$run]} |"
  done
  echo "| **median** | | | $(median 0 "${walls[@]}") | $(median 0 "${reps[@]}") / $(median 0 "${tables[@]}") | | |"
  echo
  echo "apply wait = from the source's UPDATE until the target's origin passed its commit and the marks were there."
  echo "replicate exit after SIGTERM: $REPLICATE_RC"
} | tee "$WORK/verify_summary.txt"
