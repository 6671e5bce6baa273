#!/usr/bin/env bash
# Snapshot copy benchmark: copy a >= 1 GiB pgbench database (tables, then
# their primary keys) into an empty target.
#
#   bench/snapshot_copy.sh [path/to/switchyard]
#
# One source cluster (pgbench -i -s $SCALE), and for every contender a fresh
# target cluster with an empty database. Contenders (all timed end to end):
#   switchyard      `switchyard snapshot` with 4 workers: init (schema, publication,
#                   slot with exported snapshot), COPY (tables over 256 MiB split
#                   in ctid ranges), primary keys, origin bookkeeping
#   pgcopydb        pgcopydb clone --table-jobs 4 --index-jobs 4: schema, COPY,
#                   indexes/constraints, VACUUM ANALYZE, sequences
#   pgcopydb_split  the same with --split-tables-larger-than 256MB (switchyard's
#                   default split threshold)
#   pipe            pre-data schema via pg_dump | psql, then one
#                   `psql COPY TO STDOUT | psql COPY FROM STDIN` per table, all
#                   tables in parallel, then the primary keys in parallel
# MiB/s = source table data (sum of pg_table_size of the pgbench tables,
# the same figure for every contender) / wall-clock seconds.
#
# Environment: SCALE (85), WORKERS (4; SY_WORKERS for switchyard alone), RUNS (3: every contender once per
# run, in turn), COPY_TIMEOUT (3600 s), SPLIT and MWM (switchyard's
# snapshot.split_tables_larger_than and snapshot.maintenance_work_mem;
# empty: its defaults), CONTENDERS ("switchyard pgcopydb pgcopydb_split
# pipe"; also switchyard_base, the binary SY_BASE names, for an A/B of two
# builds in one run). Every figure is kept per run with the 1-minute load average at its
# end; the summary gives each run and the medians.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SCALE=${SCALE:-85}
WORKERS=${WORKERS:-4}
SY_WORKERS=${SY_WORKERS:-$WORKERS}   # switchyard's snapshot.workers, when it should differ from the peers'
SPLIT=${SPLIT:-}   # switchyard's snapshot.split_tables_larger_than; empty: its default
MWM=${MWM:-}       # switchyard's snapshot.maintenance_work_mem; empty: its default
RUNS=${RUNS:-3}
COPY_TIMEOUT=${COPY_TIMEOUT:-3600}
CONTENDERS=${CONTENDERS:-"switchyard pgcopydb pgcopydb_split pipe"}
MIN_BYTES=${MIN_BYTES:-$((1 << 30))}
CONF=("max_wal_size = 8GB" "checkpoint_timeout = 30min")
TABLES=(pgbench_accounts pgbench_branches pgbench_history pgbench_tellers)

# Per run: SECS[contender] etc. hold the current run; ALL_*[contender,run] all of them.
declare -A SECS COPY_SECS POST_SECS RSS CPU SRV_CPU SRV_SPLIT NOTE
declare -A ALL_SECS ALL_COPY ALL_POST ALL_LOAD ALL_SRV

# ---- source ---------------------------------------------------------------

pgc_start SRC "${CONF[@]}"
log "work dir $WORK"
log "SRC: pgbench -i -s $SCALE"
timeout 1800 pgbench -i -q -s "$SCALE" -h 127.0.0.1 -p "$SRC_PORT" -U postgres app >"$WORK/pgbench-init.log" 2>&1 \
  || { cat "$WORK/pgbench-init.log" >&2; die "pgbench -i failed"; }
