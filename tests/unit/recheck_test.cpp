// Narrowing a chunk whose digests differ to the keys that differ:
// index_rows and differing_keys on hand-built chunk rows, no database.

#include <catch2/catch.hpp>

#include <algorithm>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "drivers/typed_value.h"
#include "verify/canonical_encoding.h"
#include "verify/chunk_hasher.h"
#include "verify/recheck.h"

using switchyard::Value;
using switchyard::ValueType;
using switchyard::verify::append_canonical;
using switchyard::verify::ChunkRows;
using switchyard::verify::differing_keys;
using switchyard::verify::Hash128;
using switchyard::verify::hash128;
using switchyard::verify::index_rows;
using switchyard::verify::KeyEntry;
using switchyard::verify::MismatchKind;

namespace {

// The canonical key of an integer-keyed row.
std::string int_key(int64_t id) {
  std::string out;
  append_canonical(out, Value::of_int(ValueType::kInt, id));
  return out;
}

// A keyless table's "key": the whole row's encoding.
std::string row_key(std::string_view name, int64_t amount) {
  std::string out;
  append_canonical(out, Value::of_bytes(ValueType::kText, name));
  append_canonical(out, Value::of_int(ValueType::kInt, amount));
  return out;
}

// A row's hash as the chunk hasher makes it: over key, then row.
Hash128 row_hash(std::string_view key, std::string_view payload) {
  std::string bytes(key);
  append_canonical(bytes, Value::of_bytes(ValueType::kText, payload));
  return hash128(bytes);
}

// Appends one row, keeping keys, key_end, hashes and digest consistent.
void add_row(ChunkRows& rows, std::string_view key, const Hash128& hash) {
  rows.keys.append(key);
  rows.key_end.push_back(rows.keys.size());
  rows.hashes.push_back(hash);
  rows.digest.add(hash);
}

void add_row(ChunkRows& rows, std::string_view key, std::string_view payload) {
  add_row(rows, key, row_hash(key, payload));
}

// Rows of an integer-keyed table: {id, payload}.
ChunkRows keyed(std::initializer_list<std::pair<int64_t, std::string>> rows) {
  ChunkRows out;
  for (const auto& [id, payload] : rows) add_row(out, int_key(id), payload);
  return out;
}

// Rows of a keyless table, key = whole row, hash over it alone.
ChunkRows keyless(const std::vector<std::string>& rows) {
  ChunkRows out;
  for (const auto& row : rows) add_row(out, row, hash128(row));
  return out;
}

std::vector<std::string> sorted_differing(const ChunkRows& source, const ChunkRows& target) {
  std::vector<std::string> keys = differing_keys(source, target);
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::vector<std::string> sorted(std::vector<std::string> keys) {
  std::sort(keys.begin(), keys.end());
  return keys;
}

unsigned __int128 wide(const Hash128& hash) {
  return (static_cast<unsigned __int128>(hash.high) << 64) | hash.low;
}

}  // namespace

// ---- the test helper itself ---------------------------------------------------------------------

TEST_CASE("add_row builds chunk rows whose keys slice back out", "[recheck]") {
  // Keys of different lengths, so key_end boundaries matter.
  ChunkRows rows;
  add_row(rows, "a", "x");
  add_row(rows, "", "y");
  add_row(rows, "abc", "z");
  REQUIRE(rows.size() == 3);
  CHECK(rows.key(0) == "a");
  CHECK(rows.key(1) == "");
  CHECK(rows.key(2) == "abc");
  CHECK(rows.digest.rows == 3);
}

// ---- index_rows ---------------------------------------------------------------------------------

TEST_CASE("index_rows counts each key's copies and sums their hashes", "[recheck]") {
  const std::string a = row_key("a", 1);
  const std::string b = row_key("b", 2);
  const ChunkRows rows = keyless({a, b, a});
  const auto index = index_rows(rows);
  REQUIRE(index.size() == 2);
  REQUIRE(index.count(a) == 1);
  REQUIRE(index.count(b) == 1);
  CHECK(index.at(a).count == 2);
  CHECK(index.at(a).hashes == wide(hash128(a)) + wide(hash128(a)));
  CHECK(index.at(b).count == 1);
  CHECK(index.at(b).hashes == wide(hash128(b)));
}

TEST_CASE("index_rows sums hashes modulo 2^128", "[recheck]") {
  ChunkRows rows;
  add_row(rows, int_key(1), Hash128{~uint64_t{0}, ~uint64_t{0}});
  add_row(rows, int_key(1), Hash128{3, 0});
  const auto index = index_rows(rows);
  REQUIRE(index.count(int_key(1)) == 1);
  CHECK(index.at(int_key(1)) == KeyEntry{2, 2});
}

TEST_CASE("index_rows of an empty chunk is empty", "[recheck]") {
  CHECK(index_rows(ChunkRows{}).empty());
}

// ---- differing_keys -----------------------------------------------------------------------------

TEST_CASE("differing_keys: equal chunks have no differing keys", "[recheck]") {
  const ChunkRows source = keyed({{1, "a"}, {2, "b"}, {3, "c"}});
  const ChunkRows target = keyed({{1, "a"}, {2, "b"}, {3, "c"}});
  CHECK(source.digest == target.digest);
  CHECK(differing_keys(source, target).empty());
  CHECK(differing_keys(ChunkRows{}, ChunkRows{}).empty());
}

TEST_CASE("differing_keys finds missing, extra and different keys, and only those", "[recheck]") {
  // 2 is only on the source (missing), 4 only on the target (extra), 3 has
  // another value on each side (different); 1 and 5 agree.
  const ChunkRows source = keyed({{1, "a"}, {2, "b"}, {3, "c"}, {5, "e"}});
  const ChunkRows target = keyed({{1, "a"}, {3, "C"}, {4, "d"}, {5, "e"}});
  CHECK(sorted_differing(source, target) == sorted({int_key(2), int_key(3), int_key(4)}));
}

TEST_CASE("differing_keys reports each kind on its own", "[recheck]") {
  const ChunkRows base = keyed({{1, "a"}, {2, "b"}});
  SECTION("missing: a key only on the source") {
    CHECK(differing_keys(keyed({{1, "a"}, {2, "b"}, {3, "c"}}), base) ==
          std::vector<std::string>{int_key(3)});
  }
  SECTION("extra: a key only on the target") {
    CHECK(differing_keys(base, keyed({{1, "a"}, {2, "b"}, {3, "c"}})) ==
          std::vector<std::string>{int_key(3)});
  }
  SECTION("different: one key, another hash") {
    CHECK(differing_keys(base, keyed({{1, "a"}, {2, "B"}})) ==
          std::vector<std::string>{int_key(2)});
  }
}

TEST_CASE("differing_keys against an empty side reports every key of the other", "[recheck]") {
  const ChunkRows rows = keyed({{1, "a"}, {2, "b"}, {3, "c"}});
  const auto all = sorted({int_key(1), int_key(2), int_key(3)});
  CHECK(sorted_differing(rows, ChunkRows{}) == all);
  CHECK(sorted_differing(ChunkRows{}, rows) == all);
}

TEST_CASE("differing_keys compares hashes, not payloads or digests alone", "[recheck]") {
  // Same key, a hash that differs in one bit of either half.
  ChunkRows source, low, high;
  add_row(source, int_key(9), Hash128{0x10, 0x20});
  add_row(low, int_key(9), Hash128{0x11, 0x20});
  add_row(high, int_key(9), Hash128{0x10, 0x21});
  CHECK(differing_keys(source, low) == std::vector<std::string>{int_key(9)});
  CHECK(differing_keys(source, high) == std::vector<std::string>{int_key(9)});
}

TEST_CASE("differing_keys on a keyless table: a row duplicated on one side is reported once",
          "[recheck]") {
  // Keyless tables are multisets: a row twice on one side and once on the
  // other is a difference, and it names that row a single time.
  const std::string a = row_key("a", 1);
  const std::string b = row_key("b", 2);
  SECTION("twice on the source") {
    CHECK(differing_keys(keyless({a, b, a}), keyless({a, b})) == std::vector<std::string>{a});
  }
  SECTION("twice on the target") {
    CHECK(differing_keys(keyless({b, a}), keyless({a, b, a})) == std::vector<std::string>{a});
  }
  SECTION("only on the target, twice") {
    CHECK(differing_keys(keyless({b}), keyless({a, b, a})) == std::vector<std::string>{a});
  }
  SECTION("only on the source, three times") {
    CHECK(differing_keys(keyless({a, a, a, b}), keyless({b})) == std::vector<std::string>{a});
  }
  SECTION("the same copies on both sides") {
    CHECK(differing_keys(keyless({a, a, b}), keyless({b, a, a})).empty());
  }
}

TEST_CASE("differing_keys does not depend on row order", "[recheck]") {
  std::vector<std::pair<int64_t, std::string>> source_rows, target_rows;
  for (int64_t id = 0; id < 200; ++id) {
    source_rows.emplace_back(id, "v" + std::to_string(id));
    // Every 7th row differs, every 11th is missing on the target.
    if (id % 11 == 0) continue;
    target_rows.emplace_back(id, id % 7 == 0 ? "changed" : "v" + std::to_string(id));
  }
  for (int64_t id = 200; id < 205; ++id) target_rows.emplace_back(id, "new");  // extra

  const auto build = [](const std::vector<std::pair<int64_t, std::string>>& rows) {
    ChunkRows out;
    for (const auto& [id, payload] : rows) add_row(out, int_key(id), payload);
    return out;
  };
  const auto expected = sorted_differing(build(source_rows), build(target_rows));
  // 0..199 step 7 or 11 (29 + 19 - 3 in both) and the 5 extra.
  CHECK(expected.size() == 29 + 19 - 3 + 5);
  // No key is reported twice.
  CHECK(std::adjacent_find(expected.begin(), expected.end()) == expected.end());

  std::mt19937 random(20240310);
  for (int round = 0; round < 5; ++round) {
    std::shuffle(source_rows.begin(), source_rows.end(), random);
    std::shuffle(target_rows.begin(), target_rows.end(), random);
    const ChunkRows source = build(source_rows);
    const ChunkRows target = build(target_rows);
    CHECK(sorted_differing(source, target) == expected);
  }
}

TEST_CASE("differing_keys tells apart keys that are prefixes of one another", "[recheck]") {
  // Keys are matched whole, not by a prefix of the key bytes.
  ChunkRows source, target;
  add_row(source, "ab", "x");
  add_row(source, "a", "y");
  add_row(target, "a", "y");
  add_row(target, "abc", "x");
  CHECK(sorted_differing(source, target) == sorted({"ab", "abc"}));
}

// ---- MismatchKind -------------------------------------------------------------------------------

TEST_CASE("MismatchKind spells as stored in the findings", "[recheck]") {
  CHECK(std::string(to_string(MismatchKind::kMissing)) == "missing");
  CHECK(std::string(to_string(MismatchKind::kExtra)) == "extra");
  CHECK(std::string(to_string(MismatchKind::kDifferent)) == "different");
}
