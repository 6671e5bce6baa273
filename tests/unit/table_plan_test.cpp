// TablePlan's SQL builders on hand-built plans, no database: key ranges,
// key lists probed one index lookup at a time, split points and the text
// reads repair uses. Assertions name the fragments that matter rather than
// whole statements.

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "drivers/pg/binary_copy.h"
#include "drivers/pg/sql.h"
#include "verify/table_plan.h"

using Catch::Matchers::Contains;
using Catch::Matchers::EndsWith;
using Catch::Matchers::StartsWith;
using switchyard::verify::KeyText;
using switchyard::verify::PlanColumn;
using switchyard::verify::Side;
using switchyard::verify::TablePlan;
namespace pg = switchyard::pg;

namespace {

// PostgreSQL type oids used below.
constexpr uint32_t kInt4 = 23;
constexpr uint32_t kInt8 = 20;
constexpr uint32_t kText = 25;
constexpr uint32_t kJson = 114;
constexpr uint32_t kJsonb = 3802;
constexpr uint32_t kInet = 869;  // no binary decoder: read through its text form

// A column as plan_table builds it: read as t."name" through each side's type.
PlanColumn column(const std::string& name, uint32_t source_oid, const std::string& source_type,
                  uint32_t target_oid, const std::string& target_type) {
  const std::string read = "t." + pg::quote_ident(name);
  return {name,
          {pg::column_read(read, source_oid), pg::column_read(read, target_oid)},
          {source_type, target_type}};
}

PlanColumn column(const std::string& name, uint32_t oid, const std::string& type) {
  return column(name, oid, type, oid, type);
}

TablePlan plan_of(const std::string& schema, const std::string& name,
                  std::vector<PlanColumn> columns, std::vector<size_t> key) {
  TablePlan plan;
  plan.schema = schema;
  plan.name = name;
  plan.display = schema + "." + name;
  plan.qualified = pg::qualified(schema, name);
  plan.columns = std::move(columns);
  plan.key = std::move(key);
  return plan;
}

// public.orders (id int4 on the source, int8 on the target; note text;
// doc json; addr inet), keyed on id.
TablePlan orders() {
  TablePlan plan =
      plan_of("public", "orders",
              {column("id", kInt4, "integer", kInt8, "bigint"), column("note", kText, "text"),
               column("doc", kJson, "json"), column("addr", kInet, "inet")},
              {0});
  plan.integer_key = true;
  return plan;
}

// sales.lines (seq int4, region text, qty int4), keyed on (region, seq):
// the key's order is not the columns' order.
TablePlan lines() {
  return plan_of("sales", "lines",
                 {column("seq", kInt4, "integer"), column("region", kText, "text"),
                  column("qty", kInt4, "integer")},
                 {1, 0});
}

}  // namespace

// ---- select lists -------------------------------------------------------------------------------

TEST_CASE("select_all reads every column, aliased v0.., from the table aliased t", "[table_plan]") {
  const std::string sql = orders().select_all(Side::kSource);
  CHECK_THAT(sql, StartsWith("SELECT t.\"id\" AS v0, t.\"note\" AS v1, "));
  CHECK_THAT(sql, EndsWith(" FROM \"public\".\"orders\" t"));
  CHECK_THAT(sql, !Contains("WHERE"));
  CHECK_THAT(sql, !Contains("ORDER BY"));
}

TEST_CASE("A json column is read as jsonb, a type without a decoder as text", "[table_plan]") {
  // jsonb's text form normalises key order and spacing; inet has no binary
  // decoder, so both sides send its text.
  const std::string sql = orders().select_all(Side::kSource);
  CHECK_THAT(sql, Contains("t.\"doc\"::jsonb AS v2"));
  CHECK_THAT(sql, Contains("t.\"addr\"::text AS v3"));
  CHECK_THAT(sql, Contains("t.\"id\" AS v0"));  // decodable types as they are

  // A jsonb column needs no cast.
  const TablePlan plan = plan_of(
      "public", "docs",
      {column("id", kInt4, "integer"), column("body", kJson, "json", kJsonb, "jsonb")}, {0});
  CHECK_THAT(plan.select_all(Side::kSource), Contains("t.\"body\"::jsonb AS v1"));
  CHECK_THAT(plan.select_all(Side::kTarget), Contains("t.\"body\" AS v1"));
  CHECK_THAT(plan.select_all(Side::kTarget), !Contains("jsonb"));
}

