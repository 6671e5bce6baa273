# A MariaDB 10.11 legacy through unixODBC (odbc-mariadb), binary logging
# on, as production runs it: the Chinook sample, a table of every type a
# legacy uses, cascading foreign keys and two sysbench tables go through
# init, snapshot, replicate and verify.
#  - Refusals, each leaving no trigger, no changelog and nothing on the
#    target: a wrong password (not echoed); no TRIGGER right; binary logging
#    without log_bin_trust_function_creators; no PROCESS right (the safe
#    watermark reads open transactions).
#  - Changes between init and the copy, replayed over it, and inserts,
#    updates and deletes while the copy of a 300k-row table runs.
#  - A long transaction holding a low changelog sequence while short ones
#    commit past it: nothing lost.
#  - Parents of ON DELETE CASCADE / ON UPDATE CASCADE / SET NULL keys
#    deleted and updated (MariaDB fires no trigger for those rows).
#  - Text in latin1, cp1251 and ucs2 columns next to utf8mb4 ones.
#  - Text keys that a case- and accent-insensitive collation orders and
#    compares unlike PostgreSQL: verify finds no false mismatch.
#  - sysbench oltp_read_write for 60 s while replicate is killed with
#    SIGKILL three times and restarted; then every sysbench row is identical
#    (each side dumped by its own client), Chinook's figures agree, and
#    verify --once exits 0.
source "$(dirname "$0")/lib.sh"
source "$ROOT/scripts/lib/mariadb.sh"
trap 'mdb_stop_all; it_cleanup' EXIT

command -v sysbench >/dev/null || fail "sysbench is not installed (scripts/install-deps.sh)"
pgc_start TGT
mdb_start MDB "log-bin = binlog" "server-id = 1" "binlog_format = ROW"
my() { mdb_sql MDB --database=Chinook "$@"; }

gzip -dc "$ROOT/scripts/data/chinook/Chinook_MySql.sql.gz" | mdb_sql MDB --database=
my -e "SET SESSION sql_mode = '';
  CREATE TABLE all_types (id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, flag TINYINT(1),
    big BIGINT UNSIGNED, amount DECIMAL(12,3), ratio DOUBLE, small FLOAT, made DATETIME(6),
    day DATE, at TIME(3), stamp TIMESTAMP(3) NULL, yr YEAR, name VARCHAR(40), code CHAR(5),
    body TEXT, data BLOB, status ENUM('new','paid','void'), tags SET('a','b','c'),
    bits BIT(1), mask BIT(12), doc JSON, zero_day DATE) CHARACTER SET utf8mb4;
  INSERT INTO all_types VALUES (NULL, 1, 18446744073709551615, -1234.5, 0.1, 1.25,
    '2024-02-29 23:59:58.250001', '1999-12-31', '12:30:00.5', '2024-06-01 10:00:00.125', 2024,
    'Zoë ☕', 'ab', 'long text', x'00ff10', 'paid', 'a,c', b'1', b'101000000101',
    '{\"b\": [1, 2.5], \"a\": \"x\"}', '0000-00-00');
  INSERT INTO all_types (id) VALUES (NULL);
  CREATE TABLE p (id INT PRIMARY KEY, code VARCHAR(10) NOT NULL UNIQUE) ENGINE=InnoDB;
  CREATE TABLE c (id INT PRIMARY KEY, pid INT, pcode VARCHAR(10),
    FOREIGN KEY (pid) REFERENCES p (id) ON DELETE CASCADE,
    FOREIGN KEY (pcode) REFERENCES p (code) ON UPDATE CASCADE ON DELETE SET NULL) ENGINE=InnoDB;
  CREATE TABLE g (id INT PRIMARY KEY, cid INT, FOREIGN KEY (cid) REFERENCES c (id) ON DELETE CASCADE) ENGINE=InnoDB;
  INSERT INTO p VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd');
  INSERT INTO c VALUES (10, 1, 'a'), (11, 1, 'b'), (20, 2, 'b'), (30, 3, 'c'), (31, NULL, 'a'), (40, 4, 'd');
  INSERT INTO g VALUES (100, 10), (101, 11), (200, 20), (300, 30), (400, 40);
  CREATE TABLE labels (name VARCHAR(20) PRIMARY KEY, n INT) COLLATE utf8mb4_general_ci;
  INSERT INTO labels VALUES ('Émile', 1), ('emilf', 2), ('Zeta', 3), ('alpha', 4), ('ÄÖ', 5),
    ('aox', 6), ('b ', 7), ('Straße', 8), ('strasse2', 9);
  CREATE TABLE old_text (id INT PRIMARY KEY, west VARCHAR(20) CHARACTER SET latin1,
    east VARCHAR(20) CHARACTER SET cp1251, kind ENUM('ä', 'ö') CHARACTER SET latin1,
    wide VARCHAR(20) CHARACTER SET ucs2, note VARCHAR(20) COLLATE utf8mb4_unicode_ci,
    label VARCHAR(20) COLLATE utf8mb4_bin);
  INSERT INTO old_text VALUES (1, 'Müller', 'Жуков', 'ä', 'çà', 'Łódź', 'Zoë');
  CREATE TABLE words (w VARCHAR(32) PRIMARY KEY, n INT) COLLATE utf8mb4_general_ci;
  INSERT INTO words SELECT CONCAT('w', LPAD(seq, 6, '0')), seq FROM seq_1_to_60000;
  CREATE TABLE bulk (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(64)) ENGINE=InnoDB;
  INSERT INTO bulk SELECT seq, seq % 1000, MD5(seq) FROM seq_1_to_300000;"
