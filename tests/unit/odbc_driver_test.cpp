// drivers/odbc against a real engine that needs no server: SQLite through
// its ODBC driver (libsqliteodbc), in a file of a temporary directory.

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "common/error.h"
#include "drivers/odbc/connection.h"
#include "drivers/odbc/dialect.h"
#include "error_matchers.h"
#include "replicator/changelog_watermark.h"
#include "replicator/schema_translation.h"

using namespace switchyard;
using switchyard::test::IsError;

namespace {

struct SqliteFile {
  std::filesystem::path dir;
  std::string conninfo;

  SqliteFile() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "switchyard-odbc.XXXXXX").string();
    dir = mkdtemp(pattern.data());
    // A new database, created on purpose: switchyard connects with
    // NoCreat=1 unless told otherwise.
    conninfo = "Driver=SQLite3;NoCreat=0;Database=" + (dir / "legacy.db").string();
  }
  ~SqliteFile() { std::filesystem::remove_all(dir); }
};

std::vector<std::vector<Value>> all_rows(odbc::Statement& statement,
                                         std::vector<std::vector<std::string>>& storage) {
  std::vector<std::vector<Value>> rows;
  std::vector<Value> row;
  while (statement.next(row)) {
    // Values are views: keep their bytes.
    storage.emplace_back();
    for (auto& value : row) {
      storage.back().emplace_back(value.bytes);
    }
    rows.push_back(row);
    for (size_t idx = 0; idx < row.size(); ++idx) rows.back()[idx].bytes = storage.back()[idx];
  }
  return rows;
}

}  // namespace

TEST_CASE("ODBC: connect, name the engine, write and read typed values", "[odbc]") {
  SqliteFile file;
  odbc::Connection connection(file.conninfo, "source");
  CHECK(connection.dbms_name() == "SQLite");
  connection.exec(
      "CREATE TABLE orders (id INTEGER PRIMARY KEY, qty INTEGER, price REAL, "
      "total NUMERIC(10,2), note TEXT, placed DATE, at TIMESTAMP, doc BLOB)");
  connection.begin();
  CHECK(connection.exec("INSERT INTO orders VALUES (1, 3, 2.5, 7.50, 'café ☕', '2024-02-29', "
                        "'2024-02-29 23:59:58.25', x'00ff10')") == 1);
  connection.exec("INSERT INTO orders (id) VALUES (?)", {std::string("2")});
  connection.exec("INSERT INTO orders (id, note) VALUES (?, ?)", {std::string("3"), std::nullopt});
  connection.commit();

  odbc::Statement statement(connection, "SELECT * FROM orders ORDER BY id", {}, 1);
  REQUIRE(statement.columns().size() == 8);
  CHECK(statement.columns()[0].name == "id");
  std::vector<std::vector<std::string>> storage;
  const auto rows = all_rows(statement, storage);
  REQUIRE(rows.size() == 3);
  const auto& first = rows[0];
  CHECK(first[0].type == ValueType::kInt);
  CHECK(first[0].integer == 1);
  CHECK(first[1].integer == 3);
  CHECK(first[2].type == ValueType::kFloat);
  CHECK(first[2].real == 2.5);
  CHECK(first[4].type == ValueType::kText);
  CHECK(first[4].bytes == "café ☕");
  CHECK(first[5].type == ValueType::kDate);
  CHECK(first[5].integer == days_from_civil(2024, 2, 29));
  CHECK(first[6].type == ValueType::kTimestamp);
  CHECK(first[6].integer == days_from_civil(2024, 2, 29) * 86'400'000'000LL +
                                (23 * 3600 + 59 * 60 + 58) * 1'000'000LL + 250'000);
  CHECK(first[7].type == ValueType::kBytes);
  CHECK(first[7].bytes == std::string("\x00\xff\x10", 3));
  // NULLs, from the statement and from a NULL parameter.
  CHECK(rows[1][1].type == ValueType::kNull);
  CHECK(rows[1][4].type == ValueType::kNull);
  CHECK(rows[2][4].type == ValueType::kNull);
}

TEST_CASE("ODBC: many rows in blocks, and a rolled back transaction leaves nothing", "[odbc]") {
  SqliteFile file;
  odbc::Connection connection(file.conninfo, "source");
  connection.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR(20))");
  connection.begin();
  for (int id = 0; id < 2500; ++id) {
    connection.exec("INSERT INTO t VALUES (?, ?)", {std::to_string(id), "v" + std::to_string(id)});
  }
  connection.commit();
  connection.begin();
  connection.exec("DELETE FROM t");
  connection.rollback();
  for (size_t block : {size_t{1}, size_t{1024}}) {
    odbc::Statement statement(connection, "SELECT id, v FROM t ORDER BY id", {}, block);
    std::vector<Value> row;
    int64_t expected = 0;
    while (statement.next(row)) {
      REQUIRE(row[0].integer == expected);
      REQUIRE(row[1].bytes == "v" + std::to_string(expected));
      ++expected;
    }
    CHECK(expected == 2500);
  }
}

