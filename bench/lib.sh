# shellcheck shell=bash
# Shared helpers for the benchmarks in bench/. Source it from a script that
# has already done `set -euo pipefail`. It defines functions and a few
# variables; clusters come from scripts/lib/pgcluster.sh.
#
#   SY          absolute path of the switchyard binary ($1 of the script, or
#               build-bench/cli/switchyard)
#   WORK        scratch dir (configs, logs); kept after the run, path printed
#   BACKGROUND  pids to kill on exit

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=../scripts/lib/pgcluster.sh
source "$ROOT/scripts/lib/pgcluster.sh"
export PATH="$PG_BIN:$PATH"

SY=${1:-$ROOT/build-bench/cli/switchyard}
[ -x "$SY" ] || {
  echo "switchyard binary not found at $SY; build it with:" >&2
  echo "  cmake -S $ROOT -B $ROOT/build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF && cmake --build $ROOT/build-bench" >&2
  exit 2
}
SY=$(cd "$(dirname "$SY")" && pwd)/$(basename "$SY")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-bench.XXXXXX")
BACKGROUND=()

bench_cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${BACKGROUND[@]}"; do
    kill -9 "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  pgc_stop_all
  echo "logs and raw figures kept in $WORK" >&2
  exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

now() { date +%s.%N; }
# elapsed START [END]: seconds, 3 decimals.
elapsed() { awk -v a="$1" -v b="${2:-$(now)}" 'BEGIN { printf "%.3f", b - a }'; }
# div A B [decimals]
div() { awk -v a="$1" -v b="$2" -v d="${3:-1}" 'BEGIN { if (b == 0) print "n/a"; else printf "%.*f", d, a / b }'; }

# wait_for TIMEOUT_S INTERVAL_S DESCRIPTION -- command...: run the command
# until it succeeds; die after TIMEOUT_S seconds.
wait_for() {
  local timeout=$1 interval=$2 what=$3; shift 4
  local deadline
  deadline=$(awk -v t="$(now)" -v d="$timeout" 'BEGIN { printf "%.3f", t + d }')
  until "$@"; do
    if awk -v t="$(now)" -v d="$deadline" 'BEGIN { exit !(t > d) }'; then
      die "timed out after ${timeout}s waiting for $what"
    fi
    sleep "$interval"
  done
}

# stop_cluster NAME: stop one cluster started by pgc_start and delete it.
# (pgc_stop_all at exit tolerates the missing directory.)
stop_cluster() {
  local dir_var="${1}_DIR"
  local dir=${!dir_var}
  pgc_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w -t 60 stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}

# pg_uri NAME [dbname]: postgres:// URI for tools that want one.
pg_uri() {
  local port_var="${1}_PORT"
  echo "postgres://postgres@127.0.0.1:${!port_var}/${2:-app}"
}

# write_config FILE [extra yaml lines...]: switchyard config, SRC -> TGT.
write_config() {
  local file=$1; shift
  {
    echo "source: { driver: postgres, conninfo: \"$(pgc_conninfo SRC)\" }"
    echo "target: { driver: postgres, conninfo: \"$(pgc_conninfo TGT)\" }"
    echo "tables: { include: [\"public.*\"] }"
    for line in "$@"; do echo "$line"; done
  } >"$file"
}

# max_rss_kb TIME_V_FILE: "Maximum resident set size" from /usr/bin/time -v.
max_rss_kb() { awk -F': ' '/Maximum resident set size/ { print $2 }' "$1"; }
cpu_seconds() { awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.1f", s }' "$1"; }

# wait_pid_exit PID TIMEOUT_S: wait for a background child; die on timeout.
wait_pid_exit() {
  local pid=$1 timeout=$2
  local deadline=$(( $(date +%s) + timeout ))
  while kill -0 "$pid" 2>/dev/null; do
    [ "$(date +%s)" -le "$deadline" ] || die "process $pid still running after ${timeout}s"
    sleep 0.1
  done
  local rc=0
  wait "$pid" || rc=$?
  return "$rc"
}

# cluster_cpu NAME: CPU seconds (user+sys) used so far by the cluster's
# postmaster and all its children, live or exited (exited ones are in the
# postmaster's cutime/cstime). Take the difference of two samples.
CLK_TCK=$(getconf CLK_TCK)
cluster_cpu() {
  local dir_var="${1}_DIR" pm child ticks=0
  pm=$(head -1 "${!dir_var}/data/postmaster.pid")
  # Fields after the command name: utime is 14, stime 15, cutime 16, cstime 17.
  ticks=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$pm/stat")
  for child in $(cat /proc/"$pm"/task/*/children 2>/dev/null); do
    ticks=$(( ticks + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$child/stat" 2>/dev/null || echo 0) ))
  done
  awk -v t="$ticks" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }'
}

# machine_busy: CPU seconds the whole machine has been busy (user, nice,
# system, irq, softirq) and stolen, as "busy steal", from /proc/stat.
machine_busy() {
  awk -v hz="$CLK_TCK" '/^cpu / { printf "%.2f %.2f\n", ($2 + $3 + $4 + $7 + $8) / hz, $9 / hz; exit }' /proc/stat
}

machine_summary() {
  echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "machine:  $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, kernel $(uname -r)"
  echo "postgres: $("$PG_BIN/postgres" --version)"
  echo "commit:   $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$( [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ] && echo ' (+ uncommitted changes in the work tree)')"
  echo "binary:   $SY"
}

# ---- one persistent psql session for polling (cheaper than a psql per poll)
#   poll_open CLUSTER; poll_query SQL (prints the one-line answer; counts
#   POLLS); poll_close

POLLS=0
poll_open() {  # poll_open CLUSTER
  local port_var="${1}_PORT"
  coproc POLL { "$PG_BIN/psql" -h 127.0.0.1 -p "${!port_var}" -U postgres -d app -qAtX 2>&1; }
  BACKGROUND+=("$POLL_PID")
}
poll_query() {  # poll_query SQL -> prints the single-line answer
  local line
  POLLS=$(( POLLS + 1 ))
  echo "$1;" >&"${POLL[1]}"
  read -t 10 -r line <&"${POLL[0]}" || die "polling session did not answer"
  echo "$line"
}
poll_close() {
  local pid=$POLL_PID
  # shellcheck disable=SC1083,SC2093  # closes the coprocess's stdin
  exec {POLL[1]}>&-
  wait_pid_exit "$pid" 10 || true
}
