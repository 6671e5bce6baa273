// ChangelogDecoder: changelog rows of trigger capture into the apply loop's
// messages.

#include <catch2/catch.hpp>

#include <string>
#include <variant>
#include <vector>

#include "common/error.h"
#include "error_matchers.h"
#include "replicator/changelog_feed.h"

using namespace switchyard;
using switchyard::test::IsError;

namespace {

// shop.orders(id int, status enum, note varchar), key (id).
std::vector<LegacyStreamTable> orders() {
  LegacyStreamTable table;
  table.legacy.schema = "shop";
  table.legacy.name = "orders";
  auto column = [](const std::string& name, const std::string& declared, const std::string& base) {
    odbc::LegacyColumn out;
    out.name = name;
    out.declared = declared;
    out.base = base;
    return out;
  };
  table.legacy.columns = {column("id", "int", "int"), column("paid", "tinyint(1)", "tinyint"),
                          column("data", "varbinary(8)", "varbinary")};
  table.legacy.primary_key = {"id"};
  table.translation = translate_table("MariaDB", table.legacy, {});
  table.key = {0};
  return {table};
}

ChangelogRow row(uint64_t seq, char kind, std::optional<std::string> old_key,
                 std::optional<std::string> new_row, const std::string& table = "orders") {
  ChangelogRow out;
  out.seq = seq;
  out.table = table;
  out.kind = kind;
  out.old_key = std::move(old_key);
  out.new_row = std::move(new_row);
  return out;
}

}  // namespace

TEST_CASE("Captured rows: length-prefixed values, N for NULL", "[changelog_feed]") {
  std::vector<std::optional<std::string_view>> values;
  REQUIRE(odbc::parse_captured_row("2:423:abcN0:", values));
  REQUIRE(values.size() == 4);
  CHECK(values[0] == "42");
  CHECK(values[1] == "abc");
  CHECK_FALSE(values[2].has_value());
  CHECK(values[3] == "");
  // Lengths count characters: "Zoë ☕" is 5 of them in 8 bytes; a value may
  // hold the format's own characters.
  values.clear();
  REQUIRE(odbc::parse_captured_row("5:Zoë ☕3:N:1", values));
  CHECK(values.at(0) == "Zoë ☕");
  CHECK(values.at(1) == "N:1");
  values.clear();
  REQUIRE(odbc::parse_captured_row("", values));
  CHECK(values.empty());
  for (const char* bad : {"3:ab", "x", "2ab", ":ab", "2:abc", "99999999999999999999999:a", "1:"}) {
    values.clear();
    CHECK_FALSE(odbc::parse_captured_row(bad, values));
  }
}

TEST_CASE("Inserts and updates become upserts of the whole row", "[changelog_feed]") {
  const auto tables = orders();
  ChangelogDecoder decoder("MariaDB", tables);
  std::vector<change::Message> out;
  decoder.decode(row(1, 'I', std::nullopt, "1:71:14:00FF"), out);
  decoder.decode(row(2, 'U', "1:7", "1:71:0N"), out);
  REQUIRE(out.size() == 2);
  const auto& insert = std::get<change::Insert>(out[0]);
  CHECK(insert.relation_id == 1);
  CHECK(insert.new_tuple[0].bytes == "7");
  CHECK(insert.new_tuple[1].bytes == "1");
  CHECK(insert.new_tuple[2].bytes == "\\x00ff");
  const auto& update = std::get<change::Insert>(out[1]);
  CHECK(update.new_tuple[1].bytes == "0");
  CHECK(update.new_tuple[2].kind == DatumKind::kNull);
}

