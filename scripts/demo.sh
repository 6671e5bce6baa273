#!/usr/bin/env bash
# The switchyard demo: two throwaway PostgreSQL 15 clusters on loopback
# play the legacy primary and the cloud replica. The legacy one gets the
# Chinook sample database with a record store's application objects
# (scripts/demo/store-schema.sql: a function that records a sale, triggers
# that fill invoices and bump per-genre counters, two views) and a pgbench
# dataset; `switchyard serve` copies it all and streams every change while
# pgbench writes (TPC-B, and the store's sales from
# scripts/demo/store-sale.pgbench, whose genre counters are hot rows) and
# verify compares both sides pass after pass, with its dashboard's address
# printed; then verify --once, and a row damaged on the replica found and
# repaired (the CLI has serve do them). Next to it, a MariaDB legacy (Chinook on MariaDB 10.11) streams
# into the same replica through ODBC while an application writes to it,
# and is verified. Then, with that load and a probe inserting a row every 5 ms
# through pgbouncer: cutover to the replica, failback, the longest write
# stall each caused and the errors the application saw; last, a row-by-row
# cross-check and the store's books, computed by both servers.
#
#   scripts/demo.sh            (DEMO_SECONDS=60 to write for longer;
#                               DEMO_HOLD_SECONDS=600 to keep the dashboard up at the end)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEMO_SECONDS=${DEMO_SECONDS:-30}

scripts/install-deps.sh
echo "== building switchyard"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_UNITY_BUILD=ON >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
SY=$ROOT/build/cli/switchyard

PROBE=$ROOT/build/bench/switchyard-write-probe

source scripts/lib/pgcluster.sh
source scripts/lib/pgbouncer.sh
source scripts/lib/mariadb.sh
WORK=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-demo.XXXXXX")
SERVE_PID= LOAD_PID= PROBE_PID= SHOP_PID= SHOP_LOAD_PID=
cleanup() {
  local pid
  for pid in "$SERVE_PID" "$LOAD_PID" "$PROBE_PID" "$SHOP_PID" "$SHOP_LOAD_PID"; do
    [ -n "$pid" ] && { kill -9 "$pid" 2>/dev/null || true; }
  done
  mdb_stop_all
  pgb_stop_all
  pgc_stop_all
  rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# The store application's functions, triggers and views in a database.
app_objects() {
  pgc_psql "$1" -c "SELECT string_agg(o, ', ' ORDER BY k, o) FROM (
      SELECT 1, 'function ' || p.oid::regprocedure FROM pg_proc p
       WHERE p.pronamespace = 'public'::regnamespace
      UNION ALL SELECT 2, 'trigger ' || t.tgname || ' on ' || t.tgrelid::regclass FROM pg_trigger t
       WHERE NOT t.tgisinternal
      UNION ALL SELECT 3, 'view ' || c.relname FROM pg_class c
       WHERE c.relkind = 'v' AND c.relnamespace = 'public'::regnamespace) s(k, o)" | fold -s -w 76
}
# Counted in a pgbench log: lines that report an error or an aborted client.
pgbench_errors() { grep -Eci 'error|abort' "$1" || true; }

say "starting the legacy primary and the cloud replica (PostgreSQL 15, loopback)"
pgc_start LEGACY
pgc_start CLOUD
echo "legacy: $(pgc_conninfo LEGACY)"
echo "cloud:  $(pgc_conninfo CLOUD)"

say "loading Chinook, the store's application objects and a pgbench dataset into the legacy primary"
# The Chinook sample (MIT licence, scripts/data/chinook/LICENSE.md); its
# CREATE DATABASE / \c lines are dropped so it loads into "app".
zcat scripts/data/chinook/Chinook_PostgreSql.sql.gz \
  | sed '/^DROP DATABASE/d; /^CREATE DATABASE/d; /^\\c /d' | pgc_psql LEGACY >/dev/null
pgc_psql LEGACY -f scripts/demo/store-schema.sql >/dev/null
app_objects LEGACY | sed 's/^/  /'
echo "  genre_sales: $(pgc_psql LEGACY -c "SELECT count(*) || ' counter rows, bumped by every track sold (Rock by '
  || (SELECT round(100.0 * count(*) FILTER (WHERE genre_id = 1) / count(*)) FROM track) || '% of them)'
  FROM genre_sales")"
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
# The load: pgbench through pgbouncer running two scripts, TPC-B and the store's sales.
APP_LOAD=("$PG_BIN/pgbench" -h 127.0.0.1 -p "$BOUNCER_PORT" -U postgres -c 8 -j 2
  -b tpcb-like@1 -f scripts/demo/store-sale.pgbench@1 --verbose-errors)
