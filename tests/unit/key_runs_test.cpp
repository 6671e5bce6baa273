// group_key_runs: changed integer keys grouped into ranges worth reading
// as one, the rest left to be read by key.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "verify/key_runs.h"

using switchyard::verify::group_key_runs;
using switchyard::verify::KeyRunRules;
using switchyard::verify::KeyText;

namespace {

std::vector<KeyText> texts(const std::vector<int64_t>& values) {
  std::vector<KeyText> keys;
  for (int64_t value : values) keys.push_back({std::to_string(value)});
  return keys;
}

std::vector<int64_t> sequence(int64_t first, int64_t count, int64_t step = 1) {
  std::vector<int64_t> values;
  for (int64_t i = 0; i < count; ++i) values.push_back(first + i * step);
  return values;
}

}  // namespace

TEST_CASE("a sequence's new keys, shuffled and repeated, become one range", "[key_runs]") {
  std::vector<int64_t> values = sequence(1000, 500);
  std::reverse(values.begin(), values.end());
  values.push_back(1200);
  const auto grouped = group_key_runs(texts(values));
  REQUIRE(grouped.runs.size() == 1);
  CHECK(grouped.runs[0].first == 1000);
  CHECK(grouped.runs[0].last == 1499);
  CHECK(grouped.runs[0].keys == 500);
  CHECK(grouped.scattered.empty());
}

TEST_CASE("keys far apart are read by key", "[key_runs]") {
  const auto grouped = group_key_runs(texts(sequence(7, 100, 1000)));
  CHECK(grouped.runs.empty());
  CHECK(grouped.scattered.size() == 100);
}

TEST_CASE("a gap wider than the rule splits runs; a short run is read by key", "[key_runs]") {
  std::vector<int64_t> values = sequence(0, 40, 8);          // gaps of 8: one run
  for (int64_t v : sequence(1000, 10)) values.push_back(v);  // too short
  for (int64_t v : sequence(5000, 64, 2)) values.push_back(v);
  const auto grouped = group_key_runs(texts(values));
  REQUIRE(grouped.runs.size() == 2);
  CHECK(grouped.runs[0].first == 0);
  CHECK(grouped.runs[0].last == 312);
  CHECK(grouped.runs[1].first == 5000);
  CHECK(grouped.runs[1].last == 5126);
  CHECK(grouped.scattered == texts(sequence(1000, 10)));
}

TEST_CASE("a long run is cut at the span limit", "[key_runs]") {
  KeyRunRules rules;
  rules.max_span = 100;
  const auto grouped = group_key_runs(texts(sequence(1, 250)), rules);
  REQUIRE(grouped.runs.size() == 3);
  CHECK(grouped.runs[0].first == 1);
  CHECK(grouped.runs[0].last == 100);
  CHECK(grouped.runs[1].first == 101);
  CHECK(grouped.runs[2].last == 250);
  CHECK(grouped.runs[2].keys == 50);
}

TEST_CASE("keys at the ends of int64 do not overflow", "[key_runs]") {
  constexpr int64_t low = std::numeric_limits<int64_t>::min();
  constexpr int64_t high = std::numeric_limits<int64_t>::max();
  std::vector<int64_t> values = sequence(low, 40);
  for (int64_t v : sequence(high - 39, 40)) values.push_back(v);
  const auto grouped = group_key_runs(texts(values));
  REQUIRE(grouped.runs.size() == 2);
  CHECK(grouped.runs[0].first == low);
  CHECK(grouped.runs[1].last == high);
}

TEST_CASE("a key that is not one integer leaves every key scattered", "[key_runs]") {
  std::vector<KeyText> keys = texts(sequence(1, 100));
  SECTION("text") {
    keys.push_back({"12a"});
  }
  SECTION("two columns") {
    keys.push_back({"1", "2"});
  }
  SECTION("empty") {
    keys.push_back({""});
  }
  const auto grouped = group_key_runs(keys);
  CHECK(grouped.runs.empty());
  CHECK(grouped.scattered == keys);
}

