// LegacyValues: an ODBC source's captured text forms into PostgreSQL input.

#include <catch2/catch.hpp>

#include <optional>
#include <string>

#include "common/error.h"
#include "error_matchers.h"
#include "replicator/legacy_values.h"

using namespace switchyard;
using switchyard::test::IsError;

namespace {

struct OneColumn {
  odbc::LegacyTable legacy;
  TableTranslation translation;
  std::optional<LegacyValues> values;

  OneColumn(const std::string& engine, const std::string& declared, const std::string& base) {
    legacy.schema = engine == "SQLite" ? "main" : "shop";
    legacy.name = "t";
    odbc::LegacyColumn id;
    id.name = "id";
    id.declared = "int";
    id.base = "int";
    odbc::LegacyColumn column;
    column.name = "c";
    column.declared = declared;
    column.base = base;
    legacy.columns = {id, column};
    legacy.primary_key = {"id"};
    translation = translate_table(engine, legacy, {});
    values.emplace(engine, legacy, translation);
  }

  Datum convert(std::optional<std::string_view> text) {
    return values->to_target(1, text, [] { return std::string("(7)"); });
  }
  std::string text(std::string_view legacy_text) {
    Datum datum = convert(legacy_text);
    REQUIRE(datum.kind == DatumKind::kText);
    return datum.bytes;
  }
};

}  // namespace

TEST_CASE("Captured MariaDB values become PostgreSQL input", "[legacy_values]") {
  CHECK(OneColumn("MariaDB", "varbinary(16)", "varbinary").text("00FF10") == "\\x00ff10");
  CHECK(OneColumn("MariaDB", "set('a','b','c')", "set").text("a,c") == "{\"a\",\"c\"}");
  CHECK(OneColumn("MariaDB", "set('a','b')", "set").text("") == "{}");
  CHECK(OneColumn("MariaDB", "bit(5)", "bit").text("5") == "00101");
  CHECK(OneColumn("MariaDB", "tinyint(1)", "tinyint").text("1") == "1");
  CHECK(OneColumn("MariaDB", "timestamp(6)", "timestamp").text("@1700000000.250000") ==
        "2023-11-14 22:13:20.25+00");
  CHECK(OneColumn("MariaDB", "timestamp", "timestamp").text("@86399") == "1970-01-01 23:59:59+00");
  CHECK(OneColumn("MariaDB", "decimal(10,2)", "decimal").text("-12.50") == "-12.50");
}

TEST_CASE("Zero dates become NULL and are counted per column", "[legacy_values]") {
  OneColumn date("MariaDB", "date", "date");
  CHECK(date.convert("0000-00-00").kind == DatumKind::kNull);
  CHECK(date.convert("2024-00-10").kind == DatumKind::kNull);
  CHECK(date.text("2024-02-29") == "2024-02-29");
  OneColumn stamp("MariaDB", "timestamp", "timestamp");
  CHECK(stamp.convert("0000-00-00 00:00:00").kind == DatumKind::kNull);
  CHECK(date.values->zero_dates()[1] == 2);
  CHECK(stamp.values->zero_dates()[1] == 1);
  CHECK(date.convert(std::nullopt).kind == DatumKind::kNull);
  CHECK(date.values->zero_dates()[1] == 2);
}

TEST_CASE("A tinyint(1) holding neither 0 nor 1 is refused, not made true", "[legacy_values]") {
  OneColumn flag("MariaDB", "tinyint(1)", "tinyint");
  REQUIRE_THROWS_MATCHES(
      flag.convert("2"), Error,
      IsError(ErrorKind::kPrecondition, {"shop.t", "row (7)", "column c", "'2'", "shop.t.c"}));
}

TEST_CASE("SQLite values that do not fit their declared type are refused", "[legacy_values]") {
  CHECK(OneColumn("SQLite", "INTEGER", "integer").text("-42") == "-42");
  CHECK(OneColumn("SQLite", "REAL", "real").text("0.10000000000000001") == "0.10000000000000001");
  CHECK(OneColumn("SQLite", "NUMERIC(10,2)", "numeric").text("0.98999999999999999") ==
        "0.98999999999999999");
  CHECK(OneColumn("SQLite", "DATETIME", "datetime").text("2024-03-01 10:00:00") ==
        "2024-03-01 10:00:00");
  CHECK(OneColumn("SQLite", "BOOLEAN", "boolean").text("true") == "t");
  REQUIRE_THROWS_MATCHES(
      OneColumn("SQLite", "INTEGER", "integer").convert("12abc"), Error,
      IsError(ErrorKind::kPrecondition, {"main.t", "row (7)", "column c", "not an integer"}));
  REQUIRE_THROWS_MATCHES(OneColumn("SQLite", "DATE", "date").convert("yesterday"), Error,
                         IsError(ErrorKind::kPrecondition, {"not a valid date"}));
  REQUIRE_THROWS_MATCHES(OneColumn("SQLite", "REAL", "real").convert("n/a"), Error,
                         IsError(ErrorKind::kPrecondition, {"not a number"}));
  // MariaDB enforces its types: no check, no cost.
  CHECK(OneColumn("MariaDB", "int", "int").text("12") == "12");
}