echo "pgbouncer's database entry lives in $BOUNCER_DATABASES: $(cat "$BOUNCER_DATABASES")"

# serve's HTTP port and its API token (a file only this user may read).
SERVE_PORT=$(pgc_free_port)
(umask 077 && printf 'demo:%s\n' "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$WORK/tokens")
cat >"$WORK/switchyard.yaml" <<YAML
source: { name: legacy, driver: postgres, conninfo: "$(pgc_conninfo LEGACY)" }
target: { name: cloud, driver: postgres, conninfo: "$(pgc_conninfo CLOUD)" }
tables: { include: ["public.*"] }
stream: { status_interval: 5s }
verify: { pass_interval: 2s }
router:
  kind: pgbouncer
  admin_conninfo: "host=127.0.0.1 port=$BOUNCER_PORT dbname=pgbouncer user=pgbouncer"
  database: app
  databases_file: $BOUNCER_DATABASES
cutover: { freeze_budget: 2s }
service: { listen: "127.0.0.1:$SERVE_PORT", tokens_file: $WORK/tokens }
YAML
echo "config:"; sed 's/^/  /' "$WORK/switchyard.yaml"

say "switchyard serve: init, consistent initial copy, then streaming, continuous verify, the API and the dashboard"
# Our own processes by $! (never by name: other switchyards may be running).
# Verify's line per table is left out here; its pass lines are shown.
"$SY" -c "$WORK/switchyard.yaml" serve > >(grep --line-buffered -vE ' (rows|large objects) compared ' \
  | sed -u 's/^/  [switchyard] /') 2>&1 &
SERVE_PID=$!
for _ in $(seq 1 240); do
  ready=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SERVE_PORT/readyz" || true)
  [ "$ready" = 200 ] && break
  kill -0 "$SERVE_PID" 2>/dev/null || { SERVE_PID=; say "demo: switchyard serve stopped"; exit 1; }
  sleep 0.5
done
[ "$ready" = 200 ] || { say "demo: switchyard serve is not streaming after 120s"; exit 1; }
echo "  dashboard: http://127.0.0.1:$SERVE_PORT/ (the API token for its buttons is in $WORK/tokens)"
echo "  metrics:   http://127.0.0.1:$SERVE_PORT/metrics"
echo "  init brought the store's objects over; the replica has:"
app_objects CLOUD | sed 's/^/    /'

say "pgbench writes to the legacy primary for ${DEMO_SECONDS}s (TPC-B and store sales, 1000 tx/s) while switchyard streams and verifies"
{ "${APP_LOAD[@]}" -T "$DEMO_SECONDS" -R 1000 -P 5 app 2>&1 || true; } | tee "$WORK/pgbench-stream.log" \
  | grep --line-buffered -E '^progress|processed|^tps|^SQL script| transactions \(|failed' \
  | sed -u 's/^/  [pgbench] /'
stream_errors=$(pgbench_errors "$WORK/pgbench-stream.log")
echo "  pgbench: $stream_errors errors"
pgc_psql LEGACY -c "UPDATE track SET name = name || ' (remastered)' WHERE track_id % 50 = 0"

say "waiting for the replica to catch up"
target_lsn=$(pgc_psql LEGACY -c "SELECT pg_current_wal_lsn()")
for _ in $(seq 1 600); do
  done_=$(pgc_psql LEGACY -c "SELECT confirmed_flush_lsn >= '$target_lsn' FROM pg_replication_slots WHERE slot_name = 'switchyard'")
  [ "$done_" = t ] && break
  sleep 0.1
done
"$SY" -c "$WORK/switchyard.yaml" status 2>/dev/null | sed 's/^/  /'

say "switchyard verify --once: every row of every table, compared by checksum (serve runs the pass: the CLI asks it)"
"$SY" -c "$WORK/switchyard.yaml" verify --once 2>&1 | grep -v ' verify public' | sed 's/^/  [switchyard] /' \
  || { say "demo: verify found differences"; exit 1; }