SYSBENCH=(sysbench oltp_read_write --db-driver=mysql --mysql-socket="$MDB_SOCKET" --mysql-user=root
          --mysql-db=Chinook --tables=2 --table-size=10000)
"${SYSBENCH[@]}" prepare >"$WORK/sysbench-prepare.log" 2>&1 || { cat "$WORK/sysbench-prepare.log"; fail "sysbench prepare"; }

PASSWORD=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
my -e "CREATE USER app@'127.0.0.1' IDENTIFIED BY '$PASSWORD';
  GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER ON Chinook.* TO app@'127.0.0.1'"
printf '%s\n' "$PASSWORD" >"$WORK/legacy.pw"
chmod 600 "$WORK/legacy.pw"

CONF="$WORK/sy.yaml"
CONNINFO="Driver=MariaDB Unicode;Server=127.0.0.1;Port=$MDB_PORT;Database=Chinook;Uid=app;CHARSET=utf8mb4"
odbc_config() {
  {
    echo "source: { driver: odbc, conninfo: \"$CONNINFO\", $1 }"
    echo "target: { driver: postgres, conninfo: \"$(pgc_conninfo TGT)\" }"
    echo "tables: { include: [\"chinook.*\"] }"
    echo "snapshot: { workers: 2 }"
  } >"$CONF"
}
nothing_left() {
  local what
  what=$(my -e "SELECT (SELECT count(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'Chinook') + (SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'Chinook' AND TABLE_NAME LIKE 'switchyard%')")
  [ "$what" = 0 ] || fail "the source keeps $what triggers or changelog tables"
  what=$(pgc_psql TGT -c "SELECT (SELECT count(*) FROM pg_namespace WHERE nspname IN ('switchyard', 'chinook')) || '/' || (SELECT count(*) FROM pg_replication_origin)")
  [ "$what" = "0/0" ] || fail "the target keeps schemas/origins: $what"
}

