// ChangedKeys: verify's changed-key policy, fed as the apply loop feeds it.

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "replicator/changed_keys.h"

using switchyard::ChangedKeys;
using Marked = ChangedKeys::Marked;
using Mode = ChangedKeys::Mode;

namespace {

std::vector<const std::string*> key(const std::vector<std::string>& values) {
  std::vector<const std::string*> out;
  for (const auto& value : values) out.push_back(&value);
  return out;
}

}  // namespace

TEST_CASE("Keys are marked once per batch and written as a text[] literal", "[changed_keys]") {
  ChangedKeys changed(2);
  CHECK_FALSE(changed.pending());
  const std::vector<std::string> first{"1", "a\"b"}, second{"2", "c\\d"};
  CHECK(changed.mark(key(first), false) == Marked::kNew);
  CHECK(changed.mark(key(first), false) == Marked::kKnown);
  CHECK(changed.mark(key(second), false) == Marked::kNew);
  CHECK(changed.pending());
  CHECK_FALSE(changed.whole());
  CHECK(changed.keys_literal() == R"({{"1","a\"b"},{"2","c\\d"}})");
  changed.clear_batch();
  CHECK_FALSE(changed.pending());
  CHECK(changed.keys_literal() == "{}");
}

TEST_CASE("Values that run together are still different keys", "[changed_keys]") {
  ChangedKeys changed(2);
  const std::vector<std::string> ab_c{"ab", "c"}, a_bc{"a", "bc"};
  CHECK(changed.mark(key(ab_c), false) == Marked::kNew);
  CHECK(changed.mark(key(a_bc), false) == Marked::kNew);
}

TEST_CASE("A key that cannot be read, no key, or a TRUNCATE marks the table whole",
          "[changed_keys]") {
  SECTION("a value not carried (unchanged TOAST, NULL)") {
    ChangedKeys changed(2);
    const std::string one = "1";
    CHECK(changed.mark({&one, nullptr}, false) == Marked::kKnown);
    CHECK(changed.whole());
  }
  SECTION("no key") {
    ChangedKeys changed(0);
    CHECK(changed.mark({}, false) == Marked::kKnown);
    CHECK(changed.whole());
  }
  SECTION("TRUNCATE") {
    ChangedKeys changed(1);
    changed.mark_whole();
    CHECK(changed.pending());
    CHECK(changed.whole());
  }
  SECTION("only for the batch") {
    ChangedKeys changed(1);
    changed.mark_whole();
    changed.clear_batch();
    const std::vector<std::string> one{"1"};
    CHECK(changed.mark(key(one), false) == Marked::kNew);
    CHECK_FALSE(changed.whole());
  }
}

TEST_CASE(
    "A batch over the limit marks the table whole, until a full pass unless a cutover "
    "prepares",
    "[changed_keys]") {
  const bool exact = GENERATE(false, true);
  ChangedKeys changed(1);
  std::vector<std::string> value(1);
  Marked last = Marked::kKnown;
  for (size_t idx = 0; idx <= ChangedKeys::kMaxKeysPerBatch; ++idx) {
    value[0] = std::to_string(idx);
    last = changed.mark(key(value), exact);
  }
  CHECK(last == (exact ? Marked::kOverflow : Marked::kWholeMode));
  CHECK(changed.whole());
  CHECK(changed.keys_literal() == "{}");  // the keys' memory is given back
  changed.clear_batch();
  CHECK(changed.whole_mode() == !exact);
  value[0] = "again";
  CHECK(changed.mark(key(value), exact) == (exact ? Marked::kNew : Marked::kKnown));
}

TEST_CASE("Whole mode: entered when too many keys wait, left when a full pass cleared the mark",
          "[changed_keys]") {
  ChangedKeys changed(1);
  CHECK(changed.review(10, false, 100) == Mode::kUnchanged);
  CHECK(changed.review(101, false, 100) == Mode::kEnteredWhole);
  CHECK(changed.whole_mode());
  CHECK(changed.review(500, true, 100) == Mode::kUnchanged);  // the whole mark still waits
  CHECK(changed.review(0, false, 100) == Mode::kLeftWhole);
  CHECK(changed.review(101, false, 100) == Mode::kEnteredWhole);
  CHECK(changed.set_exact(true) == Mode::kLeftWhole);  // a cutover needs every key
  CHECK_FALSE(changed.whole_mode());
  CHECK(changed.set_exact(true) == Mode::kUnchanged);
}

