#!/usr/bin/env bash
# What `serve` costs a production primary, and what it answers under load.
#
# Each run loads a fresh pgbench -s 10 source with pgbench (8 clients, 2
# threads, -R 1000, BENCH_SECONDS long) twice, once per side, in turn:
#   native  PostgreSQL's own logical replication (a subscription) alone;
#   serve   switchyard serve: the stream, continuous verify at its default
#           rate, the HTTP server, /metrics and /api/v1/status asked every
#           second (as a Prometheus scrape and a dashboard would).
# Per side: pgbench's throughput and mean latency (what the application
# sees on the primary); for serve also its CPU seconds during the load, its
# peak RSS, the /metrics and /api/v1/status answer times (median and p95),
# and the verify passes finished. Medians over RUNS runs.
#
#   bench/serve_overhead.sh [SWITCHYARD]    RUNS=5 BENCH_SECONDS=300 by default;
#                                           ASK_STATUS=0: /metrics only, no /api/v1/status
set -euo pipefail
source "$(dirname "$0")/lib.sh"

RUNS=${RUNS:-5}
BENCH_SECONDS=${BENCH_SECONDS:-300}
SCALE=${SCALE:-10}
PGBENCH=("$PG_BIN/pgbench" -h 127.0.0.1 -U postgres -n -c 8 -j 2 -R 1000 -T "$BENCH_SECONDS")

setup_pair() {
  pgc_start SRC
  pgc_start TGT
  "$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -i -s "$SCALE" -q app >"$WORK/init.log" 2>&1
  pgc_psql SRC -c "ALTER TABLE pgbench_history REPLICA IDENTITY FULL"
}

# load SIDE RUN: pgbench on the source; its tps and mean latency into
# TPS[SIDE] and LAT[SIDE] (appended, one figure per run).
load() {
  local out="$WORK/pgbench-$1-$2.log"
  "${PGBENCH[@]}" -p "$SRC_PORT" app >"$out" 2>&1 || die "pgbench ($1): $(tail -3 "$out")"
  grep -E '^tps' "$out" | awk '{ print $3 }' >>"$WORK/tps-$1"
  grep -E '^latency average' "$out" | awk '{ print $4 }' >>"$WORK/lat-$1"
}

# percentile FILE P: the P-th percentile of the numbers in FILE.
percentile() {
  sort -g "$1" | awk -v p="$2" '{ v[NR] = $1 } END { i = int((NR - 1) * p / 100) + 1; print v[i] }'
}
median() { percentile "$1" 50; }

run_native() {
  setup_pair
  pgc_psql SRC -c "CREATE PUBLICATION bench_pub FOR ALL TABLES"
  "$PG_BIN/pg_dump" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -d app --schema-only | pgc_psql TGT >/dev/null
  pgc_psql TGT -c "CREATE SUBSCRIPTION bench_sub CONNECTION '$(pgc_conninfo SRC)' PUBLICATION bench_pub"
  synced() { [ "$(pgc_psql TGT -c "SELECT count(*) FILTER (WHERE srsubstate = 'r') = count(*) AND count(*) = 4 FROM pg_subscription_rel")" = t ]; }
  wait_for 600 0.5 "the subscription's initial sync" -- synced
  log "run $1 native: pgbench for ${BENCH_SECONDS}s"
  load native "$1"
  pgc_stop_all
}

run_serve() {
  setup_pair
  local port
  port=$(pgc_free_port)
  write_config "$WORK/sy.yaml" "service: { listen: \"127.0.0.1:$port\" }"
  "$SY" -c "$WORK/sy.yaml" serve >"$WORK/serve-$1.out" 2>"$WORK/serve-$1.log" &
  local pid=$!
  BACKGROUND+=("$pid")
  ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ]; }
  wait_for 600 0.5 "serve to stream" -- ready
  local passes_before cpu_before
  passes_before=$(grep -c "verify pass [0-9]* done" "$WORK/serve-$1.log" || true)
  cpu_before=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat")
  log "run $1 serve: pgbench for ${BENCH_SECONDS}s; /metrics and /api/v1/status every second"
  (
    while sleep 1; do
      curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port/metrics" >>"$WORK/metrics-ms.raw"
      [ "${ASK_STATUS:-1}" = 0 ] ||
        curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port/api/v1/status" >>"$WORK/status-ms.raw"
    done
  ) &
  local scraper=$!
  BACKGROUND+=("$scraper")
  load serve "$1"
  kill "$scraper" 2>/dev/null || true
  local cpu_after
  cpu_after=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat")
  awk -v a="$cpu_before" -v b="$cpu_after" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f\n", (b - a) / hz }' >>"$WORK/cpu-serve"
  awk '/VmHWM/ { printf "%.1f\n", $2 / 1024 }' "/proc/$pid/status" >>"$WORK/rss-serve"
  echo $(( $(grep -c "verify pass [0-9]* done" "$WORK/serve-$1.log" || true) - passes_before )) >>"$WORK/passes-serve"
  kill -TERM "$pid"
  wait_pid_exit "$pid" 120 || die "serve exited non-zero on SIGTERM"
  grep -q "mismatch:" "$WORK/serve-$1.log" && die "verify found a mismatch"
  pgc_stop_all
}

machine_summary
for run in $(seq 1 "$RUNS"); do
  run_native "$run"
  run_serve "$run"
done
awk '{ printf "%.1f\n", $1 * 1000 }' "$WORK/metrics-ms.raw" >"$WORK/metrics-ms"
touch "$WORK/status-ms.raw"
awk '{ printf "%.1f\n", $1 * 1000 }' "$WORK/status-ms.raw" >"$WORK/status-ms"

echo "load:     pgbench -s $SCALE, -c 8 -j 2 -R 1000 -T $BENCH_SECONDS; medians of $RUNS runs"
printf '%-8s %12s %18s\n' side "tps" "latency avg (ms)"
for side in native serve; do
  printf '%-8s %12s %18s\n' "$side" "$(median "$WORK/tps-$side")" "$(median "$WORK/lat-$side")"
done
echo "pgbench throughput, serve / native: $(div "$(median "$WORK/tps-serve")" "$(median "$WORK/tps-native")" 3)"
echo "pgbench latency,    serve / native: $(div "$(median "$WORK/lat-serve")" "$(median "$WORK/lat-native")" 3)"
echo "serve CPU during the load: $(median "$WORK/cpu-serve") s user+sys of $BENCH_SECONDS s; peak RSS $(median "$WORK/rss-serve") MiB; verify passes finished $(median "$WORK/passes-serve")"
echo "/metrics answer:       median $(median "$WORK/metrics-ms") ms, p95 $(percentile "$WORK/metrics-ms" 95) ms ($(wc -l <"$WORK/metrics-ms") requests)"
echo "/api/v1/status answer: median $(median "$WORK/status-ms") ms, p95 $(percentile "$WORK/status-ms" 95) ms ($(wc -l <"$WORK/status-ms") requests)"