TEST_CASE("ODBC: a missing driver is named, with where drivers are listed", "[odbc][bad-input]") {
  CHECK_THROWS_MATCHES(
      odbc::Connection("Driver=NoSuchDriver;Database=x", "source", "s3cret"), Error,
      IsError(ErrorKind::kUsage,
              {"source: ODBC driver 'NoSuchDriver' is not installed", "odbcinst -q -d"}));
  try {
    odbc::Connection("Driver=NoSuchDriver;Database=x", "source", "s3cret");
  } catch (const Error& error) {
    CHECK(std::string(error.what()).find("s3cret") == std::string::npos);
  }
}

TEST_CASE("ODBC: a failing statement is a database error with its SQLSTATE and query",
          "[odbc][bad-input]") {
  SqliteFile file;
  odbc::Connection connection(file.conninfo, "source");
  try {
    odbc::Statement statement(connection, "SELECT * FROM nosuch");
    FAIL("no error");
  } catch (const Error& error) {
    CHECK(error.kind() == ErrorKind::kDatabase);
    CHECK(std::string(error.what()).rfind("source: ", 0) == 0);
    CHECK(std::string(error.what()).find("nosuch") != std::string::npos);
    CHECK(error.query() == "SELECT * FROM nosuch");
    CHECK(error.sqlstate().size() == 5);
  }
}

// ---- MariaDB ---------------------------------------------------------------
// Hidden ([.mariadb]): run by the integration test odbc_mariadb, which
// starts a server and passes its connection string and password.

namespace {

std::string required_env(const char* name) {
  const char* value = std::getenv(name);
  if (!value || !*value) FAIL(std::string(name) + " is not set (run through odbc_mariadb.sh)");
  return value;
}

}  // namespace