TEST_CASE("Rows of an earlier version's capture (JSON arrays) are still read", "[changelog_feed]") {
  const auto tables = orders();
  ChangelogDecoder decoder("MariaDB", tables);
  std::vector<change::Message> out;
  decoder.decode(row(1, 'I', std::nullopt, R"([9223372036854775807, "1", "00FF"])"), out);
  decoder.decode(row(2, 'D', "[-12]", std::nullopt), out);
  CHECK(std::get<change::Insert>(out.at(0)).new_tuple[0].bytes == "9223372036854775807");
  CHECK(std::get<change::Insert>(out.at(0)).new_tuple[2].bytes == "\\x00ff");
  CHECK(std::get<change::Delete>(out.at(1)).old_tuple[0].bytes == "-12");
  // A fraction never was (decimals were captured as strings): refused.
  REQUIRE_THROWS_MATCHES(decoder.decode(row(3, 'I', std::nullopt, R"([1.5, 0, null])"), out), Error,
                         IsError(ErrorKind::kDatabase, {"changelog row 3", "not text"}));
}

TEST_CASE("An update recorded without its old key kept its key", "[changelog_feed]") {
  const auto tables = orders();
  ChangelogDecoder decoder("MariaDB", tables);
  std::vector<change::Message> out;
  decoder.decode(row(1, 'U', std::nullopt, "1:71:0N"), out);
  REQUIRE(out.size() == 1);
  CHECK(std::get<change::Insert>(out[0]).new_tuple[0].bytes == "7");
}

TEST_CASE("An update that changes the key deletes the old key first", "[changelog_feed]") {
  const auto tables = orders();
  ChangelogDecoder decoder("MariaDB", tables);
  std::vector<change::Message> out;
  decoder.decode(row(3, 'U', "1:7", "1:81:1N"), out);
  REQUIRE(out.size() == 2);
  const auto& del = std::get<change::Delete>(out[0]);
  CHECK(del.old_kind == 'K');
  CHECK(del.old_tuple[0].bytes == "7");
  CHECK(del.old_tuple[1].kind == DatumKind::kNull);
  CHECK(std::get<change::Insert>(out[1]).new_tuple[0].bytes == "8");
  out.clear();
  decoder.decode(row(4, 'D', "1:8", std::nullopt), out);
  REQUIRE(out.size() == 1);
  CHECK(std::get<change::Delete>(out[0]).old_tuple[0].bytes == "8");
}

TEST_CASE("Changelog rows of other tables are skipped; malformed ones are refused",
          "[changelog_feed]") {
  const auto tables = orders();
  ChangelogDecoder decoder("MariaDB", tables);
  std::vector<change::Message> out;
  decoder.decode(row(5, 'I', std::nullopt, "1:1", "audit"), out);
  CHECK(out.empty());
  REQUIRE_THROWS_MATCHES(decoder.decode(row(6, 'I', std::nullopt, "1:11:0"), out), Error,
                         IsError(ErrorKind::kDatabase, {"changelog row 6", "shop.orders"}));
  REQUIRE_THROWS_MATCHES(decoder.decode(row(7, 'D', std::nullopt, std::nullopt), out), Error,
                         IsError(ErrorKind::kDatabase, {"changelog row 7", "old key"}));
  REQUIRE_THROWS_MATCHES(decoder.decode(row(8, 'I', std::nullopt, "1:11:5N"), out), Error,
                         IsError(ErrorKind::kPrecondition, {"row (1)", "column paid"}));
  REQUIRE_THROWS_MATCHES(decoder.decode(row(9, 'I', std::nullopt, "1:11:54:00F"), out), Error,
                         IsError(ErrorKind::kDatabase, {"changelog row 9", "shop.orders"}));
}

TEST_CASE("The relations describe each column as the target types it", "[changelog_feed]") {
  // describe_tables() needs a server: it runs in the odbc_* integration
  // tests. Here: the relation ids the decoder uses are 1 + the table index.
  auto tables = orders();
  tables.push_back(tables.front());
  tables.back().legacy.name = "lines";
  ChangelogDecoder decoder("MariaDB", tables);
  std::vector<change::Message> out;
  decoder.decode(row(9, 'D', R"(["3"])", std::nullopt, "lines"), out);
  CHECK(std::get<change::Delete>(out.at(0)).relation_id == 2);
}