TEST_CASE("The review comes every 30 s", "[changed_keys]") {
  ChangedKeys changed(1);
  const auto start = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  CHECK(changed.review_due(start));
  CHECK_FALSE(changed.review_due(start + std::chrono::seconds(29)));
  CHECK(changed.review_due(start + std::chrono::seconds(30)));
}

TEST_CASE("A re-sent table definition keeps the batch's marks if the key is the same",
          "[changed_keys]") {
  const std::vector<std::string> one{"1"};
  SECTION("same key") {
    ChangedKeys previous(1);
    previous.mark(key(one), false);
    ChangedKeys next(1);
    next.carry_from(std::move(previous), true);
    CHECK(next.keys_literal() == R"({{"1"}})");
    CHECK_FALSE(next.whole());
  }
  SECTION("another key: the table is marked whole") {
    ChangedKeys previous(1);
    previous.mark(key(one), false);
    ChangedKeys next(1);
    next.carry_from(std::move(previous), false);
    CHECK(next.whole());
  }
  SECTION("whole mode carries") {
    ChangedKeys previous(1);
    previous.review(1000, false, 1);
    ChangedKeys next(1);
    next.carry_from(std::move(previous), true);
    CHECK(next.whole_mode());
  }
}

TEST_CASE("An integer key is kept as runs: a sequence's keys are one range", "[changed_keys]") {
  ChangedKeys changed(1, /*integer_key=*/true);
  std::vector<std::string> value(1);
  auto mark = [&](int64_t v) {
    value[0] = std::to_string(v);
    return changed.mark(key(value), false);
  };
  CHECK(mark(100) == Marked::kNew);
  for (int64_t v = 101; v <= 50'000 + 200; ++v) CHECK(mark(v) == Marked::kKnown);
  CHECK(mark(7) == Marked::kNew);    // a run of one value: written as a key
  CHECK(mark(7) == Marked::kKnown);  // a hot row, again
  CHECK(mark(-3) == Marked::kNew);
  CHECK(mark(-5) == Marked::kNew);
  CHECK(mark(-4) == Marked::kKnown);  // joins -5 and -3 into one run
  CHECK(mark(99) == Marked::kKnown);  // extends the long run downwards
  CHECK(changed.keys_literal() == R"({{"7"}})");
  CHECK(changed.ranges_literal() == "{{-5,-3},{99,50200}}");
  CHECK_FALSE(changed.whole());
  changed.clear_batch();
  CHECK_FALSE(changed.pending());
  CHECK(changed.ranges_literal() == "{}");
}

TEST_CASE("Integer runs at the ends of the type do not overflow", "[changed_keys]") {
  ChangedKeys changed(1, true);
  std::vector<std::string> value(1);
  for (const char* text : {"9223372036854775807", "-9223372036854775808", "9223372036854775806",
                           "-9223372036854775807"}) {
    value[0] = text;
    changed.mark(key(value), false);
  }
  CHECK(changed.ranges_literal() ==
        "{{-9223372036854775808,-9223372036854775807},"
        "{9223372036854775806,9223372036854775807}}");
}

TEST_CASE("Scattered integer keys count one run each against the batch limit", "[changed_keys]") {
  ChangedKeys changed(1, true);
  std::vector<std::string> value(1);
  Marked last = Marked::kKnown;
  for (size_t idx = 0; idx <= ChangedKeys::kMaxKeysPerBatch; ++idx) {
    value[0] = std::to_string(idx * 2);
    last = changed.mark(key(value), false);
  }
  CHECK(last == Marked::kWholeMode);
  CHECK(changed.whole());
  CHECK(changed.keys_literal() == "{}");
  CHECK(changed.ranges_literal() == "{}");
}

TEST_CASE("An integer key whose text is not an integer marks the batch whole", "[changed_keys]") {
  ChangedKeys changed(1, true);
  const std::vector<std::string> odd{"12abc"};
  changed.mark(key(odd), false);
  CHECK(changed.whole());
  CHECK_FALSE(changed.whole_mode());
}
