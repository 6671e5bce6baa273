// Canonical encoding: every spelling of one value encodes once, and values
// a database keeps apart never encode alike. Plus the row hash and the
// order-free chunk digest built on it.

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "drivers/typed_value.h"
#include "error_matchers.h"
#include "verify/canonical_encoding.h"

using switchyard::Error;
using switchyard::ErrorKind;
using switchyard::parse_timestamp;
using switchyard::Value;
using switchyard::ValueType;
using switchyard::test::IsError;
using switchyard::verify::append_canonical;
using switchyard::verify::ChunkDigest;
using switchyard::verify::Hash128;
using switchyard::verify::hash128;

namespace {

std::string encode(const Value& value) {
  std::string out;
  append_canonical(out, value);
  return out;
}

std::string encode_row(std::initializer_list<Value> values) {
  std::string out;
  for (const Value& value : values) append_canonical(out, value);
  return out;
}

std::string numeric(std::string_view text) {
  return encode(Value::of_bytes(ValueType::kNumeric, text));
}

std::string integer(int64_t value) {
  return encode(Value::of_int(ValueType::kInt, value));
}

std::string real(double value) {
  return encode(Value::of_real(value));
}

std::string text(std::string_view bytes) {
  return encode(Value::of_bytes(ValueType::kText, bytes));
}

double nan_with(uint64_t bits) {
  double out;
  std::memcpy(&out, &bits, sizeof out);
  REQUIRE(std::isnan(out));
  return out;
}

std::string timestamp(std::string_view text) {
  const auto micros = parse_timestamp(text);
  REQUIRE(micros.has_value());
  return encode(Value::of_int(ValueType::kTimestamp, *micros));
}

}  // namespace

// ---- floats -------------------------------------------------------------------------------------

TEST_CASE("canonical: -0.0 encodes the same as 0.0", "[canonical]") {
  CHECK(real(-0.0) == real(0.0));
  CHECK(real(0.0) != real(std::numeric_limits<double>::denorm_min()));
}

TEST_CASE("canonical: every NaN encodes the same, whatever its sign and payload", "[canonical]") {
  const std::string canonical = real(std::numeric_limits<double>::quiet_NaN());
  CHECK(real(-std::numeric_limits<double>::quiet_NaN()) == canonical);
  CHECK(real(nan_with(0x7ff8000000000001ull)) == canonical);  // quiet, with payload
  CHECK(real(nan_with(0x7ff0000000000001ull)) == canonical);  // signalling
  CHECK(real(nan_with(0xfff8000000000000ull)) == canonical);  // negative
  CHECK(real(nan_with(0xffffffffffffffffull)) == canonical);
  CHECK(real(static_cast<double>(std::numeric_limits<float>::quiet_NaN())) == canonical);
  // ...and NaN is still not an infinity.
  CHECK(canonical != real(std::numeric_limits<double>::infinity()));
}

TEST_CASE("canonical: floats otherwise keep every bit", "[canonical]") {
  CHECK(real(0.1) != real(static_cast<double>(0.1f)));
  CHECK(real(1.0) != real(std::nextafter(1.0, 2.0)));
  CHECK(real(std::numeric_limits<double>::infinity()) !=
        real(-std::numeric_limits<double>::infinity()));
}

// ---- numerics -----------------------------------------------------------------------------------

TEST_CASE("canonical: numeric scale is significant, 1.0 and 1.00 differ", "[canonical]") {
  // PostgreSQL keeps the scale and shows it, so these are different values.
  CHECK(numeric("1.0") != numeric("1.00"));
  CHECK(numeric("1") != numeric("1.0"));
  CHECK(numeric("0") != numeric("0.00"));
  CHECK(numeric("1.50") != numeric("1.5"));
}