# switchyard refuses tables without a replica identity (the pipe and
# pgcopydb do not care); applied before any contender, so all copy the same.
pgc_psql SRC -c "ALTER TABLE pgbench_history REPLICA IDENTITY FULL"
pgc_psql SRC -c "CHECKPOINT"
DATA_BYTES=$(pgc_psql SRC -c "SELECT sum(pg_table_size(c.oid)) FROM pg_class c WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace")
HEAP_BYTES=$(pgc_psql SRC -c "SELECT sum(pg_relation_size(c.oid)) FROM pg_class c WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace")
DB_BYTES=$(pgc_psql SRC -c "SELECT pg_database_size('app')")
ROWS=$(pgc_psql SRC -c "SELECT sum(n_live_tup) FROM pg_stat_user_tables")
log "SRC: table data $(div "$DATA_BYTES" 1048576) MiB (heap $(div "$HEAP_BYTES" 1048576) MiB), database $(div "$DB_BYTES" 1048576) MiB, ~$ROWS rows"
[ "$HEAP_BYTES" -ge "$MIN_BYTES" ] || die "table data is only $HEAP_BYTES bytes; raise SCALE"
SRC_COUNTS=$(pgc_psql SRC -c "SELECT string_agg(t || '=' || n, ' ' ORDER BY t) FROM (VALUES ('accounts', (SELECT count(*) FROM pgbench_accounts)), ('branches', (SELECT count(*) FROM pgbench_branches)), ('tellers', (SELECT count(*) FROM pgbench_tellers)), ('history', (SELECT count(*) FROM pgbench_history))) v(t, n)")

# ---- helpers --------------------------------------------------------------

fresh_target() {
  log "$1: fresh target cluster; sync"
  timeout 600 sync || true
  pgc_start TGT "${CONF[@]}"
  pgc_psql SRC -c "CHECKPOINT"
}

# verify CONTENDER: same row counts, primary keys present (not timed).
verify() {
  local name=$1 counts pkeys
  counts=$(pgc_psql TGT -c "SELECT string_agg(t || '=' || n, ' ' ORDER BY t) FROM (VALUES ('accounts', (SELECT count(*) FROM public.pgbench_accounts)), ('branches', (SELECT count(*) FROM public.pgbench_branches)), ('tellers', (SELECT count(*) FROM public.pgbench_tellers)), ('history', (SELECT count(*) FROM public.pgbench_history))) v(t, n)")
  pkeys=$(pgc_psql TGT -c "SELECT count(*) FROM pg_constraint WHERE contype = 'p' AND connamespace = 'public'::regnamespace")
  if [ "$counts" = "$SRC_COUNTS" ] && [ "$pkeys" = 3 ]; then
    log "$name: verified: $counts, $pkeys primary keys"
  else
    log "$name: VERIFY FAILED: target $counts ($pkeys primary keys), source $SRC_COUNTS"
    NOTE[$name]="${NOTE[$name]:-} verify failed"
  fi
}

# log_time FILE PATTERN: epoch seconds of the first switchyard log line matching.
log_time() {
  local stamp
  stamp=$(grep -m1 -- "$2" "$1" | cut -c1-23)
  [ -n "$stamp" ] || { echo ""; return 0; }
  date -d "$stamp" +%s.%N
}