say "someone edits the replica behind the stream's back; verify names the row, repair fixes it"
pgc_psql CLOUD -c "UPDATE artist SET name = 'AC/DC (edited on the replica)' WHERE artist_id = 1"
rc=0
"$SY" -c "$WORK/switchyard.yaml" verify --once --table public.artist --json 2>/dev/null | sed 's/^/  /' || rc=$?
echo "  (exit code $rc: 1 = mismatches found)"
"$SY" -c "$WORK/switchyard.yaml" verify --repair 2>&1 | sed 's/^/  [switchyard] /'
"$SY" -c "$WORK/switchyard.yaml" verify --once --table public.artist 2>&1 | sed 's/^/  [switchyard] /'

say "a MariaDB legacy next to it: Chinook on MariaDB 10.11, streamed through ODBC into the same replica"
mdb_start SHOP
zcat scripts/data/chinook/Chinook_MySql.sql.gz | mdb_sql SHOP --database=
DEMO_MARIADB_PASSWORD=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
export DEMO_MARIADB_PASSWORD
mdb_sql SHOP -e "CREATE USER migrator@'127.0.0.1' IDENTIFIED BY '$DEMO_MARIADB_PASSWORD';
  GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, TRIGGER ON Chinook.* TO migrator@'127.0.0.1';
  GRANT PROCESS ON *.* TO migrator@'127.0.0.1'"
cat >"$WORK/mariadb.yaml" <<YAML
name: chinook_mariadb
source: { name: mariadb, driver: odbc, password_env: DEMO_MARIADB_PASSWORD,
          conninfo: "Driver=MariaDB Unicode;Server=127.0.0.1;Port=$SHOP_PORT;Database=Chinook;Uid=migrator;CHARSET=utf8mb4" }
target: { name: cloud, driver: postgres, conninfo: "$(pgc_conninfo CLOUD)" }
tables: { include: ["chinook.*"] }
stream: { status_interval: 5s }
YAML
echo "config (the password comes from \$DEMO_MARIADB_PASSWORD):"; sed 's/^/  /' "$WORK/mariadb.yaml"
"$SY" -c "$WORK/mariadb.yaml" init 2>/dev/null | sed 's/^/  [switchyard] /'
"$SY" -c "$WORK/mariadb.yaml" replicate > >(sed -u 's/^/  [switchyard mariadb] /') 2>&1 &
SHOP_PID=$!
# The shop's application: a sale (an invoice and its lines) and a price change, ten a second.
shop_app() {
  local i=0
  while :; do
    i=$((i + 1))
    mdb_sql SHOP --database=Chinook -e "BEGIN;
      INSERT INTO Invoice (InvoiceId, CustomerId, InvoiceDate, BillingCountry, Total)
        VALUES (1000 + $i, 1 + $i % 59, NOW(), 'Norway', 1.98);
      INSERT INTO InvoiceLine VALUES (5000 + 2 * $i, 1000 + $i, 1 + $i % 3500, 0.99, 1),
                                     (5001 + 2 * $i, 1000 + $i, 1 + ($i * 7) % 3500, 0.99, 1);
      UPDATE Track SET UnitPrice = UnitPrice + 0.01 WHERE TrackId = 1 + ($i * 13) % 3500;
      COMMIT;" 2>/dev/null || true
    sleep 0.1
  done
}
shop_app &
SHOP_LOAD_PID=$!
sleep 15
kill "$SHOP_LOAD_PID"; wait "$SHOP_LOAD_PID" 2>/dev/null || true
SHOP_LOAD_PID=
echo "  the shop recorded $(mdb_sql SHOP --database=Chinook -e 'SELECT count(*) FROM Invoice WHERE InvoiceId > 1000') sales on MariaDB"
sleep 2
"$SY" -c "$WORK/mariadb.yaml" status 2>/dev/null | grep -E '^(stream|state|upstream|applied|lag|changelog)' | sed 's/^/  /'
"$SY" -c "$WORK/mariadb.yaml" verify --once 2>&1 | grep -E '^(parity|mismatch|inconclusive)' | sed 's/^/  [switchyard mariadb] /' \
  || { say "demo: the MariaDB legacy and the replica differ"; exit 1; }
echo "  the same sales, counted by the replica: $(pgc_psql CLOUD -c 'SELECT count(*) FROM chinook.invoice WHERE invoiceid > 1000')"
kill -TERM "$SHOP_PID"; wait "$SHOP_PID" || true
SHOP_PID=
"$SY" -c "$WORK/mariadb.yaml" teardown --yes 2>/dev/null | sed 's/^/  [switchyard mariadb] /'
mdb_stop_all