TEST_CASE("the floor of an integer key is that of the narrower side's type", "[key_runs]") {
  using switchyard::verify::integer_key_floor;
  switchyard::verify::TablePlan plan;
  plan.columns.resize(1);
  plan.key = {0};
  plan.columns[0].type_name = {"bigint", "bigint"};
  CHECK(integer_key_floor(plan) == std::numeric_limits<int64_t>::min());
  plan.columns[0].type_name = {"integer", "bigint"};
  CHECK(integer_key_floor(plan) == std::numeric_limits<int32_t>::min());
  plan.columns[0].type_name = {"bigint", "smallint"};
  CHECK(integer_key_floor(plan) == std::numeric_limits<int16_t>::min());
  // An ODBC legacy's own type name: only the PostgreSQL side's counts.
  plan.columns[0].type_name = {"int(11)", "integer"};
  CHECK(integer_key_floor(plan) == std::numeric_limits<int32_t>::min());
}

TEST_CASE("marked reads: runs as ranges, the rest in batches, a run at the floor open below",
          "[key_runs]") {
  using switchyard::verify::marked_reads;
  switchyard::verify::TablePlan plan;
  plan.columns.resize(1);
  plan.key = {0};
  plan.integer_key = true;
  plan.columns[0].type_name = {"integer", "integer"};
  std::vector<int64_t> values = sequence(std::numeric_limits<int32_t>::min(), 40);
  const auto loader = sequence(5000, 100);
  values.insert(values.end(), loader.begin(), loader.end());
  const auto stray = sequence(100000, 7, 1000);
  values.insert(values.end(), stray.begin(), stray.end());

  const auto reads = marked_reads(plan, texts(values), {}, /*keys_per_read=*/3);
  REQUIRE(reads.size() == 2 + 3);  // two runs; seven keys in batches of three
  CHECK(reads[0].range());
  CHECK_FALSE(reads[0].lower);  // "key > -2147483649" would not parse as an integer
  CHECK(*reads[0].upper == KeyText{std::to_string(std::numeric_limits<int32_t>::min() + 39)});
  CHECK(*reads[1].lower == KeyText{"4999"});
  CHECK(*reads[1].upper == KeyText{"5099"});
  CHECK_FALSE(reads[2].range());
  CHECK(reads[2].keys.size() == 3);
  CHECK(reads[4].keys == texts({106000}));

  // A key of two columns, or of text, is only ever probed.
  plan.integer_key = false;
  const auto probed = marked_reads(plan, texts(loader));
  REQUIRE(probed.size() == 1);
  CHECK(probed[0].keys.size() == 100);
}

TEST_CASE("marked ranges join the runs: keys inside one are not read again, long ones in pieces",
          "[key_runs]") {
  using switchyard::verify::KeyRun;
  // The apply loop's ranges: a loader's 50,000 new keys in two overlapping
  // marks, and a short one; keys verify marked again, some inside them.
  const std::vector<KeyRun> known{{30001, 60000, 30000}, {10001, 30500, 20500}, {90000, 90003, 4}};
  std::vector<int64_t> values{5, 20000, 59999, 90004, 200000};
  const auto scattered_run = sequence(70000, 40);  // a run of keys alone
  values.insert(values.end(), scattered_run.begin(), scattered_run.end());
  const auto grouped = group_key_runs(texts(values), {}, known);
  // 10001..60000 in pieces of at most 20,000 values; 70000..70039;
  // 90000..90003. 20000 and 59999 are read with their ranges.
  REQUIRE(grouped.runs.size() == 5);
  CHECK(grouped.runs[0].first == 10001);
  CHECK(grouped.runs[0].last == 30000);
  CHECK(grouped.runs[1].first == 30001);
  CHECK(grouped.runs[1].last == 50000);
  CHECK(grouped.runs[2].first == 50001);
  CHECK(grouped.runs[2].last == 60000);
  CHECK(grouped.runs[3].first == 70000);
  CHECK(grouped.runs[3].last == 70039);
  CHECK(grouped.runs[4].first == 90000);
  CHECK(grouped.runs[4].last == 90003);
  CHECK(grouped.scattered == texts({5, 90004, 200000}));
}

TEST_CASE("marked ranges at the ends of int64 do not overflow", "[key_runs]") {
  using switchyard::verify::KeyRun;
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  const auto grouped =
      group_key_runs({}, {}, {{kMax - 2, kMax, 3}, {kMin, kMin + 1, 2}, {kMax - 5, kMax - 3, 3}});
  REQUIRE(grouped.runs.size() == 2);
  CHECK(grouped.runs[0].first == kMin);
  CHECK(grouped.runs[0].last == kMin + 1);
  CHECK(grouped.runs[1].first == kMax - 5);
  CHECK(grouped.runs[1].last == kMax);
}
