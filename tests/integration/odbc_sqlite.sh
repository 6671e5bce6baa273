# A SQLite legacy through unixODBC (libsqliteodbc): the Chinook sample goes
# through init, snapshot, replicate and verify. Refusals first, each leaving
# nothing on either side: a driver that is not installed, a table without
# a key, a column without a declared type, a value that does not fit its
# declared type. Then changes made between init and the copy (replayed
# over it), a write load while replicate is killed with SIGKILL and
# restarted, parity checked by queries of each engine's own, a tampered
# target found and repaired, and a teardown that removes the capture.
source "$(dirname "$0")/lib.sh"

pgc_start TGT
DB="$WORK/legacy.db"
gzip -dc "$ROOT/scripts/data/chinook/Chinook_Sqlite.sql.gz" | sqlite3 "$DB"
# Several writers (the load, the stream's reader and pruner): WAL.
sqlite3 "$DB" "PRAGMA journal_mode = WAL" >/dev/null
lite() { sqlite3 -cmd ".timeout 20000" "$DB" "$@"; }

CONF="$WORK/sy.yaml"
odbc_config() {
  {
    echo "source: { driver: odbc, conninfo: \"$1\" }"
    echo "target: { driver: postgres, conninfo: \"$(pgc_conninfo TGT)\" }"
    shift
    for line in "$@"; do echo "$line"; done
  } >"$CONF"
}

# Nothing of switchyard's on either side.
nothing_left() {
  local what
  what=$(lite "SELECT count(*) FROM sqlite_master WHERE name LIKE 'sy\_%' ESCAPE '\' OR name LIKE 'switchyard%'")
  [ "$what" = "0" ] || fail "the source keeps $what capture objects: $(lite "SELECT name FROM sqlite_master WHERE name LIKE 'sy\_%' ESCAPE '\' OR name LIKE 'switchyard%'")"
  what=$(pgc_psql TGT -c "SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = 'switchyard') || '/' || (SELECT count(*) FROM pg_replication_origin) || '/' || (SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema'))")
  [ "$what" = "0/0/0" ] || fail "target keeps schema/origins/tables: $what"
}

# ---- refusals ---------------------------------------------------------------
odbc_config "Driver=NoSuchOdbcDriver;Database=$DB"
expect_failure 2 "NoSuchOdbcDriver.*odbcinst -q -d" -- "$SY" -c "$CONF" init
odbc_config "DSN=no_such_dsn"
expect_failure 2 "ODBC data source 'no_such_dsn' is not installed.*odbcinst -q -s" -- "$SY" -c "$CONF" init
# A mistyped path: refused, and no empty database left in its place.
odbc_config "Driver=SQLite3;Database=$WORK/no-such.db"
expect_failure 2 "cannot open SQLite database '.*no-such.db'.*never creates one" -- "$SY" -c "$CONF" init
[ -e "$WORK/no-such.db" ] && fail "a mistyped database path created a file"
odbc_config "Driver=SQLite3;Database=$DB;PWD=secret99"
expect_failure 2 "source.conninfo.*password_file" -- "$SY" -c "$CONF" init
grep -q secret99 "$WORK/err" && fail "a password from the connection string was echoed"

odbc_config "Driver=SQLite3;Database=$DB"
lite "CREATE TABLE audit_log (at TEXT, what TEXT)"
expect_failure 5 "main.audit_log has no primary key.*tables.exclude" -- "$SY" -c "$CONF" init
nothing_left
lite "CREATE TABLE notes (id INTEGER PRIMARY KEY, body)"
odbc_config "Driver=SQLite3;Database=$DB" "tables: { exclude: [\"public.audit_log\"] }"
expect_failure 5 "column body of table main.notes has no declared type.*main.notes.body" -- "$SY" -c "$CONF" init
nothing_left

# A value SQLite accepted against its declared type: the copy names it.
odbc_config "Driver=SQLite3;Database=$DB" "tables: { exclude: [\"public.audit_log\", \"public.notes\"] }"
lite "UPDATE Track SET Milliseconds = 'about four minutes' WHERE TrackId = 7"
expect_failure 5 "main.Track, row \(7\), column Milliseconds: 'about four minutes' is not an integer" -- "$SY" -c "$CONF" snapshot
lite "UPDATE Track SET Milliseconds = 233926 WHERE TrackId = 7"