TEST_CASE("Identifiers are quoted, doubling embedded double quotes", "[table_plan]") {
  const TablePlan plan =
      plan_of("My Schema", "we\"ird", {column("Key\"Col", kInt4, "integer")}, {0});
  const KeyText lower{"1"};
  const std::string sql = plan.select_range(Side::kSource, &lower, nullptr);
  CHECK_THAT(sql, Contains("FROM \"My Schema\".\"we\"\"ird\" t"));
  CHECK_THAT(sql, Contains("t.\"Key\"\"Col\" AS v0"));
  CHECK_THAT(sql, Contains("WHERE t.\"Key\"\"Col\" > '1'::integer"));
}

// ---- select_range -------------------------------------------------------------------------------

TEST_CASE("select_range without bounds reads the whole table, unordered", "[table_plan]") {
  // Digests are order-free and rows are matched by key: no sort is asked of
  // the server (a target filled by a parallel copy would have to sort).
  const std::string sql = orders().select_range(Side::kSource, nullptr, nullptr);
  CHECK_THAT(sql, StartsWith("SELECT t.\"id\" AS v0, "));
  CHECK_THAT(sql, EndsWith(" FROM \"public\".\"orders\" t"));
  CHECK_THAT(sql, !Contains("WHERE"));
  CHECK_THAT(sql, !Contains("ORDER BY"));
}

TEST_CASE("select_range with a lower bound only is open above", "[table_plan]") {
  const KeyText lower{"10"};
  const std::string sql = orders().select_range(Side::kSource, &lower, nullptr);
  CHECK_THAT(sql, EndsWith(" t WHERE t.\"id\" > '10'::integer"));
  CHECK_THAT(sql, !Contains("<="));
}

TEST_CASE("select_range with an upper bound only is open below", "[table_plan]") {
  const KeyText upper{"20"};
  const std::string sql = orders().select_range(Side::kSource, nullptr, &upper);
  CHECK_THAT(sql, EndsWith(" t WHERE t.\"id\" <= '20'::integer"));
  CHECK_THAT(sql, !Contains(" > "));
}

TEST_CASE("select_range with both bounds is lower < key <= upper", "[table_plan]") {
  const KeyText lower{"10"}, upper{"20"};
  const std::string sql = orders().select_range(Side::kSource, &lower, &upper);
  CHECK_THAT(sql, EndsWith(" t WHERE t.\"id\" > '10'::integer AND t.\"id\" <= '20'::integer"));
}

TEST_CASE("select_range casts bounds to the side's own key type", "[table_plan]") {
  // int4 on the source, int8 on the target: each side compares in its type.
  const KeyText lower{"10"}, upper{"20"};
  const std::string source = orders().select_range(Side::kSource, &lower, &upper);
  const std::string target = orders().select_range(Side::kTarget, &lower, &upper);
  CHECK_THAT(source, Contains("'10'::integer"));
  CHECK_THAT(source, !Contains("bigint"));
  CHECK_THAT(target, Contains("t.\"id\" > '10'::bigint AND t.\"id\" <= '20'::bigint"));
  CHECK_THAT(target, !Contains("::integer"));
}

TEST_CASE("select_range compares a composite key as a row, in key order", "[table_plan]") {
  const KeyText lower{"eu", "1"}, upper{"us", "7"};
  const std::string sql = lines().select_range(Side::kSource, &lower, &upper);
  CHECK_THAT(sql, Contains("WHERE (t.\"region\", t.\"seq\") > ('eu'::text, '1'::integer)"));
  CHECK_THAT(sql, Contains(" AND (t.\"region\", t.\"seq\") <= ('us'::text, '7'::integer)"));
  CHECK_THAT(sql, !Contains("ORDER BY"));
  // Every column is still read, in column order.
  CHECK_THAT(sql, StartsWith("SELECT t.\"seq\" AS v0, t.\"region\" AS v1, t.\"qty\" AS v2 FROM "
                             "\"sales\".\"lines\" t"));
}

