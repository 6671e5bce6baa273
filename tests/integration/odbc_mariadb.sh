# drivers/odbc against a real MariaDB 10.11 through its ODBC driver: every
# type a MariaDB legacy uses, read as typed values in blocks and row by
# row; a wrong password refused and not echoed; the catalog (the Chinook
# sample; unsigned, auto_increment, enum, defaults, cascading keys); capture
# triggers; the safe watermark under out-of-order commits (reading open
# transactions from INNODB_TRX needs the PROCESS privilege). The C++ cases are the unit
# test binary's hidden [mariadb] tag; this script starts the server.
source "$(dirname "$0")/lib.sh"
source "$ROOT/scripts/lib/mariadb.sh"
trap 'mdb_stop_all; it_cleanup' EXIT

UNIT=$(cd "$(dirname "$SY")/../tests/unit" && pwd)/switchyard_unit_tests
mdb_start MDB
PASSWORD=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
gzip -dc "$ROOT/scripts/data/chinook/Chinook_MySql.sql.gz" | mdb_sql MDB --database=
mdb_sql MDB -e "CREATE USER app@'127.0.0.1' IDENTIFIED BY '$PASSWORD'; GRANT ALL ON shop.* TO app@'127.0.0.1'; GRANT ALL ON Chinook.* TO app@'127.0.0.1'; GRANT PROCESS ON *.* TO app@'127.0.0.1'"
export SWITCHYARD_TEST_MARIADB="Driver=MariaDB Unicode;Server=127.0.0.1;Port=$MDB_PORT;Database=shop;Uid=app;CHARSET=utf8mb4"
export SWITCHYARD_TEST_MARIADB_CHINOOK="Driver=MariaDB Unicode;Server=127.0.0.1;Port=$MDB_PORT;Database=Chinook;Uid=app;CHARSET=utf8mb4"
export SWITCHYARD_TEST_MARIADB_PASSWORD="$PASSWORD"
"$UNIT" "[mariadb]" || fail "the MariaDB driver cases failed"
log "ok: MariaDB $(mdb_sql MDB -e 'SELECT VERSION()') through odbc-mariadb"