TEST_CASE("canonical: numeric spellings of one value encode the same", "[canonical]") {
  CHECK(numeric("01.50") == numeric("1.50"));
  CHECK(numeric("+1.50") == numeric("1.50"));
  CHECK(numeric("0.50") == numeric(".50"));
  CHECK(numeric("-0.00") == numeric("0.00"));
  CHECK(numeric("-0") == numeric("0"));
  CHECK(numeric("-012.340") == numeric("-12.340"));
  CHECK(numeric("-12.340") != numeric("12.340"));
}

TEST_CASE("canonical: a numeric without a fraction encodes like an integer", "[canonical]") {
  CHECK(numeric("5") == integer(5));
  CHECK(numeric("-5") == integer(-5));
  CHECK(numeric("0") == integer(0));
  CHECK(numeric("000123") == integer(123));
  CHECK(numeric("5") == encode(Value::of_int(ValueType::kInt, 5)));
  // int4, int8 and numeric(20,0) agree across the whole int64 range.
  CHECK(numeric("999999999999999999") == integer(999'999'999'999'999'999));
  CHECK(numeric("1000000000000000000") == integer(1'000'000'000'000'000'000));
  CHECK(numeric("9223372036854775807") == integer(INT64_MAX));
  CHECK(numeric("-9223372036854775808") == integer(INT64_MIN));
  // One past the int64 range cannot be an integer, and must not wrap into one.
  CHECK(numeric("9223372036854775808") != integer(INT64_MIN));
  CHECK(numeric("-9223372036854775809") != integer(INT64_MAX));
  CHECK(numeric("18446744073709551616") != integer(0));
  CHECK(numeric("9223372036854775808") != numeric("9223372036854775809"));
}

TEST_CASE("canonical: numeric exponents are applied", "[canonical]") {
  CHECK(numeric("1.5E+3") == numeric("1500"));
  CHECK(numeric("1.5e3") == integer(1500));
  CHECK(numeric("15E-1") == numeric("1.5"));
  CHECK(numeric("1.5E-3") == numeric("0.0015"));
  CHECK(numeric("1.500E+1") == numeric("15.00"));
}

TEST_CASE("canonical: numeric NaN and infinities are their own values", "[canonical]") {
  CHECK(numeric("NaN") == numeric("NaN"));
  CHECK(numeric("NaN") != numeric("Infinity"));
  CHECK(numeric("Infinity") != numeric("-Infinity"));
  // A numeric NaN is not a float NaN: the types differ in the database too.
  CHECK(numeric("NaN") != real(std::numeric_limits<double>::quiet_NaN()));
}

TEST_CASE("canonical: a malformed numeric is an error, not a guess", "[canonical]") {
  const std::string bad =
      GENERATE("", "-", "+", ".", "1.2.3", "1e", "1e+", "abc", "1x", " 1", "1 ", "--1", "e5");
  CAPTURE(bad);
  REQUIRE_THROWS_MATCHES(numeric(bad), Error, IsError(ErrorKind::kDatabase, {"decimal"}));
}

// ---- dates and times ----------------------------------------------------------------------------

TEST_CASE("canonical: one instant written in different zones encodes the same", "[canonical]") {
  const std::string utc = timestamp("2024-03-10 10:00:00Z");
  CHECK(timestamp("2024-03-10 12:00:00+02") == utc);
  CHECK(timestamp("2024-03-10T05:30:00-04:30") == utc);
  CHECK(timestamp("2024-03-10 10:00:00.000001Z") != utc);
}

TEST_CASE("canonical: date, time, timestamp and integer with one number differ", "[canonical]") {
  const std::string as_int = integer(10);
  CHECK(encode(Value::of_int(ValueType::kDate, 10)) != as_int);
  CHECK(encode(Value::of_int(ValueType::kTime, 10)) != as_int);
  CHECK(encode(Value::of_int(ValueType::kTimestamp, 10)) != as_int);
  CHECK(encode(Value::of_int(ValueType::kDate, 10)) !=
        encode(Value::of_int(ValueType::kTimestamp, 10)));
  CHECK(encode(Value::of_int(ValueType::kBool, 1)) != integer(1));
}

// ---- text, bytes, NULL --------------------------------------------------------------------------

TEST_CASE("canonical: empty string and NULL differ", "[canonical]") {
  CHECK(text("") != encode(Value::null()));
  CHECK(encode(Value::of_bytes(ValueType::kBytes, "")) != encode(Value::null()));
  CHECK(integer(0) != encode(Value::null()));
}

TEST_CASE("canonical: empty text and empty bytes differ", "[canonical]") {
  CHECK(text("") != encode(Value::of_bytes(ValueType::kBytes, "")));
  CHECK(text("") != encode(Value::of_bytes(ValueType::kJson, "")));
  CHECK(text("ab") != encode(Value::of_bytes(ValueType::kBytes, "ab")));
}

TEST_CASE("canonical: Unicode normalisation forms stay distinct", "[canonical]") {
  // U+00E9 and e + U+0301 look alike but the database keeps them apart.
  CHECK(text("\xc3\xa9") != text("e\xcc\x81"));
  CHECK(text("caf\xc3\xa9") == text("caf\xc3\xa9"));
}

TEST_CASE("canonical: text \"1\" and integer 1 differ", "[canonical]") {
  CHECK(text("1") != integer(1));
  CHECK(text("1") != numeric("1"));
  CHECK(text("1.0") != numeric("1.0"));
}

TEST_CASE("canonical: field boundaries are part of the encoding", "[canonical]") {
  // Length prefixes keep ("ab","c") and ("a","bc") apart.
  const Value ab = Value::of_bytes(ValueType::kText, "ab");
  const Value c = Value::of_bytes(ValueType::kText, "c");
  const Value a = Value::of_bytes(ValueType::kText, "a");
  const Value bc = Value::of_bytes(ValueType::kText, "bc");
  CHECK(encode_row({ab, c}) != encode_row({a, bc}));
  const Value abc = Value::of_bytes(ValueType::kText, "abc");
  const Value empty = Value::of_bytes(ValueType::kText, "");
  CHECK(encode_row({abc, empty}) != encode_row({empty, abc}));
  CHECK(encode_row({Value::null(), empty}) != encode_row({empty, Value::null()}));
  // A numeric's digits are length-prefixed too.
  CHECK(encode_row({Value::of_bytes(ValueType::kNumeric, "1.5"), c}) !=
        encode_row({Value::of_bytes(ValueType::kNumeric, "1.55"), empty}));
}

TEST_CASE("canonical: append_canonical appends, leaving earlier bytes alone", "[canonical]") {
  std::string out = "prefix";
  append_canonical(out, Value::of_int(ValueType::kInt, 7));
  CHECK(out == "prefix" + integer(7));
}

// ---- hash128 ------------------------------------------------------------------------------------

TEST_CASE("hash128 is XXH3-128 with the low and high halves in place", "[canonical]") {
  // The XXH3-128 test vector for empty input (xxhsum -H2).
  CHECK(hash128("") == Hash128{0x6001c324468d497full, 0x99aa06d3014798d8ull});
  CHECK(hash128("abc") == Hash128{0x78af5f94892f3950ull, 0x06b05ab6733a6185ull});
  CHECK(hash128("abc") != hash128("abd"));
}

// ---- ChunkDigest --------------------------------------------------------------------------------

TEST_CASE("ChunkDigest does not depend on row order", "[canonical]") {
  const std::vector<std::string> rows = {
      encode_row({Value::of_int(ValueType::kInt, 1), Value::of_bytes(ValueType::kText, "a")}),
      encode_row({Value::of_int(ValueType::kInt, 2), Value::null()}),
      encode_row({Value::of_int(ValueType::kInt, 3), Value::of_bytes(ValueType::kText, "")}),
      encode_row({Value::of_int(ValueType::kInt, 4), Value::of_real(-0.0)}),
  };
  ChunkDigest forward, backward;
  for (const auto& row : rows) forward.add(hash128(row));
  for (auto it = rows.rbegin(); it != rows.rend(); ++it) backward.add(hash128(*it));
  CHECK(forward.rows == 4);
  CHECK(forward == backward);
  CHECK(forward.to_string() == backward.to_string());

  ChunkDigest missing_one;
  for (size_t idx = 1; idx < rows.size(); ++idx) missing_one.add(hash128(rows[idx]));
  CHECK(missing_one != forward);
}

TEST_CASE("ChunkDigest: duplicate rows do not cancel out", "[canonical]") {
  // Unlike XOR, two identical rows add up to something other than no rows.
  const Hash128 row = hash128(encode_row({Value::of_int(ValueType::kInt, 42)}));
  ChunkDigest twice;
  twice.add(row);
  twice.add(row);
  CHECK(twice != ChunkDigest{});
  CHECK(twice.sum != 0);
  ChunkDigest once;
  once.add(row);
  CHECK(twice != once);
  CHECK(twice.sum != once.sum);
}

TEST_CASE("ChunkDigest sums modulo 2^128, carrying between the halves", "[canonical]") {
  ChunkDigest carry;
  carry.add(Hash128{~uint64_t{0}, 0});
  carry.add(Hash128{1, 0});
  CHECK(carry.sum == static_cast<unsigned __int128>(1) << 64);
  CHECK(carry.to_string() == "2:00000000000000010000000000000000");

  ChunkDigest wrap;
  wrap.add(Hash128{~uint64_t{0}, ~uint64_t{0}});
  wrap.add(Hash128{2, 0});
  CHECK(wrap.sum == 1);  // 2^128 - 1 + 2 wraps to 1
  CHECK(wrap.rows == 2);
  CHECK(wrap.to_string() == "2:00000000000000000000000000000001");
}

TEST_CASE("ChunkDigest adds and subtracts like the multisets it stands for", "[canonical]") {
  // A table's digest, plus the rows added and minus the rows removed since,
  // is the digest of the table after those changes (cutover/keyless_proof.h),
  // whatever the order, duplicates included, across the 2^128 wrap.
  const Hash128 a = hash128(encode_row({Value::of_int(ValueType::kInt, 1)}));
  const Hash128 b = hash128(encode_row({Value::of_int(ValueType::kInt, 2)}));
  const Hash128 c = hash128(encode_row({Value::of_int(ValueType::kInt, 3)}));
  const Hash128 big{~uint64_t{0}, ~uint64_t{0}};
  ChunkDigest before, added, removed, after;
  for (const Hash128& row : {a, a, b, big}) before.add(row);
  for (const Hash128& row : {c, big}) added.add(row);
  for (const Hash128& row : {a, b}) removed.add(row);
  for (const Hash128& row : {big, c, a, big}) after.add(row);
  ChunkDigest computed = before;
  computed += added;
  computed -= removed;
  CHECK(computed == after);
  CHECK(computed.rows == 4);
  // One row too few removed is seen.
  ChunkDigest short_one = before;
  short_one += added;
  short_one -= ChunkDigest{1, (static_cast<unsigned __int128>(a.high) << 64) | a.low};
  CHECK(short_one != after);
}

TEST_CASE("ChunkDigest::to_string is rows, a colon and 32 lower-case hex digits", "[canonical]") {
  CHECK(ChunkDigest{}.to_string() == "0:00000000000000000000000000000000");
  ChunkDigest digest;
  digest.add(Hash128{0x0123456789abcdefull, 0xfedcba9876543210ull});
  CHECK(digest.to_string() == "1:fedcba98765432100123456789abcdef");
  ChunkDigest many;
  for (int idx = 0; idx < 1000; ++idx) many.add(Hash128{1, 0});
  CHECK(many.to_string() == "1000:000000000000000000000000000003e8");
}