TEST_CASE("Key values are quoted as literals, doubling single quotes", "[table_plan]") {
  const TablePlan plan = plan_of(
      "public", "people", {column("name", kText, "text"), column("age", kInt4, "integer")}, {0});
  const KeyText lower{"O'Brien"}, upper{"it''s"};
  const std::string range = plan.select_range(Side::kSource, &lower, &upper);
  CHECK_THAT(range, Contains("t.\"name\" > 'O''Brien'::text"));
  CHECK_THAT(range, Contains("t.\"name\" <= 'it''''s'::text"));

  const std::string keys = plan.select_keys(Side::kSource, {{"O'Brien"}, {"'"}, {"\\x"}});
  CHECK_THAT(keys, Contains("ARRAY['O''Brien', '''', '\\x']::text[]"));

  CHECK(plan.key_literal(Side::kSource, 0, "O'Brien") == "'O''Brien'::text");
}

TEST_CASE("key_literal casts to the side's type of the key column", "[table_plan]") {
  CHECK(orders().key_literal(Side::kSource, 0, "5") == "'5'::integer");
  CHECK(orders().key_literal(Side::kTarget, 0, "5") == "'5'::bigint");
  // key_idx counts key columns, not table columns.
  CHECK(lines().key_literal(Side::kSource, 0, "eu") == "'eu'::text");
  CHECK(lines().key_literal(Side::kSource, 1, "3") == "'3'::integer");
}

// ---- select_keys --------------------------------------------------------------------------------

TEST_CASE("select_keys probes each key through a LATERAL subquery fenced by OFFSET 0",
          "[table_plan]") {
  const std::string sql = orders().select_keys(Side::kSource, {{"1"}, {"2"}, {"30"}});
  CHECK_THAT(sql, StartsWith("SELECT r.* FROM unnest(ARRAY['1', '2', '30']::integer[]) AS k (k0) "
                             "CROSS JOIN LATERAL (SELECT "));
  CHECK_THAT(sql, Contains("t.\"id\" AS v0, t.\"note\" AS v1, t.\"doc\"::jsonb AS v2, "
                           "t.\"addr\"::text AS v3 FROM \"public\".\"orders\" t"));
  CHECK_THAT(sql, EndsWith(" t WHERE t.\"id\" = k.k0 OFFSET 0) r"));
}

TEST_CASE("select_keys types the key arrays by the side's types", "[table_plan]") {
  const std::string sql = orders().select_keys(Side::kTarget, {{"1"}, {"2"}});
  CHECK_THAT(sql, Contains("unnest(ARRAY['1', '2']::bigint[])"));
}

TEST_CASE("select_keys unnests one array per key column, in key order", "[table_plan]") {
  const std::string sql = lines().select_keys(Side::kSource, {{"eu", "1"}, {"us", "2"}});
  CHECK_THAT(sql, Contains("unnest(ARRAY['eu', 'us']::text[], ARRAY['1', '2']::integer[]) "
                           "AS k (k0, k1) CROSS JOIN LATERAL"));
  CHECK_THAT(sql, Contains(" t WHERE t.\"region\" = k.k0 AND t.\"seq\" = k.k1 OFFSET 0) r"));
}

TEST_CASE("select_keys with a single key still builds a one-element array", "[table_plan]") {
  const std::string sql = orders().select_keys(Side::kSource, {{"42"}});
  CHECK_THAT(sql, Contains("unnest(ARRAY['42']::integer[]) AS k (k0)"));
}

// ---- split_point --------------------------------------------------------------------------------