# ---- refusals ---------------------------------------------------------------
export WRONG_PASSWORD="not-$PASSWORD"
odbc_config "password_env: WRONG_PASSWORD"
expect_failure 4 "source: .*Access denied" -- "$SY" -c "$CONF" init
grep -q -- "$WRONG_PASSWORD" "$WORK/err" && fail "the wrong password was echoed"
odbc_config "password_file: \"$WORK/legacy.pw\""
# check names all three at once, with their fixes, and changes nothing.
rc=0; "$SY" -c "$CONF" check >"$WORK/check.out" 2>&1 || rc=$?
[ "$rc" = 5 ] || { cat "$WORK/check.out"; fail "check exited $rc with rights missing"; }
grep -q "MISSING .*TRIGGER on \`Chinook\`.*lacks TRIGGER" "$WORK/check.out" || fail "check: no TRIGGER: $(cat "$WORK/check.out")"
grep -q "fix: GRANT PROCESS ON \*.\* TO 'app'@'127.0.0.1';" "$WORK/check.out" || fail "check: no PROCESS fix"
grep -q "MISSING .*binary logging" "$WORK/check.out" || fail "check: no binary logging"
nothing_left
log "ok: check lists TRIGGER, PROCESS and binary logging with their fixes (exit 5)"
expect_failure 5 "SUPER privilege and binary logging.*nothing was left behind" -- "$SY" -c "$CONF" init
nothing_left
my -e "SET GLOBAL log_bin_trust_function_creators = 1"
expect_failure 5 "TRIGGER command denied.*nothing was left behind" -- "$SY" -c "$CONF" init
nothing_left
my -e "GRANT TRIGGER ON Chinook.* TO app@'127.0.0.1'"
expect_failure 5 "PROCESS.*nothing was left behind" -- "$SY" -c "$CONF" init
nothing_left
my -e "GRANT PROCESS ON *.* TO app@'127.0.0.1'"
"$SY" -c "$CONF" check >"$WORK/check.out" 2>&1 || { cat "$WORK/check.out"; fail "check after the grants"; }

# ---- init, changes before the copy, the copy ---------------------------------
"$SY" -c "$CONF" init >"$WORK/init.out" 2>"$WORK/init.log" || { cat "$WORK/init.log"; fail "init"; }
log "$(cat "$WORK/init.out")"
my -e "UPDATE Track SET UnitPrice = 1.29 WHERE TrackId <= 100;
  DELETE FROM InvoiceLine WHERE InvoiceLineId > 2200;
  INSERT INTO Genre VALUES (100, 'Polka'); UPDATE Genre SET GenreId = 101 WHERE GenreId = 100;
  UPDATE all_types SET amount = 99.125, tags = 'b', doc = '{\"z\": null}' WHERE id = 1;
  DELETE FROM p WHERE id = 4;"
# Writes all through the copy (replicate copies first): inserts, updates,
# deletes of bulk's rows, some of them already copied, some not yet.
copy_writer() {
  local i=0
  while [ -e "$WORK/writer.on" ]; do
    i=$((i + 1))
    my -e "INSERT INTO bulk VALUES (300000 + $i, $i, 'new');
           UPDATE bulk SET v = v + 1, note = 'during copy $i' WHERE id IN ($((i * 997 % 300000 + 1)), $((300000 - i * 13 % 300000)));
           DELETE FROM bulk WHERE id = $((i * 7919 % 300000 + 1));" 2>>"$WORK/writer.err" || true
  done
  echo "$i" >"$WORK/writer.count"
}
touch "$WORK/writer.on"
copy_writer &
WRITER_PID=$!
BACKGROUND+=("$WRITER_PID")
sleep 1
start_replicate "$CONF" "$WORK/replicate.log"
wait_streaming "$CONF"
sleep 1
rm -f "$WORK/writer.on"
wait "$WRITER_PID"
log "$(cat "$WORK/writer.count") write transactions on bulk while it was copied ($(grep -o 'copied chinook.bulk.*' "$WORK/replicate.log"))"
grep -q "zero_day: 1 zero dates became NULL" "$WORK/replicate.log" || fail "the zero date was not counted"

# ---- out-of-order commits ------------------------------------------------------
my -e "BEGIN; INSERT INTO Genre VALUES (200, 'Long transaction'); SELECT SLEEP(4); COMMIT;" >/dev/null &
LONG_PID=$!
sleep 0.5
for id in $(seq 201 220); do my -e "INSERT INTO Genre VALUES ($id, 'short $id')"; done
wait "$LONG_PID"