# CPU seconds each cluster has used so far, "source target". The servers
# do nearly all of a copy's work, and on a shared machine their CPU time
# varies far less between runs than the wall clock does.
servers_cpu() { echo "$(cluster_cpu SRC) $(cluster_cpu TGT)"; }
# servers_cpu_since NAME "START": what both used since START (SRV_CPU, and
# "source / target" in SRV_SPLIT), once the contender's backends have exited
# and been counted.
servers_cpu_since() {
  sleep 0.5
  local now_cpu
  now_cpu=$(servers_cpu)
  SRV_CPU[$1]=$(awk -v a="$2" -v b="$now_cpu" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.1f", y[1] - x[1] + y[2] - x[2] }')
  SRV_SPLIT[$1]=$(awk -v a="$2" -v b="$now_cpu" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.1f / %.1f", y[1] - x[1], y[2] - x[2] }')
}

# ---- contenders -----------------------------------------------------------

run_switchyard() {  # run_switchyard NAME BINARY
  local name=$1 sy=$2
  fresh_target "$name"
  local cfg=$WORK/$name.yaml t0 t1 c0 rc=0
  write_config "$cfg" "snapshot: { workers: $SY_WORKERS${SPLIT:+, split_tables_larger_than: $SPLIT}${MWM:+, maintenance_work_mem: $MWM} }"
  log "$name: snapshot ($SY_WORKERS workers)"
  c0=$(servers_cpu)
  t0=$(now)
  /usr/bin/time -v -o "$WORK/$name-time.txt" timeout "$COPY_TIMEOUT" "$sy" -c "$cfg" snapshot \
    >"$WORK/$name-snapshot.log" 2>&1 || rc=$?
  t1=$(now)
  [ "$rc" = 0 ] || { tail -20 "$WORK/$name-snapshot.log" >&2; die "$name snapshot failed (exit $rc)"; }
  SECS[$name]=$(elapsed "$t0" "$t1")
  servers_cpu_since "$name" "$c0"
  local lc lb ld
  lc=$(log_time "$WORK/$name-snapshot.log" "snapshot: copying")
  lb=$(log_time "$WORK/$name-snapshot.log" "building keys and indexes")
  ld=$(log_time "$WORK/$name-snapshot.log" "initial copy done")
  if [ -n "$lc" ] && [ -n "$lb" ] && [ -n "$ld" ]; then
    COPY_SECS[$name]=$(elapsed "$lc" "$lb")
    POST_SECS[$name]=$(elapsed "$lb" "$ld")
  fi
  RSS[$name]=$(max_rss_kb "$WORK/$name-time.txt")
  CPU[$name]=$(cpu_seconds "$WORK/$name-time.txt")
  log "$name: ${SECS[$name]} s (copy ${COPY_SECS[$name]:-?} s, keys ${POST_SECS[$name]:-?} s), servers' CPU ${SRV_CPU[$name]} s (source / target ${SRV_SPLIT[$name]}), peak RSS $(div "${RSS[$name]}" 1024) MiB"
  verify "$name"
  "$sy" -c "$cfg" teardown --yes >"$WORK/$name-teardown.log" 2>&1 || log "$name: teardown failed (see $WORK/$name-teardown.log)"
  stop_cluster TGT
}

run_pgcopydb() {  # run_pgcopydb NAME [extra pgcopydb args]
  local name=$1; shift
  fresh_target "$name"
  local t0 t1 c0 rc=0
  rm -rf "$WORK/$name-dir"
  log "$name: pgcopydb clone --table-jobs $WORKERS --index-jobs $WORKERS $*"
  c0=$(servers_cpu)
  t0=$(now)
  /usr/bin/time -v -o "$WORK/$name-time.txt" timeout "$COPY_TIMEOUT" \
    pgcopydb clone --source "$(pg_uri SRC)" --target "$(pg_uri TGT)" \
      --table-jobs "$WORKERS" --index-jobs "$WORKERS" --dir "$WORK/$name-dir" --no-owner "$@" \
    >"$WORK/$name.log" 2>&1 || rc=$?
  t1=$(now)
  [ "$rc" = 0 ] || { tail -30 "$WORK/$name.log" >&2; die "pgcopydb clone failed (exit $rc)"; }
  SECS[$name]=$(elapsed "$t0" "$t1")
  servers_cpu_since "$name" "$c0"
  RSS[$name]=$(max_rss_kb "$WORK/$name-time.txt")
  CPU[$name]=$(cpu_seconds "$WORK/$name-time.txt")
  log "$name: ${SECS[$name]} s, servers' CPU ${SRV_CPU[$name]} s (source / target ${SRV_SPLIT[$name]})"
  # pgcopydb's own per-step timing table, for the record.
  sed -n '/Step /,$p' "$WORK/$name.log" | sed 's/^/    /' >&2 || true
  verify "$name"
  stop_cluster TGT
}

run_pipe() {
  fresh_target pipe
  local t0 t1 tc c0 pid pids=() failed=0 table
  local src_psql=("$PG_BIN/psql" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -d app -qAtX -v ON_ERROR_STOP=1)
  local tgt_psql=("$PG_BIN/psql" -h 127.0.0.1 -p "$TGT_PORT" -U postgres -d app -qAtX -v ON_ERROR_STOP=1)
  mapfile -t pkeys < <(pgc_psql SRC -c "SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname, pg_get_constraintdef(oid)) FROM pg_constraint WHERE contype = 'p' AND connamespace = 'public'::regnamespace")
  log "pipe: schema, ${#TABLES[@]} COPY pipes in parallel, then ${#pkeys[@]} primary keys in parallel"
  c0=$(servers_cpu)
  t0=$(now)
  pg_dump -h 127.0.0.1 -p "$SRC_PORT" -U postgres -d app --schema-only --section=pre-data -t 'public.pgbench_*' \
    | "${tgt_psql[@]}" >/dev/null
  for table in "${TABLES[@]}"; do
    ( set -o pipefail
      timeout "$COPY_TIMEOUT" "${src_psql[@]}" -c "COPY public.$table TO STDOUT" \
        | timeout "$COPY_TIMEOUT" "${tgt_psql[@]}" -c "COPY public.$table FROM STDIN" ) \
      >"$WORK/pipe-$table.log" 2>&1 &
    pids+=($!)
  done
  BACKGROUND+=("${pids[@]}")
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  tc=$(now)
  [ "$failed" = 0 ] || { cat "$WORK"/pipe-*.log >&2; die "a COPY pipe failed"; }
  pids=()
  local sql
  for sql in "${pkeys[@]}"; do
    timeout "$COPY_TIMEOUT" "${tgt_psql[@]}" -c "SET maintenance_work_mem = '256MB'" -c "$sql" \
      >>"$WORK/pipe-pkeys.log" 2>&1 &
    pids+=($!)
  done
  BACKGROUND+=("${pids[@]}")
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  t1=$(now)
  [ "$failed" = 0 ] || { cat "$WORK/pipe-pkeys.log" >&2; die "creating a primary key failed"; }
  SECS[pipe]=$(elapsed "$t0" "$t1")
  servers_cpu_since pipe "$c0"
  COPY_SECS[pipe]=$(elapsed "$t0" "$tc")
  POST_SECS[pipe]=$(elapsed "$tc" "$t1")
  log "pipe: ${SECS[pipe]} s (schema + copy ${COPY_SECS[pipe]} s, keys ${POST_SECS[pipe]} s), servers' CPU ${SRV_CPU[pipe]} s (source / target ${SRV_SPLIT[pipe]})"
  verify pipe
  stop_cluster TGT
}

# ---- main -----------------------------------------------------------------

# median VALUES...: the median (mean of the middle two for an even count).
median() {
  printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END {
    if (NR == 0) { print "-"; exit }
    m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    printf "%.3f\n", m }'
}

for run in $(seq 1 "$RUNS"); do
  for contender in $CONTENDERS; do
    SECS[$contender]=""; COPY_SECS[$contender]=""; POST_SECS[$contender]=""; SRV_CPU[$contender]=""
    case $contender in
      switchyard) run_switchyard switchyard "$SY" ;;
      switchyard_base) run_switchyard switchyard_base "${SY_BASE:?SY_BASE names the binary to compare with}" ;;
      pgcopydb) run_pgcopydb pgcopydb ;;
      pgcopydb_split) run_pgcopydb pgcopydb_split --split-tables-larger-than 256MB ;;
      pipe) run_pipe ;;
      *) die "unknown contender $contender" ;;
    esac
    ALL_SECS[$contender,$run]=${SECS[$contender]}
    ALL_COPY[$contender,$run]=${COPY_SECS[$contender]:--}
    ALL_POST[$contender,$run]=${POST_SECS[$contender]:--}
    ALL_SRV[$contender,$run]=${SRV_CPU[$contender]:--}
    ALL_LOAD[$contender,$run]=$(cut -d' ' -f1 /proc/loadavg)
  done
