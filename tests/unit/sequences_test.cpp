// cutover/sequences: the value a sequence gets on the new primary, in its
// own direction and inside its own bounds.

#include <catch2/catch.hpp>

#include <climits>

#include "cutover/sequences.h"

using switchyard::cutover::SequenceValue;
using switchyard::cutover::synced_value;

namespace {

SequenceValue sequence(std::optional<int64_t> last, int64_t increment, int64_t min_value,
                       int64_t max_value) {
  SequenceValue value;
  value.qualified = "\"public\".\"s\"";
  value.last_value = last;
  value.increment = increment;
  value.min_value = min_value;
  value.max_value = max_value;
  return value;
}

}  // namespace

TEST_CASE("an ascending sequence moves margin values up", "[sequences]") {
  CHECK(synced_value(sequence(41, 1, 1, INT64_MAX), 1000) == 1041);
  CHECK(synced_value(sequence(41, 10, 1, INT64_MAX), 1000) == 1041);
}

TEST_CASE("a descending sequence moves margin values down", "[sequences]") {
  CHECK(synced_value(sequence(-41, -1, INT64_MIN, -1), 1000) == -1041);
  CHECK(synced_value(sequence(500, -5, 1, 1000), 100) == 400);
}

TEST_CASE("a sequence never used is left alone", "[sequences]") {
  CHECK_FALSE(synced_value(sequence(std::nullopt, 1, 1, INT64_MAX), 1000).has_value());
}

TEST_CASE("values near the bounds stay inside them, without wrapping", "[sequences]") {
  CHECK(synced_value(sequence(INT64_MAX - 10, 1, 1, INT64_MAX), 1000) == INT64_MAX);
  CHECK(synced_value(sequence(INT64_MIN + 10, -1, INT64_MIN, -1), 1000) == INT64_MIN);
  // An int4 serial's sequence has max_value 2147483647.
  CHECK(synced_value(sequence(2147483000, 1, 1, 2147483647), 1000) == 2147483647);
  CHECK(synced_value(sequence(5, -1, 1, 100), 1000) == 1);
}

TEST_CASE("the server's answer is read back exactly, the type's limits included", "[sequences]") {
  using switchyard::cutover::parse_sequences;
  // As json_agg(json_build_array(...)) writes it: a descending bigint
  // sequence at its floor, one never used, one the role may not read.
  const auto values = parse_sequences(
      R"([["public", "down", -9223372036854775808, -1, -9223372036854775808, -1, true],)"
      R"( ["public", "fresh", null, 1, 1, 9223372036854775807, true],)"
      R"( ["Other Schema", "Odd \"name\"", 7, 1, 1, 2147483647, false]])");
  REQUIRE(values.size() == 3);
  CHECK(values[0].qualified == "\"public\".\"down\"");
  CHECK(values[0].last_value == INT64_MIN);
  CHECK(values[0].increment == -1);
  CHECK(values[0].min_value == INT64_MIN);
  CHECK(values[1].qualified == "\"public\".\"fresh\"");
  CHECK_FALSE(values[1].last_value.has_value());
  CHECK(values[1].max_value == INT64_MAX);
  CHECK(values[2].qualified == "\"Other Schema\".\"Odd \"\"name\"\"\"");
  CHECK(values[2].last_value == 7);
  CHECK_FALSE(values[2].readable);
  CHECK(parse_sequences("[]").empty());
  CHECK_THROWS(parse_sequences("{\"not\": \"rows\"}"));
}
