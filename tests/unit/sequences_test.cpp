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