# ---- init, then changes before the copy: replayed over it ---------------------
"$SY" -c "$CONF" init >"$WORK/init.out" 2>"$WORK/init.log" || { cat "$WORK/init.log"; fail "init"; }
grep -q "capture installed" "$WORK/init.out" || fail "init did not report the capture: $(cat "$WORK/init.out")"
lite "UPDATE Track SET UnitPrice = 1.29 WHERE TrackId <= 100;
      DELETE FROM InvoiceLine WHERE InvoiceLineId > 2200;
      INSERT INTO Genre VALUES (100, 'Polka');
      UPDATE Genre SET GenreId = 101 WHERE GenreId = 100;
      UPDATE Invoice SET Total = 2 WHERE InvoiceId = 1;"
[ "$(lite "SELECT count(*) FROM switchyard_switchyard_changelog")" -gt 100 ] || fail "changes before the copy were not captured"

start_replicate "$CONF" "$WORK/replicate.log"
wait_streaming "$CONF"
# Statistics from the copy on, for the new primary's plans (autovacuum sets last_autoanalyze, not last_analyze).
unanalyzed=$(pgc_psql TGT -c "SELECT string_agg(relname, ', ') FROM pg_stat_user_tables WHERE schemaname = 'public' AND last_analyze IS NULL")
[ -z "$unanalyzed" ] || fail "copied tables without statistics on the target: $unanalyzed"
[ "$(pgc_psql TGT -c "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND tablename = 'track'")" -gt 5 ] || fail "no column statistics for public.track"

# ---- a write load, with replicate killed and restarted ------------------------
load() {
  local i=0
  while [ -e "$WORK/load.on" ]; do
    i=$((i + 1))
    lite "BEGIN;
          INSERT INTO Artist (Name) VALUES ('Load artist $i');
          UPDATE Track SET Name = 'Track ' || $i, Milliseconds = Milliseconds + 1 WHERE TrackId = 1 + ($i * 37) % 3500;
          UPDATE Customer SET Email = 'c$i@example.com' WHERE CustomerId = 1 + $i % 59;
          DELETE FROM PlaylistTrack WHERE PlaylistId = 1 + $i % 18 AND TrackId = (SELECT min(TrackId) FROM PlaylistTrack WHERE PlaylistId = 1 + $i % 18);
          INSERT INTO Invoice (CustomerId, InvoiceDate, Total) VALUES (1 + $i % 59, '2026-01-01 10:00:00', $i % 100 + 0.5);
          COMMIT;" >/dev/null 2>>"$WORK/load.err" || true
  done
}
touch "$WORK/load.on"
load &
LOAD_PID=$!
BACKGROUND+=("$LOAD_PID")
for round in 1 2; do
  sleep 3
  kill -9 "$REPLICATE_PID"
  wait "$REPLICATE_PID" 2>/dev/null || true
  log "replicate killed with SIGKILL (round $round); restarting"
  start_replicate "$CONF" "$WORK/replicate.log"
done
sleep 3
rm -f "$WORK/load.on"
wait "$LOAD_PID" || true
[ "$(lite "SELECT count(*) FROM Artist WHERE Name LIKE 'Load artist %'")" -gt 20 ] || fail "the load did not run: $(cat "$WORK/load.err")"

# ---- parity, by each engine's own queries -------------------------------------
# Per table: rows, the sum of the key, and a figure over the other columns.
figures() {
  local run=$1
  $run "SELECT count(*), sum(ArtistId), sum(length(Name)) FROM $2Artist"
  $run "SELECT count(*), sum(TrackId), sum(length(Name)), sum(Milliseconds), sum(round(UnitPrice * 100)) FROM $2Track"
  $run "SELECT count(*), sum(CustomerId), sum(length(Email)) FROM $2Customer"
  $run "SELECT count(*), sum(PlaylistId * 10000 + TrackId) FROM $2PlaylistTrack"
  $run "SELECT count(*), sum(InvoiceId), sum(round(Total * 100)), sum(length(BillingCity)) FROM $2Invoice"
  $run "SELECT count(*), sum(InvoiceLineId) FROM $2InvoiceLine"
  $run "SELECT count(*), sum(GenreId), max(GenreId) FROM $2Genre"
}
pg_run() { pgc_psql TGT -F '|' -c "$1" | sed 's/\.0*|/|/g; s/\.0*$//'; }
lite_run() { lite "$1" | sed 's/\.0*|/|/g; s/\.0*$//'; }
deadline=$(( $(date +%s) + 90 ))
until [ "$(figures lite_run "")" = "$(figures pg_run "public.")" ]; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    diff <(figures lite_run "") <(figures pg_run "public.") >&2 || true
    fail "no parity 90 s after the load"
  fi
  sleep 1
done
log "ok: parity by each engine's own figures, after 2 SIGKILLs under load"