TEST_CASE("split_point asks the source for the key `rows` rows on", "[table_plan]") {
  SECTION("from the start of the table") {
    const std::string sql = orders().split_point(nullptr, 20'000);
    CHECK_THAT(sql, StartsWith("SELECT t.\"id\"::text FROM \"public\".\"orders\" t ORDER BY"));
    CHECK_THAT(sql, EndsWith(" ORDER BY t.\"id\" OFFSET 19999 LIMIT 1"));
    CHECK_THAT(sql, !Contains("WHERE"));
  }
  SECTION("after a lower bound, cast to the source's type") {
    const KeyText lower{"10"};
    const std::string sql = orders().split_point(&lower, 1000);
    CHECK_THAT(sql, Contains(" t WHERE t.\"id\" > '10'::integer ORDER BY t.\"id\""));
    CHECK_THAT(sql, EndsWith(" OFFSET 999 LIMIT 1"));
    CHECK_THAT(sql, !Contains("bigint"));
  }
  SECTION("one row on is the next row") {
    CHECK_THAT(orders().split_point(nullptr, 1), EndsWith(" OFFSET 0 LIMIT 1"));
  }
  SECTION("a composite key comes back one text per key column") {
    const KeyText lower{"eu", "1"};
    const std::string sql = lines().split_point(&lower, 5000);
    CHECK_THAT(sql, StartsWith("SELECT t.\"region\"::text, t.\"seq\"::text FROM "
                               "\"sales\".\"lines\" t WHERE "));
    CHECK_THAT(sql, Contains("(t.\"region\", t.\"seq\") > ('eu'::text, '1'::integer)"));
    CHECK_THAT(sql, EndsWith(" ORDER BY t.\"region\", t.\"seq\" OFFSET 4999 LIMIT 1"));
  }
}

// ---- select_keys_as_text ------------------------------------------------------------------------

TEST_CASE("select_keys_as_text probes the same keys, every column read as text", "[table_plan]") {
  const std::vector<KeyText> keys{{"1"}, {"O'Brien"}};
  const std::string binary = orders().select_keys(Side::kSource, keys);
  const std::string text = orders().select_keys_as_text(Side::kSource, keys);
  CHECK_THAT(text, Contains("(SELECT t.\"id\"::text AS v0, t.\"note\"::text AS v1, "
                            "t.\"doc\"::text AS v2, t.\"addr\"::text AS v3 FROM "
                            "\"public\".\"orders\" t WHERE t.\"id\" = k.k0 OFFSET 0) r"));
  CHECK_THAT(text, StartsWith("SELECT r.* FROM unnest(ARRAY['1', 'O''Brien']::integer[]) "));
  CHECK_THAT(text, !Contains("jsonb"));
  // Only the select list differs from the binary read.
  const std::string head =
      "SELECT r.* FROM unnest(ARRAY['1', 'O''Brien']::integer[]) AS k (k0) "
      "CROSS JOIN LATERAL (SELECT ";
  CHECK_THAT(binary, StartsWith(head));
  CHECK_THAT(binary, EndsWith(" FROM \"public\".\"orders\" t WHERE t.\"id\" = k.k0 OFFSET 0) r"));
}

TEST_CASE("select_keys_as_text uses the side's key types", "[table_plan]") {
  const std::string sql = orders().select_keys_as_text(Side::kTarget, {{"7"}});
  CHECK_THAT(sql, Contains("ARRAY['7']::bigint[]"));
  CHECK_THAT(sql, Contains("t.\"id\"::text AS v0"));
}

TEST_CASE("select_keys_as_text leaves a key value that looks like the select list alone",
          "[table_plan]") {
  // Regression: the text list used to replace the first occurrence of the
  // binary select list anywhere in the statement, so a key literal holding
  // that text was altered and the real select list left binary.
  const TablePlan plan = plan_of("public", "notes", {column("k", kText, "text")}, {0});
  const std::string tricky = "t.\"k\" AS v0";
  const std::string sql = plan.select_keys_as_text(Side::kSource, {{tricky}});
  CHECK_THAT(sql, Contains("ARRAY['t.\"k\" AS v0']::text[]"));
  CHECK_THAT(sql, Contains("(SELECT t.\"k\"::text AS v0 FROM"));
}
