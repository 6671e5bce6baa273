// translate_table: the casting rules from MariaDB and SQLite to PostgreSQL.

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "error_matchers.h"
#include "replicator/schema_translation.h"

using namespace switchyard;
using switchyard::test::IsError;

namespace {

odbc::LegacyColumn column(const std::string& name, const std::string& declared,
                          const std::string& base, bool is_unsigned = false) {
  odbc::LegacyColumn out;
  out.name = name;
  out.declared = declared;
  out.base = base;
  out.is_unsigned = is_unsigned;
  return out;
}

std::string mariadb(const std::string& declared, const std::string& base,
                    bool is_unsigned = false) {
  odbc::LegacyTable table;
  table.schema = "Shop";
  table.name = "Orders";
  table.columns.push_back(column("C", declared, base, is_unsigned));
  return translate_table("MariaDB", table, {}).columns.at(0).type;
}

std::string sqlite(const std::string& declared) {
  odbc::LegacyTable table;
  table.schema = "main";
  table.name = "t";
  std::string base = declared.substr(0, declared.find('('));
  for (char& c : base) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  table.columns.push_back(column("c", declared, base));
  return translate_table("SQLite", table, {}).columns.at(0).type;
}

}  // namespace

TEST_CASE("MariaDB types map as the README's table says", "[schema_translation]") {
  CHECK(mariadb("tinyint(1)", "tinyint") == "boolean");
  CHECK(mariadb("bit(1)", "bit") == "boolean");
  CHECK(mariadb("tinyint(4)", "tinyint") == "smallint");
  CHECK(mariadb("tinyint(3) unsigned", "tinyint", true) == "smallint");
  CHECK(mariadb("smallint(6)", "smallint") == "smallint");
  CHECK(mariadb("smallint(5) unsigned", "smallint", true) == "integer");
  CHECK(mariadb("mediumint(8) unsigned", "mediumint", true) == "integer");
  CHECK(mariadb("int(11)", "int") == "integer");
  CHECK(mariadb("int(10) unsigned", "int", true) == "bigint");
  CHECK(mariadb("bigint(20)", "bigint") == "bigint");
  CHECK(mariadb("bigint(20) unsigned", "bigint", true) == "numeric(20)");
  CHECK(mariadb("decimal(10,2)", "decimal") == "numeric(10,2)");
  CHECK(mariadb("float", "float") == "real");
  CHECK(mariadb("double", "double") == "double precision");
  CHECK(mariadb("date", "date") == "date");
  CHECK(mariadb("datetime", "datetime") == "timestamp");
  CHECK(mariadb("datetime(6)", "datetime") == "timestamp(6)");
  CHECK(mariadb("timestamp(3)", "timestamp") == "timestamptz(3)");
  CHECK(mariadb("time(3)", "time") == "time(3)");
  CHECK(mariadb("year(4)", "year") == "smallint");
  CHECK(mariadb("char(5)", "char") == "char(5)");
  CHECK(mariadb("varchar(160)", "varchar") == "varchar(160)");
  CHECK(mariadb("longtext", "longtext") == "text");
  CHECK(mariadb("varbinary(16)", "varbinary") == "bytea");
  CHECK(mariadb("mediumblob", "mediumblob") == "bytea");
  CHECK(mariadb("set('a','b')", "set") == "text[]");
  CHECK(mariadb("json", "json") == "jsonb");
  CHECK(mariadb("bit(8)", "bit") == "bit(8)");
}

TEST_CASE("A MariaDB enum becomes an enum type of its own, values kept", "[schema_translation]") {
  odbc::LegacyTable table;
  table.schema = "Shop";
  table.name = "Orders";
  table.columns.push_back(column("Status", "enum('new','it''s paid','a,b')", "enum"));
  const auto translated = translate_table("MariaDB", table, {});
  CHECK(translated.schema == "shop");
  CHECK(translated.name == "orders");
  CHECK(translated.columns[0].name == "status");
  CHECK(translated.columns[0].type == "shop.orders_status");
  CHECK(translated.columns[0].enum_values == std::vector<std::string>{"new", "it's paid", "a,b"});
}

TEST_CASE("auto_increment becomes an identity; NOT NULL and the key carry over",
          "[schema_translation]") {
  odbc::LegacyTable table;
  table.schema = "shop";
  table.name = "items";
  odbc::LegacyColumn id = column("Id", "int(10) unsigned", "int", true);
  id.auto_increment = true;
  id.nullable = false;
  table.columns.push_back(id);
  table.primary_key = {"Id"};
  const auto translated = translate_table("MariaDB", table, {});
  CHECK(translated.columns[0].identity);
  CHECK(translated.columns[0].not_null);
  CHECK(translated.columns[0].type == "bigint");
  CHECK(translated.primary_key == std::vector<std::string>{"id"});
}