"$SY" -c "$CONF" verify --once >"$WORK/verify.out" 2>"$WORK/verify.log" \
  || { cat "$WORK/verify.log"; fail "verify --once did not find parity"; }
grep -q "^parity: 11 tables" "$WORK/verify.out" || fail "verify: $(cat "$WORK/verify.out")"
"$SY" -c "$CONF" status >"$WORK/status.out"
grep -q "^changelog .*(SQLite), replicate running" "$WORK/status.out" || fail "status: $(cat "$WORK/status.out")"
log "ok: verify --once clean; status: $(grep '^lag' "$WORK/status.out")"

# ---- tables created while the stream runs ---------------------------------------
# One with a key joins the stream (created, captured, copied, its changes
# replayed over the copy); one without is named once and left out, and the
# stream goes on.
lite "CREATE TABLE ReleaseNote (NoteId INTEGER PRIMARY KEY, Body NVARCHAR(200) NOT NULL);
      INSERT INTO ReleaseNote (Body) VALUES ('first'), ('second');
      CREATE TABLE Scratch (What TEXT);"
deadline=$(( $(date +%s) + 60 ))
until [ "$(pgc_psql TGT -c "SELECT count(*) FROM public.releasenote" 2>/dev/null)" = 2 ]; do
  [ "$(date +%s)" -ge "$deadline" ] && { tail -20 "$WORK/replicate.log"; fail "ReleaseNote did not join the stream"; }
  sleep 0.5
done
lite "INSERT INTO ReleaseNote (Body) VALUES ('third'); UPDATE ReleaseNote SET Body = 'first, edited' WHERE NoteId = 1;
      DELETE FROM ReleaseNote WHERE NoteId = 2"
deadline=$(( $(date +%s) + 30 ))
until [ "$(pgc_psql TGT -c "SELECT string_agg(noteid || ':' || body, ',' ORDER BY noteid) FROM public.releasenote")" = "1:first, edited,3:third" ]; do
  [ "$(date +%s)" -ge "$deadline" ] && fail "ReleaseNote's changes after joining: $(pgc_psql TGT -c "TABLE public.releasenote")"
  sleep 0.5
done
grep -q "main.ReleaseNote appeared on the source and matches tables.include; adding it" "$WORK/replicate.log" \
  || fail "the joining table was not named"
[ "$(grep -c "main.Scratch has no primary key.*it is not replicated" "$WORK/replicate.log")" = 1 ] \
  || fail "the keyless table was not named once: $(grep -c Scratch "$WORK/replicate.log")"
"$SY" -c "$CONF" verify --once >"$WORK/verify.out" 2>"$WORK/verify.log" \
  || { cat "$WORK/verify.log"; fail "verify --once after a table joined"; }
grep -q "^parity: 12 tables" "$WORK/verify.out" || fail "verify: $(cat "$WORK/verify.out")"
log "ok: a table created while streaming joined it (copied, then its changes); a keyless one named once"

# ---- a tampered target: found, repaired -----------------------------------------
pgc_psql TGT -c "SET session_replication_role = replica; UPDATE public.track SET name = 'tampered' WHERE trackid = 3; DELETE FROM public.genre WHERE genreid = 2" >/dev/null
rc=0; "$SY" -c "$CONF" verify --once >"$WORK/verify.out" 2>"$WORK/verify.log" || rc=$?
[ "$rc" = 1 ] || fail "verify after tampering exited $rc: $(cat "$WORK/verify.out")"
grep -q 'row {"trackid":3} is different' "$WORK/verify.log" || fail "the changed row was not named"
grep -q 'row {"genreid":2} is missing' "$WORK/verify.log" || fail "the deleted row was not named"
"$SY" -c "$CONF" verify --repair >/dev/null 2>&1 || fail "repair"
"$SY" -c "$CONF" verify --once >/dev/null 2>&1 || fail "verify after repair"
log "ok: a tampered target found (exit 1), repaired, clean"

# ---- teardown ---------------------------------------------------------------------
kill -TERM "$REPLICATE_PID"; wait "$REPLICATE_PID" || fail "replicate did not stop cleanly"
"$SY" -c "$CONF" teardown --yes >"$WORK/teardown.out" 2>/dev/null || fail "teardown"
grep -q "36 capture triggers and the changelog" "$WORK/teardown.out" || fail "teardown: $(cat "$WORK/teardown.out")"
[ "$(lite "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' OR name LIKE 'switchyard%'")" = 0 ] \
  || fail "the capture is still on the source"
[ "$(pgc_psql TGT -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'switchyard'")" = 0 ] \
  || fail "the control schema is still on the target"
log "ok: teardown removed the capture and the control schema; the tables stay"
