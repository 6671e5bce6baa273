#!/usr/bin/env bash
# The switchyard demo: two throwaway PostgreSQL 15 clusters on loopback
# play the legacy primary and the cloud replica. The legacy one gets the
# Chinook sample database and a pgbench dataset; switchyard copies it and
# streams every change while pgbench writes and `verify` compares both
# sides pass after pass; then verify --once, and a row damaged on the
# replica found and repaired. Then, with pgbench and a probe inserting a row
# every 5 ms through pgbouncer: cutover to the replica, failback, and the
# longest write stall each caused; last, a row-by-row cross-check computed
# by both servers.
#
#   scripts/demo.sh            (DEMO_SECONDS=60 to write for longer)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEMO_SECONDS=${DEMO_SECONDS:-30}

scripts/install-deps.sh
echo "== building switchyard"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
SY=$ROOT/build/cli/switchyard

PROBE=$ROOT/build/bench/switchyard-write-probe

source scripts/lib/pgcluster.sh
source scripts/lib/pgbouncer.sh
WORK=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-demo.XXXXXX")
REPLICATE_PID= VERIFY_PID= LOAD_PID= PROBE_PID=
cleanup() {
  local pid
  for pid in "$REPLICATE_PID" "$VERIFY_PID" "$LOAD_PID" "$PROBE_PID"; do
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  done
  pgb_stop_all
  pgc_stop_all
  rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "starting the legacy primary and the cloud replica (PostgreSQL 15, loopback)"
pgc_start LEGACY
pgc_start CLOUD
echo "legacy: $(pgc_conninfo LEGACY)"
echo "cloud:  $(pgc_conninfo CLOUD)"

say "loading Chinook and a pgbench dataset into the legacy primary"
# The Chinook sample (MIT licence, scripts/data/chinook/LICENSE.md); its
# CREATE DATABASE / \c lines are dropped so it loads into "app".
zcat scripts/data/chinook/Chinook_PostgreSql.sql.gz \
  | sed '/^DROP DATABASE/d; /^CREATE DATABASE/d; /^\\c /d' | pgc_psql LEGACY >/dev/null
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$LEGACY_PORT" -U postgres -i -s 10 -q app 2>&1 | tail -1
# pgbench_history has no primary key. REPLICA IDENTITY FULL would do for
# replication, but the cutover's parity gate compares a keyless table whole
# inside the freeze; as a DBA would before a migration, give it a key.
pgc_psql LEGACY -c "ALTER TABLE pgbench_history ADD COLUMN hid bigserial PRIMARY KEY"
# The write probe's table: a bigserial key, so cutover must carry the sequence.
"$PROBE" --conninfo "$(pgc_conninfo LEGACY)" --table probe --create

say "starting pgbouncer in front of the legacy primary (transaction pooling)"
pgb_start BOUNCER LEGACY
APP="host=127.0.0.1 port=$BOUNCER_PORT dbname=app user=postgres"
echo "applications connect to: $APP"
echo "pgbouncer's database entry lives in $BOUNCER_DATABASES: $(cat "$BOUNCER_DATABASES")"

cat >"$WORK/switchyard.yaml" <<YAML
source: { driver: postgres, conninfo: "$(pgc_conninfo LEGACY)" }
target: { driver: postgres, conninfo: "$(pgc_conninfo CLOUD)" }
tables: { include: ["public.*"] }
stream: { status_interval: 5s }
verify: { pass_interval: 2s }
router:
  kind: pgbouncer
  admin_conninfo: "host=127.0.0.1 port=$BOUNCER_PORT dbname=pgbouncer user=pgbouncer"
  database: app
  databases_file: $BOUNCER_DATABASES
cutover: { freeze_budget: 2s }
YAML
echo "config:"; sed 's/^/  /' "$WORK/switchyard.yaml"

say "switchyard replicate: init, consistent initial copy, then streaming"
# Our own processes by $! (never by name: other switchyards may be running).
"$SY" -c "$WORK/switchyard.yaml" replicate > >(sed -u 's/^/  [switchyard] /') 2>&1 &
REPLICATE_PID=$!
for _ in $(seq 1 120); do
  state=$("$SY" -c "$WORK/switchyard.yaml" status --json 2>/dev/null | grep -o '"state":"[a-z ]*"' || true)
  [ "$state" = '"state":"streaming"' ] && break
  sleep 0.5
done

say "pgbench writes to the legacy primary for ${DEMO_SECONDS}s while switchyard streams and verifies"
"$SY" -c "$WORK/switchyard.yaml" verify \
  2> >(grep --line-buffered -E 'pass [0-9]+ done|mismatch:|kept changing' | sed -u 's/^/  [verify] /') &
VERIFY_PID=$!
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$BOUNCER_PORT" -U postgres -c 8 -j 2 -T "$DEMO_SECONDS" -R 1000 \
  -P 5 app 2>&1 | grep --line-buffered -E '^progress|processed|tps' | sed -u 's/^/  [pgbench] /'
pgc_psql LEGACY -c "UPDATE track SET name = name || ' (remastered)' WHERE track_id % 50 = 0"

say "waiting for the replica to catch up"
target_lsn=$(pgc_psql LEGACY -c "SELECT pg_current_wal_lsn()")
for _ in $(seq 1 600); do
  done_=$(pgc_psql LEGACY -c "SELECT confirmed_flush_lsn >= '$target_lsn' FROM pg_replication_slots WHERE slot_name = 'switchyard'")
  [ "$done_" = t ] && break
  sleep 0.1
done
kill -TERM "$VERIFY_PID"; wait "$VERIFY_PID" || true
VERIFY_PID=
"$SY" -c "$WORK/switchyard.yaml" status 2>/dev/null | sed 's/^/  /'

say "switchyard verify --once: every row of every table, compared by checksum"
"$SY" -c "$WORK/switchyard.yaml" verify --once 2>&1 | grep -v ' verify public' | sed 's/^/  [switchyard] /' \
  || { say "demo: verify found differences"; exit 1; }

say "someone edits the replica behind the stream's back; verify names the row, repair fixes it"
pgc_psql CLOUD -c "UPDATE artist SET name = 'AC/DC (edited on the replica)' WHERE artist_id = 1"
rc=0
"$SY" -c "$WORK/switchyard.yaml" verify --once --table public.artist --json 2>/dev/null | sed 's/^/  /' || rc=$?
echo "  (exit code $rc: 1 = mismatches found)"
"$SY" -c "$WORK/switchyard.yaml" verify --repair 2>&1 | sed 's/^/  [switchyard] /'
"$SY" -c "$WORK/switchyard.yaml" verify --once --table public.artist 2>&1 | sed 's/^/  [switchyard] /'

say "cutover and failback under load: pgbench (8 clients, 300 tx/s) and a probe inserting every 5 ms, through pgbouncer"
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$BOUNCER_PORT" -U postgres -n -c 8 -j 2 -R 300 -T 600 app \
  >"$WORK/pgbench.log" 2>&1 &
LOAD_PID=$!
"$PROBE" --conninfo "$APP" --table probe --interval-ms 5 --out "$WORK/acks" >"$WORK/probe.json" \
  2>"$WORK/probe.err" &
PROBE_PID=$!
sleep 3
"$SY" -c "$WORK/switchyard.yaml" cutover --dry-run 2>&1 | sed 's/^/  /'
now_us() { date +%s%6N; }
t0=$(now_us)
"$SY" -c "$WORK/switchyard.yaml" cutover 2>&1 | sed 's/^/  [cutover] /'
t1=$(now_us)
echo "  pgbouncer's entry is now: $(cat "$BOUNCER_DATABASES" | tail -n 1)"
"$SY" -c "$WORK/switchyard.yaml" status 2>/dev/null | grep -E '^(direction|state|lag|last switch|  [0-9] )' \
  | sed 's/^/  /'
echo "  the replica takes the writes; the legacy receives them through the reverse stream"
sleep 5
t2=$(now_us)
"$SY" -c "$WORK/switchyard.yaml" failback 2>&1 | sed 's/^/  [failback] /'
t3=$(now_us)
sleep 3
kill -TERM "$PROBE_PID"; wait "$PROBE_PID" || true
PROBE_PID=
kill -TERM "$LOAD_PID"; wait "$LOAD_PID" 2>/dev/null || true
LOAD_PID=
# Longest time between two successive acknowledged probe inserts ending in
# [from, to], in ms.
max_gap() {
  awk -v from="$1" -v to="$2" '
    { if (prev && $2 >= from && $2 <= to && $2 - prev > gap) gap = $2 - prev; prev = $2 }
    END { printf "%.1f", gap / 1000 }' "$WORK/acks"
}
sleep 2
cut -d' ' -f1 "$WORK/acks" | sort >"$WORK/acked.ids"
pgc_psql LEGACY -c "SELECT id FROM probe" | sort >"$WORK/legacy.ids"
lost=$(comm -23 "$WORK/acked.ids" "$WORK/legacy.ids" | wc -l)
errors=$(grep -o '"errors":[0-9]*' "$WORK/probe.json" | cut -d: -f2)
pgbench_errors=$(grep -Eci 'error|abort' "$WORK/pgbench.log" || true)
printf '  %-10s %s\n' "cutover" "longest write stall $(max_gap "$t0" "$((t1 + 1000000))") ms"
printf '  %-10s %s\n' "failback" "longest write stall $(max_gap "$t2" "$((t3 + 1000000))") ms"
echo "  probe: $(wc -l <"$WORK/acks") inserts acknowledged, $errors errors, $lost missing on the legacy primary"
echo "  pgbench: $pgbench_errors errors"
[ "$lost" = 0 ] && [ "$errors" = 0 ] && [ "$pgbench_errors" = 0 ] || { say "demo: writes failed or were lost"; exit 1; }
for _ in $(seq 1 100); do
  "$SY" -c "$WORK/switchyard.yaml" status --json 2>/dev/null | grep -q '"lag_bytes":0,' && break
  sleep 0.1
done

say "cross-check, independent of switchyard: row count and md5 of every row, by each server"
printf '  %-22s %10s %34s %s\n' table rows "md5 (legacy)" verdict
all_ok=true
for table in $(pgc_psql LEGACY -c "SELECT relname FROM pg_stat_user_tables WHERE schemaname = 'public' ORDER BY 1"); do
  q="SELECT count(*) || ' ' || md5(coalesce(string_agg(digest_row::text, E'\n' ORDER BY digest_row::text COLLATE \"C\"), '')) FROM public.$table digest_row"
  a=$(pgc_psql LEGACY -c "$q"); b=$(pgc_psql CLOUD -c "$q")
  verdict="identical"; [ "$a" = "$b" ] || { verdict="DIFFERENT"; all_ok=false; }
  printf '  %-22s %10s %34s %s\n' "$table" "${a%% *}" "${a##* }" "$verdict"
done

say "stopping switchyard (SIGTERM: clean stop, final position confirmed to the slot)"
kill -TERM "$REPLICATE_PID"; wait "$REPLICATE_PID" || true
REPLICATE_PID=
"$SY" -c "$WORK/switchyard.yaml" teardown --yes 2>&1 | sed 's/^/  [switchyard] /'
$all_ok && say "demo done: every table identical on both sides" || { say "demo: parity FAILED"; exit 1; }