# ---- foreign-key actions ---------------------------------------------------------
my -e "DELETE FROM p WHERE id = 1; UPDATE p SET code = 'bb' WHERE id = 2; DELETE FROM p WHERE id = 3;
  UPDATE all_types SET code = 'xy', mask = b'1', stamp = '2030-01-01 00:00:00', body = 'änderung' WHERE id = 1;
  UPDATE labels SET n = n + 10 WHERE name IN ('emile', 'ZETA', 'aö');
  UPDATE labels SET name = 'ZETA' WHERE name = 'zeta'; UPDATE labels SET name = 'b' WHERE name = 'b ';
  UPDATE old_text SET west = 'Straße', east = 'Щука', kind = 'ö', wide = 'ñ', note = '☕ x' WHERE id = 1;
  INSERT INTO old_text VALUES (2, 'Ærø', 'Ёж', NULL, NULL, 'é', NULL);"

# ---- sysbench for 60 s, replicate killed three times -----------------------------
"${SYSBENCH[@]}" --threads=2 --rate=100 --time=60 --report-interval=20 run >"$WORK/sysbench.log" 2>&1 &
BENCH_PID=$!
BACKGROUND+=("$BENCH_PID")
for round in 1 2 3; do
  sleep 15
  kill -9 "$REPLICATE_PID"
  wait "$REPLICATE_PID" 2>/dev/null || true
  log "replicate killed with SIGKILL under sysbench (round $round); restarting"
  start_replicate "$CONF" "$WORK/replicate.log"
done
wait "$BENCH_PID" || { cat "$WORK/sysbench.log"; fail "sysbench run"; }
log "sysbench: $(grep -E 'transactions:' "$WORK/sysbench.log" | tr -s ' ')"

# ---- parity, by each engine's own client ------------------------------------------
dump_source() { my -e "SELECT id, k, c, pad FROM $1 ORDER BY id" | md5sum; }
# CHAR(n): MariaDB drops the padding, PostgreSQL keeps it.
dump_target() { pgc_psql TGT -F $'\t' -c "SELECT id, k, rtrim(c), rtrim(pad) FROM chinook.$1 ORDER BY id" | md5sum; }
figures() {
  local run=$1 schema=$2
  $run "SELECT count(*), sum(GenreId) FROM ${schema}Genre"
  $run "SELECT count(*), sum(TrackId), sum(round(UnitPrice * 100)) FROM ${schema}Track"
  $run "SELECT count(*), sum(InvoiceLineId) FROM ${schema}InvoiceLine"
  $run "SELECT count(*), sum(id), sum(coalesce(pid, 0)), count(pcode), sum(length(pcode)) FROM ${schema}c"
  $run "SELECT count(*), sum(id) FROM ${schema}g"
  $run "SELECT count(*), sum(n), sum(char_length(name)) FROM ${schema}labels"
}
my_run() { my -e "$1" | tr '\t' '|'; }
pg_run() { pgc_psql TGT -F '|' -c "$1"; }
deadline=$(( $(date +%s) + 120 ))
bulk_source() { my -e "SELECT id, v, note FROM bulk ORDER BY id" | md5sum; }
bulk_target() { pgc_psql TGT -F $'\t' -c "SELECT id, v, note FROM chinook.bulk ORDER BY id" | md5sum; }
until [ "$(dump_source sbtest1)" = "$(dump_target sbtest1)" ] && [ "$(dump_source sbtest2)" = "$(dump_target sbtest2)" ] \
      && [ "$(bulk_source)" = "$(bulk_target)" ] \
      && [ "$(figures my_run "")" = "$(figures pg_run "chinook.")" ]; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    diff <(figures my_run "") <(figures pg_run "chinook.") >&2 || true
    "$SY" -c "$CONF" status >&2 || true
    fail "no parity 120 s after sysbench"
  fi
  sleep 1
done
log "ok: every sysbench and bulk row identical and Chinook's figures agree, after 3 SIGKILLs under sysbench"
[ "$(pgc_psql TGT -c "SELECT name FROM chinook.genre WHERE genreid = 200")" = "Long transaction" ] \
  || fail "the long transaction's row (a low sequence committed late) was lost"