TEST_CASE("SQLite types follow its affinity rules", "[schema_translation]") {
  CHECK(sqlite("INTEGER") == "bigint");
  CHECK(sqlite("UNSIGNED BIG INT") == "bigint");
  CHECK(sqlite("NVARCHAR(160)") == "text");
  CHECK(sqlite("CLOB") == "text");
  CHECK(sqlite("BLOB") == "bytea");
  CHECK(sqlite("DOUBLE PRECISION") == "double precision");
  CHECK(sqlite("NUMERIC(10,2)") == "numeric(10,2)");
  CHECK(sqlite("NUMERIC") == "numeric");
  CHECK(sqlite("DATETIME") == "timestamp");
  CHECK(sqlite("DATE") == "date");
  CHECK(sqlite("BOOLEAN") == "boolean");
  CHECK(pg_schema("SQLite", "main") == "public");
}

TEST_CASE("A type without a rule is refused, naming the override that settles it",
          "[schema_translation][bad-input]") {
  odbc::LegacyTable table;
  table.schema = "shop";
  table.name = "places";
  table.columns.push_back(column("where", "point", "point"));
  CHECK_THROWS_MATCHES(
      translate_table("MariaDB", table, {}), Error,
      IsError(ErrorKind::kPrecondition, {"column where of table shop.places has type 'point'",
                                         "types: { \"shop.places.where\": text }"}));
  const auto translated = translate_table("MariaDB", table, {{"shop.places.where", "text"}});
  CHECK(translated.columns[0].type == "text");
  CHECK(translated.columns[0].overridden);
}

TEST_CASE("An override naming no column is a configuration error",
          "[schema_translation][bad-input]") {
  odbc::LegacyTable table;
  table.schema = "shop";
  table.name = "orders";
  table.columns.push_back(column("status", "varchar(10)", "varchar"));
  CHECK_THROWS_MATCHES(
      translate_table("MariaDB", table, {{"shop.orders.statsu", "text"}}), Error,
      IsError(ErrorKind::kUsage,
              {"types: \"shop.orders.statsu\": table shop.orders has no column statsu"}));
}

TEST_CASE("SQLite's rowid is a 64-bit identity, and an undeclared type is refused",
          "[schema_translation]") {
  odbc::LegacyTable table;
  table.schema = "main";
  table.name = "t";
  odbc::LegacyColumn id = column("id", "INTEGER", "integer");
  id.auto_increment = true;
  table.columns.push_back(id);
  CHECK(translate_table("SQLite", table, {}).columns[0].type == "bigint");
  CHECK(translate_table("SQLite", table, {}).columns[0].identity);
  table.columns.push_back(column("anything", "", ""));
  CHECK_THROWS_MATCHES(translate_table("SQLite", table, {}), Error,
                       IsError(ErrorKind::kPrecondition, {"column anything of table main.t"}));
}

TEST_CASE("The target's DDL: schema, enum types, the table, then its key", "[schema_translation]") {
  odbc::LegacyTable table;
  table.schema = "Shop";
  table.name = "Orders";
  odbc::LegacyColumn id = column("Id", "int(10) unsigned", "int", true);
  id.auto_increment = true;
  id.nullable = false;
  table.columns = {id, column("Status", "enum('new','it''s')", "enum"),
                   column("Total", "decimal(10,2)", "decimal")};
  table.primary_key = {"Id"};
  const TranslatedDdl ddl = target_ddl(translate_table("MariaDB", table, {}));
  CHECK(ddl.pre_data == std::vector<std::string>{
                            "CREATE SCHEMA IF NOT EXISTS \"shop\"",
                            "CREATE TYPE \"shop\".\"orders_status\" AS ENUM ('new', 'it''s')",
                            "CREATE TABLE \"shop\".\"orders\" (\"id\" bigint GENERATED BY DEFAULT "
                            "AS IDENTITY NOT NULL, \"status\" \"shop\".\"orders_status\", "
                            "\"total\" numeric(10,2))"});
  CHECK(ddl.post_data ==
        std::vector<std::string>{"ALTER TABLE \"shop\".\"orders\" ADD PRIMARY KEY (\"id\")"});
}