TEST_CASE("ODBC: MariaDB's types as typed values", "[.mariadb]") {
  odbc::Connection connection(required_env("SWITCHYARD_TEST_MARIADB"), "source",
                              required_env("SWITCHYARD_TEST_MARIADB_PASSWORD"));
  CHECK(connection.dbms_name() == "MariaDB");
  connection.exec("SET SESSION sql_mode = ''");  // a legacy's zero dates
  connection.exec(
      "CREATE TABLE kinds (id INT UNSIGNED PRIMARY KEY, flag TINYINT(1), big BIGINT UNSIGNED, "
      "amount DECIMAL(12,3), ratio DOUBLE, made DATETIME(6), day DATE, at TIME(3), "
      "name VARCHAR(40), code CHAR(5), body TEXT, data BLOB, status ENUM('new','paid'), "
      "bits BIT(1), zero DATETIME) CHARACTER SET utf8mb4");
  connection.exec(
      "INSERT INTO kinds VALUES (1, 1, 18446744073709551615, -1234.500, 0.1, "
      "'2024-02-29 23:59:58.250001', '1999-12-31', '12:30:00.5', 'Zoë ☕', 'ab', 'long text', "
      "x'00ff', 'paid', b'1', '0000-00-00 00:00:00')");
  connection.exec("INSERT INTO kinds (id) VALUES (2)");

  for (size_t block : {size_t{1}, size_t{64}}) {
    odbc::Statement statement(connection, "SELECT * FROM kinds ORDER BY id", {}, block);
    std::vector<std::vector<std::string>> storage;
    const auto rows = all_rows(statement, storage);
    REQUIRE(rows.size() == 2);
    const auto& row = rows[0];
    CHECK(row[0].integer == 1);
    CHECK(row[1].type == ValueType::kInt);  // tinyint(1): a boolean by convention only
    CHECK(row[1].integer == 1);
    CHECK(row[2].type == ValueType::kNumeric);  // unsigned bigint: beyond int64
    CHECK(row[2].bytes == "18446744073709551615");
    CHECK(row[3].type == ValueType::kNumeric);
    CHECK(row[3].bytes == "-1234.500");
    CHECK(row[4].real == 0.1);
    CHECK(row[5].integer == days_from_civil(2024, 2, 29) * 86'400'000'000LL +
                                (23 * 3600 + 59 * 60 + 58) * 1'000'000LL + 250'001);
    CHECK(row[6].integer == days_from_civil(1999, 12, 31));
    CHECK(row[7].type == ValueType::kTime);
    CHECK(row[7].integer == (12 * 3600 + 30 * 60) * 1'000'000LL + 500'000);
    CHECK(row[8].bytes == "Zoë ☕");
    CHECK(row[9].bytes == "ab");  // MariaDB returns CHAR(n) without its padding
    CHECK(row[10].bytes == "long text");
    CHECK(row[11].bytes == std::string("\x00\xff", 2));
    CHECK(row[12].bytes == "paid");
    CHECK(row[13].type == ValueType::kBool);
    CHECK(row[13].integer == 1);
    // A zero date is no date: the driver itself reads it as NULL (counting
    // them is the snapshot's job, by query).
    CHECK(row[14].type == ValueType::kNull);
    for (size_t column = 1; column < rows[1].size(); ++column) {
      CHECK(rows[1][column].type == ValueType::kNull);
    }
  }
}

TEST_CASE("ODBC: MariaDB in blocks, and a wrong password not echoed", "[.mariadb]") {
  const std::string conninfo = required_env("SWITCHYARD_TEST_MARIADB");
  odbc::Connection connection(conninfo, "source", required_env("SWITCHYARD_TEST_MARIADB_PASSWORD"));
  connection.exec("CREATE TABLE items (id BIGINT PRIMARY KEY, v VARCHAR(20))");
  connection.begin();
  for (int id = 0; id < 3000; ++id) {
    connection.exec("INSERT INTO items VALUES (?, ?)",
                    {std::to_string(id), "v" + std::to_string(id)});
  }
  connection.commit();
  odbc::Statement statement(connection, "SELECT id, v FROM items ORDER BY id", {}, 1024);
  std::vector<Value> row;
  int64_t expected = 0;
  while (statement.next(row)) {
    REQUIRE(row[0].integer == expected);
    REQUIRE(row[1].bytes == "v" + std::to_string(expected));
    ++expected;
  }
  CHECK(expected == 3000);

  try {
    odbc::Connection wrong(conninfo, "source", "not-the-Password-42");
    FAIL("connected with a wrong password");
  } catch (const Error& error) {
    CHECK(error.kind() == ErrorKind::kAuth);
    CHECK(std::string(error.what()).find("not-the-Password-42") == std::string::npos);
  }
}

// ---- catalogs ----------------------------------------------------------------

namespace {

const odbc::LegacyTable& table_named(const std::vector<odbc::LegacyTable>& tables,
                                     const std::string& name) {
  for (const auto& table : tables) {
    if (table.name == name) return table;
  }
  FAIL("no table " + name);
  throw;
}

// The Chinook sample's shape, the same on every engine.
void check_chinook(const std::vector<odbc::LegacyTable>& tables) {
  REQUIRE(tables.size() == 11);
  const auto& album = table_named(tables, "Album");
  CHECK(album.primary_key == std::vector<std::string>{"AlbumId"});
  REQUIRE(album.columns.size() == 3);
  CHECK(album.columns[1].name == "Title");
  CHECK_FALSE(album.columns[1].nullable);
  REQUIRE(album.foreign_keys.size() == 1);
  CHECK(album.foreign_keys[0].columns == std::vector<std::string>{"ArtistId"});
  CHECK(album.foreign_keys[0].referenced_table == "Artist");
  CHECK(album.foreign_keys[0].referenced_columns == std::vector<std::string>{"ArtistId"});
  CHECK(album.foreign_keys[0].on_delete == "NO ACTION");
  const auto& playlist_track = table_named(tables, "PlaylistTrack");
  CHECK(playlist_track.primary_key == std::vector<std::string>{"PlaylistId", "TrackId"});
  CHECK(playlist_track.foreign_keys.size() == 2);
  const auto& invoice = table_named(tables, "Invoice");
  bool total_seen = false;
  for (const auto& column : invoice.columns) {
    if (column.name == "Total") {
      total_seen = true;
      CHECK((column.base == "numeric" || column.base == "decimal"));
    }
  }
  CHECK(total_seen);
}

}  // namespace

TEST_CASE("ODBC: SQLite's catalog, on the Chinook sample", "[odbc]") {
  SqliteFile file;
  const std::string load = "gzip -dc '" SWITCHYARD_SOURCE_DIR
                           "/scripts/data/chinook/Chinook_Sqlite.sql.gz' | sqlite3 '" +
                           (file.dir / "legacy.db").string() + "'";
  REQUIRE(std::system(load.c_str()) == 0);
  odbc::Connection connection(file.conninfo, "source");
  const auto dialect = odbc::Dialect::detect(connection);
  CHECK(dialect->engine() == "SQLite");
  CHECK(dialect->quote("a\"b") == "\"a\"\"b\"");
  const auto tables = dialect->tables(connection);
  check_chinook(tables);
  // Every Chinook column has a rule.
  for (const auto& table : tables) CHECK_NOTHROW(translate_table("SQLite", table, {}));
  const auto invoice = translate_table("SQLite", table_named(tables, "Invoice"), {});
  CHECK(invoice.schema == "public");
  CHECK(invoice.name == "invoice");
  CHECK(invoice.columns.back().type == "numeric(10,2)");
}

TEST_CASE("ODBC: an INTEGER PRIMARY KEY is SQLite's rowid; unique keys need NOT NULL columns",
          "[odbc]") {
  SqliteFile file;
  odbc::Connection connection(file.conninfo, "source");
  connection.exec(
      "CREATE TABLE a (id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE, "
      "alt TEXT UNIQUE)");
  connection.exec("CREATE TABLE log (at TEXT, line TEXT)");
  const auto tables = odbc::Dialect::detect(connection)->tables(connection);
  const auto& a = table_named(tables, "a");
  CHECK(a.columns[0].auto_increment);
  CHECK(a.unique_keys == std::vector<std::vector<std::string>>{{"code"}});
  const auto& log = table_named(tables, "log");
  CHECK(log.primary_key.empty());
  CHECK(log.unique_keys.empty());
}

TEST_CASE("ODBC: MariaDB's catalog, on the Chinook sample", "[.mariadb]") {
  odbc::Connection connection(required_env("SWITCHYARD_TEST_MARIADB_CHINOOK"), "source",
                              required_env("SWITCHYARD_TEST_MARIADB_PASSWORD"));
  const auto dialect = odbc::Dialect::detect(connection);
  CHECK(dialect->engine() == "MariaDB");
  CHECK(dialect->quote("a`b") == "`a``b`");
  const auto tables = dialect->tables(connection);
  check_chinook(tables);
  CHECK(tables.front().schema == "Chinook");
  for (const auto& table : tables) CHECK_NOTHROW(translate_table("MariaDB", table, {}));
  const auto album = translate_table("MariaDB", table_named(tables, "Album"), {});
  CHECK(album.schema == "chinook");
  CHECK(album.columns[1].type == "varchar(160)");
  CHECK(translate_table("MariaDB", table_named(tables, "Invoice"), {}).columns.back().type ==
        "numeric(10,2)");
}

TEST_CASE("ODBC: MariaDB's unsigned, auto_increment, defaults and cascading keys", "[.mariadb]") {
  odbc::Connection connection(required_env("SWITCHYARD_TEST_MARIADB"), "source",
                              required_env("SWITCHYARD_TEST_MARIADB_PASSWORD"));
  connection.exec(
      "CREATE TABLE parent (id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, "
      "status ENUM('new','paid') NOT NULL DEFAULT 'new', note VARCHAR(10))");
  connection.exec(
      "CREATE TABLE child (id BIGINT PRIMARY KEY, parent_id INT UNSIGNED, "
      "email VARCHAR(80) NOT NULL, UNIQUE KEY (email), "
      "FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE "
      "ON UPDATE SET NULL)");
  const auto tables = odbc::Dialect::detect(connection)->tables(connection);
  const auto& parent = table_named(tables, "parent");
  CHECK(parent.columns[0].is_unsigned);
  CHECK(parent.columns[0].auto_increment);
  CHECK(parent.columns[1].base == "enum");
  CHECK(parent.columns[1].declared == "enum('new','paid')");
  CHECK(parent.columns[1].default_value == "'new'");
  CHECK_FALSE(parent.columns[2].default_value);
  const auto& child = table_named(tables, "child");
  CHECK(child.unique_keys == std::vector<std::vector<std::string>>{{"email"}});
  REQUIRE(child.foreign_keys.size() == 1);
  CHECK(child.foreign_keys[0].on_delete == "CASCADE");
  CHECK(child.foreign_keys[0].on_update == "SET NULL");
}

// ---- trigger capture -----------------------------------------------------------

namespace {

struct ChangelogRow {
  std::string table, kind;
  std::optional<std::string> old_key, new_row;
};

std::vector<ChangelogRow> changelog(odbc::Connection& connection, const std::string& stream) {
  const auto dialect = odbc::Dialect::detect(connection);
  odbc::Statement statement(connection,
                            "SELECT table_name, kind, old_key, new_row FROM " +
                                dialect->quote(odbc::Dialect::changelog_name(stream)) +
                                " ORDER BY seq",
                            {}, 1);
  std::vector<ChangelogRow> rows;
  std::vector<Value> row;
  auto text = [](const Value& value) -> std::optional<std::string> {
    if (value.type == ValueType::kNull) return std::nullopt;
    return std::string(value.bytes);
  };
  while (statement.next(row)) {
    rows.push_back(
        {std::string(row[0].bytes), std::string(row[1].bytes), text(row[2]), text(row[3])});
  }
  return rows;
}

// A logged row (odbc::parse_captured_row) as its values (nullopt for NULL).
using Logged = std::vector<std::optional<std::string>>;
Logged values(const std::optional<std::string>& captured) {
  REQUIRE(captured);
  std::vector<std::optional<std::string_view>> parsed;
  REQUIRE(odbc::parse_captured_row(*captured, parsed));
  Logged out;
  for (const auto& value : parsed) {
    out.emplace_back(value ? std::optional<std::string>(*value) : std::nullopt);
  }
  return out;
}

// Installs capture on `orders`, changes it, and checks what was logged;
// then removes capture and checks nothing is left.
void capture_round_trip(odbc::Connection& connection, const std::string& list_triggers) {
  const auto dialect = odbc::Dialect::detect(connection);
  auto tables = dialect->tables(connection);
  const odbc::LegacyTable orders = table_named(tables, "orders");
  for (const auto& sql : dialect->capture_install("s1", {orders})) connection.exec(sql);
  connection.exec("INSERT INTO orders (id, note, data) VALUES (1, 'it''s 5:☕', x'00ff')");
  connection.exec("UPDATE orders SET note = NULL WHERE id = 1");
  connection.exec("UPDATE orders SET id = 2 WHERE id = 1");
  connection.exec("DELETE FROM orders WHERE id = 2");
  const auto rows = changelog(connection, "s1");
  REQUIRE(rows.size() == 4);
  CHECK(rows[0].table == "orders");
  CHECK(rows[0].kind == "I");
  CHECK_FALSE(rows[0].old_key);
  CHECK(values(rows[0].new_row) == Logged{"1", "it's 5:☕", "00FF"});
  CHECK(rows[1].kind == "U");
  CHECK_FALSE(rows[1].old_key);  // the key did not change: not logged
  CHECK(values(rows[1].new_row) == Logged{"1", std::nullopt, "00FF"});
  CHECK(values(rows[2].old_key) == Logged{"1"});  // the key changed: the old one is logged
  CHECK(values(rows[2].new_row) == Logged{"2", std::nullopt, "00FF"});
  CHECK(rows[3].kind == "D");
  CHECK(values(rows[3].old_key) == Logged{"2"});
  CHECK_FALSE(rows[3].new_row);
  for (const auto& sql : dialect->capture_remove("s1", {orders})) connection.exec(sql);
  for (const auto& sql : dialect->capture_remove("s1", {orders})) connection.exec(sql);  // again
  odbc::Statement left(connection, list_triggers, {}, 1);
  std::vector<Value> row;
  CHECK_FALSE(left.next(row));
  connection.exec("INSERT INTO orders (id) VALUES (3)");  // no trigger, no changelog
}

}  // namespace

TEST_CASE("ODBC: SQLite's capture triggers log every change, and go without a trace", "[odbc]") {
  SqliteFile file;
  odbc::Connection connection(file.conninfo, "source");
  connection.exec("CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT, data BLOB)");
  capture_round_trip(connection,
                     "SELECT name FROM sqlite_master WHERE type = 'trigger' OR name LIKE "
                     "'switchyard%'");
}

TEST_CASE("ODBC: MariaDB's capture triggers log every change, and go without a trace",
          "[.mariadb]") {
  odbc::Connection connection(required_env("SWITCHYARD_TEST_MARIADB"), "source",
                              required_env("SWITCHYARD_TEST_MARIADB_PASSWORD"));
  connection.exec("CREATE TABLE orders (id INT PRIMARY KEY, note VARCHAR(20), data VARBINARY(8))");
  capture_round_trip(connection,
                     "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = "
                     "DATABASE() UNION ALL SELECT TABLE_NAME FROM information_schema.TABLES WHERE "
                     "TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'switchyard%'");
}

TEST_CASE("ODBC: out-of-order commits on MariaDB: nothing is lost below the safe watermark",
          "[.mariadb]") {
  const std::string conninfo = required_env("SWITCHYARD_TEST_MARIADB");
  const std::string password = required_env("SWITCHYARD_TEST_MARIADB_PASSWORD");
  odbc::Connection setup(conninfo, "source", password);
  setup.exec("CREATE TABLE events (id INT PRIMARY KEY, what VARCHAR(20))");
  const auto dialect = odbc::Dialect::detect(setup);
  const auto tables = dialect->tables(setup);
  for (const auto& sql : dialect->capture_install("w", {table_named(tables, "events")})) {
    setup.exec(sql);
  }
  const std::string changelog = dialect->quote(odbc::Dialect::changelog_name("w"));
  auto rows_up_to = [&](odbc::Connection& connection, uint64_t position) {
    odbc::Statement count(connection, "SELECT COUNT(*) FROM " + changelog + " WHERE seq <= ?",
                          {std::to_string(position)}, 1);
    std::vector<Value> row;
    count.next(row);
    return row[0].integer;
  };

  // A long transaction takes the lowest sequence and stays open...
  odbc::Connection long_writer(conninfo, "source", password);
  long_writer.begin();
  long_writer.exec("INSERT INTO events VALUES (1, 'long')");
  // ...while twenty short ones commit after it.
  odbc::Connection short_writer(conninfo, "source", password);
  for (int id = 2; id <= 21; ++id) {
    short_writer.exec("INSERT INTO events VALUES (?, 'short')", {std::to_string(id)});
  }
  odbc::Connection poller(conninfo, "source", password);
  SafeWatermark watermark;
  auto ended = [&](const std::vector<std::string>& open) {
    return dialect->transactions_ended(poller, open);
  };
  const auto probe = dialect->probe_changelog(poller, "w");
  CHECK(probe.highest == 21);
  CHECK_FALSE(probe.open.empty());
  // A poller reading up to the highest committed sequence would take 20
  // rows now and move past sequence 1 for good: the trap.
  CHECK(rows_up_to(poller, probe.highest) == 20);
  CHECK(watermark.advance(probe, ended) == 0);
  CHECK(watermark.advance(dialect->probe_changelog(poller, "w"), ended) == 0);

  long_writer.commit();
  const auto after = dialect->probe_changelog(poller, "w");
  INFO("transactions open after the commit: " << after.open.size());
  const uint64_t safe = watermark.advance(after, ended);
  CHECK(safe == 21);
  CHECK(rows_up_to(poller, safe) == 21);  // sequence 1 included
}