[ "$(pgc_psql TGT -c "SELECT count(*) FROM chinook.g")" = 1 ] || fail "cascaded grandchildren were not deleted"
[ "$(pgc_psql TGT -c "SELECT string_agg(name, '|' ORDER BY name COLLATE \"C\") FROM chinook.labels WHERE name IN ('ZETA', 'Zeta', 'b', 'b ')")" = "ZETA|b" ] \
  || fail "a key changed only in case or trailing space did not reach the target exactly"
# Columns in latin1, cp1251 and ucs2 next to utf8mb4 ones of two collations:
# captured (the triggers must not fail the application's writes) and
# converted exactly.
[ "$(pg_run "SELECT id, west, east, kind, wide, note, label FROM chinook.old_text ORDER BY id")" \
  = "$(printf '1|Straße|Щука|ö|ñ|☕ x|Zoë\n2|Ærø|Ёж|||é|')" ] || fail "text of other character sets: $(pg_run "TABLE chinook.old_text")"

"$SY" -c "$CONF" verify --once >"$WORK/verify.out" 2>"$WORK/verify.log" \
  || { cat "$WORK/verify.log"; fail "verify --once: $(cat "$WORK/verify.out")"; }
log "ok: $(cat "$WORK/verify.out")"

# ---- a text key in many chunks -------------------------------------------------------
# Ranged in MariaDB's collation order on the source, probed on the target by
# exact bytes; a row only the target holds (a key differing from the
# source's in case alone) is found by the last chunk's sweep.
pgc_psql TGT -c "SET session_replication_role = replica;
  UPDATE chinook.words SET n = -1 WHERE w = 'w030000';
  INSERT INTO chinook.words VALUES ('W000100', 7)" >/dev/null
cp "$CONF" "$WORK/chunks.yaml"
echo "verify: { chunk_time: 1ms }" >>"$WORK/chunks.yaml"
rc=0; "$SY" -c "$WORK/chunks.yaml" verify --once --table chinook.words >"$WORK/words.out" 2>"$WORK/words.log" || rc=$?
[ "$rc" = 1 ] || { cat "$WORK/words.log"; fail "verify of words exited $rc: $(cat "$WORK/words.out")"; }
grep -q 'row {"w":"w030000"} is different' "$WORK/words.log" || fail "the changed row was not named: $(cat "$WORK/words.log")"
grep -q 'row {"w":"W000100"} is extra' "$WORK/words.log" || fail "the target-only row was not named: $(cat "$WORK/words.log")"
chunks=$(pgc_psql TGT -c "SELECT count(*) FROM switchyard.verify_chunks WHERE table_name = 'words'")
[ "$chunks" -ge 3 ] || fail "words was compared in $chunks chunks"
"$SY" -c "$CONF" verify --repair >/dev/null 2>"$WORK/repair.log" || { cat "$WORK/repair.log"; fail "repair of words"; }
"$SY" -c "$WORK/chunks.yaml" verify --once --table chinook.words >/dev/null 2>&1 || fail "words after repair"
log "ok: a text key verified in $chunks chunks: a changed row and a target-only case variant found, repaired"

"$SY" -c "$CONF" status >"$WORK/status.out"
grep -q "^changelog .*(MariaDB), replicate running" "$WORK/status.out" || fail "status: $(cat "$WORK/status.out")"
if grep -rqF -- "$PASSWORD" "$WORK"/*.log "$WORK"/*.out "$WORK/err" 2>/dev/null; then
  fail "the password appears in a log"
fi

# ---- teardown -------------------------------------------------------------------------
kill -TERM "$REPLICATE_PID"; wait "$REPLICATE_PID" || fail "replicate did not stop cleanly"
"$SY" -c "$CONF" teardown --yes >"$WORK/teardown.out" 2>/dev/null || fail "teardown"
log "$(cat "$WORK/teardown.out")"
[ "$(my -e "SELECT count(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'Chinook'")" = 0 ] \
  || fail "capture triggers are left on the source"
[ "$(my -e "SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'Chinook' AND TABLE_NAME LIKE 'switchyard%'")" = 0 ] \
  || fail "the changelog is left on the source"
log "ok: teardown removed every trigger and the changelog"