say "cutover and failback under load: pgbench (8 clients, 300 tx/s: TPC-B and store sales) and a probe inserting every 5 ms, through pgbouncer"
last_invoice=$(pgc_psql LEGACY -c "SELECT max(invoice_id) FROM invoice")
"${APP_LOAD[@]}" -n -R 300 -T 600 app >"$WORK/pgbench.log" 2>&1 &
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
echo "  the store reads its view through pgbouncer, answered by port $("$PG_BIN/psql" "$APP" -qAtX \
  -c "SELECT inet_server_port()") (the replica): best sellers $("$PG_BIN/psql" "$APP" -qAtX \
  -c "SELECT string_agg(genre || ' ' || tracks_sold, ', ' ORDER BY rank, genre) FROM genre_leaderboard WHERE rank <= 3")"
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
pgbench_errors=$(pgbench_errors "$WORK/pgbench.log")
sales=$(pgc_psql LEGACY -c "SELECT count(*) FROM invoice WHERE invoice_id > $last_invoice")
printf '  %-10s %s\n' "cutover" "longest write stall $(max_gap "$t0" "$((t1 + 1000000))") ms"
printf '  %-10s %s\n' "failback" "longest write stall $(max_gap "$t2" "$((t3 + 1000000))") ms"
echo "  probe: $(wc -l <"$WORK/acks") inserts acknowledged, $errors errors, $lost missing on the legacy primary"
echo "  pgbench: $pgbench_errors errors; the store recorded $sales sales (record_sale, its triggers, the views read back)"
[ "$lost" = 0 ] && [ "$errors" = 0 ] && [ "$pgbench_errors" = 0 ] && [ "$stream_errors" = 0 ] \
  || { say "demo: writes failed or were lost"; exit 1; }
for _ in $(seq 1 100); do
  "$SY" -c "$WORK/switchyard.yaml" status --json 2>/dev/null | grep '"lag_bytes":0,' >/dev/null && break
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

say "the store's books, by each server: each invoice's total is the sum of its lines, each genre counter the sum of its genre's lines"
books="SELECT (SELECT count(*) FROM invoice) || ' ' ||
  (SELECT count(*) FROM (SELECT FROM invoice i JOIN invoice_line l ON l.invoice_id = i.invoice_id
                         GROUP BY i.invoice_id HAVING i.total <> sum(l.unit_price * l.quantity)) x) || ' ' ||
  (SELECT count(*) FROM genre_sales s LEFT JOIN (
     SELECT t.genre_id, sum(l.quantity) AS n, sum(l.unit_price * l.quantity) AS r
       FROM invoice_line l JOIN track t ON t.track_id = l.track_id GROUP BY t.genre_id) b
     ON b.genre_id = s.genre_id
   WHERE (s.tracks_sold, s.revenue) IS DISTINCT FROM (coalesce(b.n, 0), coalesce(b.r, 0)))"
printf '  %-8s %10s %12s %20s\n' server invoices "totals off" "genre counters off"
for server in LEGACY CLOUD; do
  read -r n totals_off counters_off <<<"$(pgc_psql "$server" -c "$books")"
  printf '  %-8s %10s %12s %20s\n' "${server,,}" "$n" "$totals_off" "$counters_off"
  [ "$totals_off" = 0 ] && [ "$counters_off" = 0 ] || all_ok=false
done

say "what serve's /metrics says of it"
curl -s "http://127.0.0.1:$SERVE_PORT/metrics" | grep -E '^switchyard_(cutover_runs_total|write_freeze_seconds|verify_mismatches_open|transactions_applied_total|stream_direction)' \
  | sed 's/^/  /'
if [ "${DEMO_HOLD_SECONDS:-0}" -gt 0 ]; then
  say "the dashboard stays up for ${DEMO_HOLD_SECONDS}s: http://127.0.0.1:$SERVE_PORT/"
  sleep "$DEMO_HOLD_SECONDS"
fi

say "stopping switchyard (SIGTERM: clean stop, final position confirmed to the slot)"
kill -TERM "$SERVE_PID"; wait "$SERVE_PID" || true
SERVE_PID=
"$SY" -c "$WORK/switchyard.yaml" teardown --yes 2>&1 | sed 's/^/  [switchyard] /'
$all_ok && say "demo done: every table identical on both sides, the store's books balance on both" \
  || { say "demo: parity FAILED"; exit 1; }
