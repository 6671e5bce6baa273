# Shared helpers for the integration tests. Each test is a bash script run
# by CTest as `bash TEST.sh PATH/TO/switchyard`; it starts its own clusters
# (scripts/lib/pgcluster.sh) and removes them on exit.
set -euo pipefail

SY=${1:?usage: $0 path/to/switchyard}
SY=$(cd "$(dirname "$SY")" && pwd)/$(basename "$SY")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../../scripts/lib/pgcluster.sh
source "$ROOT/scripts/lib/pgcluster.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-it.XXXXXX")
BACKGROUND=()
it_cleanup() {
  local pid
  for pid in "${BACKGROUND[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP_LOGS:-}" ] && cp "$WORK"/*.log /tmp/ 2>/dev/null; pgc_stop_all
  rm -rf "$WORK"
}
trap it_cleanup EXIT

# Under `set -o pipefail`, `cmd | grep -q X` fails when X is found early:
# grep exits at the first match, and a cmd still writing (ldd, or status,
# line by line) dies of SIGPIPE, which the pipeline reports as its failure.
# Scripts here write `cmd | grep X >/dev/null`, which reads to the end.

# sanitized_build: whether $SY is the AddressSanitizer build, whose shadow
# memory and quarantine of freed blocks make its RSS say nothing about ours.
sanitized_build() { [[ "$(ldd "$SY" 2>/dev/null)" == *libasan* ]]; }

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
# On a failure the stream's own log says what it was doing: its tail too.
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  if [ -s "$WORK/replicate.log" ]; then
    echo "--- the last lines of replicate.log:" >&2
    tail -n 25 "$WORK/replicate.log" >&2
  fi
  exit 1
}

# write_config FILE [extra yaml lines...]: source SRC, target TGT.
write_config() {
  local file=$1; shift
  {
    echo "source: { driver: postgres, conninfo: \"$(pgc_conninfo SRC)\" }"
    echo "target: { driver: postgres, conninfo: \"$(pgc_conninfo TGT)\" }"
    for line in "$@"; do echo "$line"; done
  } >"$file"
}

# expect_failure CODE PATTERN -- command...: the command must exit with CODE
# and its last stderr line must be one "switchyard: error:" line matching PATTERN.
expect_failure() {
  local code=$1 pattern=$2; shift 3
  local rc=0
  "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  local last
  last=$(tail -n 1 "$WORK/err")
  [ "$rc" = "$code" ] || { cat "$WORK/err" >&2; fail "expected exit $code, got $rc: $*"; }
  [[ "$last" == "switchyard: error: "* ]] || fail "no one-line error for: $* (got: $last)"
  echo "$last" | grep -Eq -- "$pattern" || fail "error does not match /$pattern/: $last"
  log "ok: exit $code: ${last#switchyard: error: }"
}

# Independent of switchyard: row count and md5 over every row's text, in a
# fixed order, computed by each server. The alias must not be a column name:
# with `FROM all_types t`, `t::text` was the time column t, not the row.
table_digest() {
  local cluster=$1 table=$2
  pgc_psql "$cluster" 2>/dev/null -c "SELECT count(*) || ' ' || md5(coalesce(string_agg(digest_row::text, E'\n' ORDER BY digest_row::text COLLATE \"C\"), '')) FROM $table digest_row"
}

# parity_ok TABLE...: 0 if every table has the same digest on SRC and TGT.
parity_ok() {
  local table
  for table in "$@"; do
    [ "$(table_digest SRC "$table")" = "$(table_digest TGT "$table")" ] || return 1
  done
}

# wait_parity SECONDS TABLE...: wait until parity holds, else fail naming tables.
wait_parity() {
  local seconds=$1; shift
  local deadline=$(( $(date +%s) + seconds ))
  while ! parity_ok "$@"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      local table
      for table in "$@"; do
        echo "$table: source $(table_digest SRC "$table") target $(table_digest TGT "$table")" >&2
      done
      fail "no parity after ${seconds}s"
    fi
    sleep 1
  done
}

# hold_table_lock CLUSTER TABLE: an ACCESS EXCLUSIVE lock on TABLE, held by
# a background session until release_lock CLUSTER; returns once the
# lock is granted (on a busy machine psql may take longer to start than
# any fixed sleep).
hold_table_lock() {
  PGAPPNAME=test-lock-holder pgc_psql "$1" -c "BEGIN; LOCK TABLE $2; SELECT pg_sleep(600); COMMIT" >/dev/null 2>&1 &
  LOCK_HOLDER_PID=$!
  local _
  for _ in $(seq 1 300); do
    [ "$(pgc_psql "$1" -c "SELECT count(*) FROM pg_locks WHERE relation = '$2'::regclass AND mode = 'AccessExclusiveLock' AND granted")" = 1 ] && return 0
    sleep 0.1
  done
  fail "$1: the lock on $2 was not granted within 30 s"
}
# hold_advisory_lock CLUSTER KEY: the same with pg_advisory_lock(KEY), for a
# transaction that must stay open until the test lets it go (it waits on
# the lock after its writes).
hold_advisory_lock() {
  PGAPPNAME=test-lock-holder pgc_psql "$1" -c "SELECT pg_advisory_lock($2); SELECT pg_sleep(600)" >/dev/null 2>&1 &
  LOCK_HOLDER_PID=$!
  local _
  for _ in $(seq 1 300); do
    [ "$(advisory_waiters "$1" "$2" true)" = 1 ] && return 0
    sleep 0.1
  done
  fail "$1: advisory lock $2 was not granted within 30 s"
}
# advisory_waiters CLUSTER KEY GRANTED: sessions holding (true) or waiting
# for (false) advisory lock KEY.
advisory_waiters() {
  pgc_psql "$1" -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $2 AND granted = $3"
}
release_lock() {
  pgc_psql "$1" -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'test-lock-holder'" >/dev/null
  wait "$LOCK_HOLDER_PID" 2>/dev/null || true
}

# SRC and TGT clusters; SRC holds every column type (types_schema.sql,
# types_rows.sql, TOASTed rows) and a pgbench -s 5 dataset, the mixed load
# of types_load.sql plus pgbench's TPC-B-like script.
start_mixed_workload_clusters() {
  pgc_start SRC
  pgc_start TGT
  pgc_psql SRC -f "$HERE/types_schema.sql"
  pgc_psql SRC -f "$HERE/types_rows.sql"
  pgc_psql SRC -c "INSERT INTO toasty SELECT g, (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 400) i), 0 FROM generate_series(1, 5) g"
  "$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -i -s 5 -q app >"$WORK/pgbench-init.log" 2>&1
  pgc_psql SRC -c "ALTER TABLE pgbench_history REPLICA IDENTITY FULL"
}

# start_mixed_load SECONDS PGBENCH_RATE: in the background on SRC, pgbench's
# TPC-B-like script at PGBENCH_RATE tx/s and types_load.sql at 60 tx/s; sets
# BENCH_PID and TYPES_PID (logs: $WORK/pgbench.log, $WORK/types-load.log).
start_mixed_load() {
  local seconds=$1 rate=$2
  "$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -c 4 -j 2 -T "$seconds" -R "$rate" app \
    >"$WORK/pgbench.log" 2>&1 &
  BENCH_PID=$!; BACKGROUND+=("$BENCH_PID")
  "$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -n -c 2 -T "$seconds" -R 60 \
    -f "$HERE/types_load.sql" app >"$WORK/types-load.log" 2>&1 &
  TYPES_PID=$!; BACKGROUND+=("$TYPES_PID")
}

# All user tables of the source, schema-qualified and quoted.
source_tables() {
  pgc_psql SRC -c "SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables
                   WHERE schemaname <> 'switchyard' ORDER BY 1"
}

# start_replicate CONFIG LOG: runs `replicate` in the background; sets REPLICATE_PID.
start_replicate() {
  "$SY" -c "$1" replicate >>"$2" 2>&1 &
  REPLICATE_PID=$!
  BACKGROUND+=("$REPLICATE_PID")
}

# wait_streaming CONFIG: until `status` says the stream is past its initial
# copy (the rows can all be there while the keys are still being built, and
# verify refuses to run before then).
wait_streaming() {
  local _
  for _ in $(seq 1 600); do
    "$SY" -c "$1" status 2>/dev/null | grep "^state        streaming" >/dev/null && return 0
    sleep 0.2
  done
  fail "the stream did not reach streaming in 120 s"
}

# Nothing of switchyard's on either side (after a refused init or a teardown).
assert_nothing_created() {
  local what
  what=$(pgc_psql SRC -c "SELECT (SELECT count(*) FROM pg_publication) || '/' || (SELECT count(*) FROM pg_replication_slots)")
  [ "$what" = "0/0" ] || fail "source keeps publications/slots: $what"
  what=$(pgc_psql TGT -c "SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = 'switchyard') || '/' || (SELECT count(*) FROM pg_replication_origin) || '/' || (SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema'))")
  [ "$what" = "0/0/0" ] || fail "target keeps schema/origins/tables: $what"
}

# ---- cutover ------------------------------------------------------------

# The write probe built beside switchyard (bench/write_probe.cpp).
PROBE=$(cd "$(dirname "$SY")/../bench" 2>/dev/null && pwd)/switchyard-write-probe

# start_probe CONNINFO OUT: one INSERT INTO probe every 5 ms in the
# background; sets PROBE_PID. Its JSON summary goes to OUT.json at SIGTERM.
start_probe() {
  "$PROBE" --conninfo "$1" --table probe --interval-ms 5 --out "$2" >"$2.json" 2>"$2.err" &
  PROBE_PID=$!; BACKGROUND+=("$PROBE_PID")
}

# stop_probe: SIGTERM, then wait for its summary.
stop_probe() {
  kill -TERM "$PROBE_PID" 2>/dev/null || true
  wait "$PROBE_PID" 2>/dev/null || true
}

# max_gap_ms ACKS FROM_US TO_US: the longest time between two successive
# acknowledged probe inserts that ended inside [FROM_US, TO_US].
max_gap_ms() {
  awk -v from="$2" -v to="$3" '
    { if (prev && $2 >= from && $2 <= to && $2 - prev > gap) gap = $2 - prev; prev = $2 }
    END { printf "%.1f", gap / 1000 }' "$1"
}

now_us() { date +%s%6N; }

# missing_acks ACKS CLUSTER: acknowledged probe ids absent from CLUSTER.
missing_acks() {
  pgc_psql "$2" -c "SELECT id FROM probe" | sort >"$WORK/present.ids"
  cut -d" " -f1 "$1" | sort >"$WORK/acked.ids"
  comm -23 "$WORK/acked.ids" "$WORK/present.ids" | wc -l
}

# fenced CLUSTER -> "on" if new sessions there start read-only.
fenced() {
  pgc_psql "$1" -c "SHOW default_transaction_read_only"
}

# setup_cutover_pair SCALE: SRC with a pgbench -s SCALE dataset and the
# probe table, an empty TGT, pgbouncer BNC in front of SRC (APP is the
# applications' conninfo through it), $WORK/cfg.yaml with the pgbouncer
# router (its lines also in ROUTER), and `replicate` streaming with a clean
# first verify. Further arguments are more configuration lines; SQL in
# SETUP_SOURCE_SQL, if set, runs on SRC before init (SETUP_TARGET_SQL on TGT:
# roles, which are not copied).
setup_cutover_pair() {
  local scale=$1; shift
  pgc_start SRC
  pgc_start TGT
  "$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -i -s "$scale" -q app >"$WORK/init.log" 2>&1
  pgc_psql SRC -c "ALTER TABLE pgbench_history REPLICA IDENTITY FULL"
  "$PROBE" --conninfo "$(pgc_conninfo SRC)" --table probe --create
  [ -z "${SETUP_SOURCE_SQL:-}" ] || pgc_psql SRC -c "$SETUP_SOURCE_SQL"
  [ -z "${SETUP_TARGET_SQL:-}" ] || pgc_psql TGT -c "$SETUP_TARGET_SQL"
  pgb_start BNC SRC
  APP="host=127.0.0.1 port=$BNC_PORT dbname=app user=postgres"
  ROUTER=(
    "router:"
    "  kind: pgbouncer"
    "  admin_conninfo: \"host=127.0.0.1 port=$BNC_PORT dbname=pgbouncer user=pgbouncer\""
    "  database: app"
    "  databases_file: $BNC_DATABASES"
  )
  # A roomy budget: the tests run two at a time on small CI machines, and
  # whether writes stall 40 ms or 400 ms is the benchmark's business.
  write_config "$WORK/cfg.yaml" "${ROUTER[@]}" "cutover: { freeze_budget: 5s }" "$@"
  start_replicate "$WORK/cfg.yaml" "$WORK/replicate.log"
  local _
  for _ in $(seq 1 120); do
    "$SY" -c "$WORK/cfg.yaml" status 2>/dev/null | grep "^state        streaming" >/dev/null && break
    sleep 0.5
  done
  "$SY" -c "$WORK/cfg.yaml" verify --once >"$WORK/verify.log" 2>&1 || fail "first verify not clean"
}