done

# values_of ARRAY CONTENDER: that contender's figure in every run.
values_of() {
  local -n array=$1
  local run
  for run in $(seq 1 "$RUNS"); do
    [ "${array[$2,$run]:--}" = - ] || echo "${array[$2,$run]}"
  done
}
for contender in $CONTENDERS; do
  mapfile -t values < <(values_of ALL_SECS "$contender")
  SECS[$contender]=$(median "${values[@]}")
  mapfile -t values < <(values_of ALL_COPY "$contender")
  [ "${#values[@]}" = 0 ] || COPY_SECS[$contender]=$(median "${values[@]}")
  mapfile -t values < <(values_of ALL_POST "$contender")
  [ "${#values[@]}" = 0 ] || POST_SECS[$contender]=$(median "${values[@]}")
  mapfile -t values < <(values_of ALL_SRV "$contender")
  [ "${#values[@]}" = 0 ] || SRV_CPU[$contender]=$(median "${values[@]}")
done

{
  echo "== Snapshot copy: pgbench -s $SCALE, $WORKERS workers/jobs =="
  machine_summary
  echo "runs:     $RUNS, contenders in turn ($CONTENDERS); figures below are medians"
  echo "source:   table data $(div "$DATA_BYTES" 1048576) MiB (pg_table_size; heap $(div "$HEAP_BYTES" 1048576) MiB), database $(div "$DB_BYTES" 1048576) MiB; $SRC_COUNTS"
  echo
  printf '%-15s %10s %10s %10s %10s %12s %10s %10s %12s  %s\n' contender "total s" "MiB/s" "copy s" "keys s" "vs pgcopydb" "peak RSS" "CPU s" "servers' CPU" notes
  for contender in $CONTENDERS; do
    local_rss=${RSS[$contender]:-}
    printf '%-15s %10s %10s %10s %10s %12s %10s %10s %12s  %s\n' "$contender" "${SECS[$contender]}" \
      "$(div "$DATA_BYTES" "$(awk -v s="${SECS[$contender]}" 'BEGIN { print s * 1048576 }')" 1)" \
      "${COPY_SECS[$contender]:--}" "${POST_SECS[$contender]:--}" \
      "$(if [ -n "${SECS[pgcopydb]:-}" ]; then div "${SECS[pgcopydb]}" "${SECS[$contender]}" 2; else echo -; fi)" \
      "$(if [ -n "$local_rss" ]; then echo "$(div "$local_rss" 1024 0)MiB"; else echo -; fi)" \
      "${CPU[$contender]:--}" "${SRV_CPU[$contender]:--}" "${NOTE[$contender]:-}"
  done
  echo
  echo "per run: total s (copy / keys), vs pgcopydb of the same run, servers' CPU s, 1-minute load average after it"
  for run in $(seq 1 "$RUNS"); do
    for contender in $CONTENDERS; do
      ratio=-
      [ -n "${ALL_SECS[pgcopydb,$run]:-}" ] && ratio=$(div "${ALL_SECS[pgcopydb,$run]}" "${ALL_SECS[$contender,$run]}" 2)
      printf '  run %d %-15s %8s s (%s / %s)  %5s  servers %s s  load %s\n' "$run" "$contender" "${ALL_SECS[$contender,$run]}" \
        "${ALL_COPY[$contender,$run]}" "${ALL_POST[$contender,$run]}" "$ratio" "${ALL_SRV[$contender,$run]}" "${ALL_LOAD[$contender,$run]}"
    done
  done
  echo
  echo "vs pgcopydb = pgcopydb seconds / contender seconds (> 1 means faster than pgcopydb)."
  echo "peak RSS / CPU s: /usr/bin/time -v of the client process tree (largest single process; user+sys"
  echo "of the client processes only, not the servers); the pipe's psql processes are not measured."
  echo "servers' CPU = user+sys of both clusters' processes during the contender's run (source and target)."
} | tee "$WORK/snapshot_summary.txt"
