// Binary COPY field decoding: PostgreSQL's send formats -> typed values.
// Only the pure functions; BinaryCopyReader needs a live server and is
// covered by the integration tests.

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "common/error.h"
#include "drivers/pg/binary_copy.h"
#include "drivers/typed_value.h"
#include "error_matchers.h"
#include "fuzz_seeds.h"

using switchyard::Error;
using switchyard::ErrorKind;
using switchyard::kInfinity;
using switchyard::kMinusInfinity;
using switchyard::to_text;
using switchyard::Value;
using switchyard::ValueType;
using switchyard::pg::column_read;
using switchyard::pg::decode_field;
using switchyard::pg::Field;
using switchyard::pg::split_tuple;
namespace test = switchyard::test;
using switchyard::pg::numeric_to_text;
using switchyard::pg::WireType;
using switchyard::test::IsError;

namespace {

// `value` as `size` big-endian bytes, as the send functions write it.
std::string be(uint64_t value, size_t size) {
  std::string out(size, '\0');
  for (size_t idx = size; idx-- > 0;) {
    out[idx] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return out;
}

std::string int16(int value) {
  return be(static_cast<uint16_t>(value), 2);
}

// numeric_send: ndigits, weight, sign, dscale (int16 each), then ndigits
// base-10000 digits (int16 each), all big-endian.
std::string numeric(int weight, uint16_t sign, int dscale, std::initializer_list<int> digits) {
  std::string out =
      int16(static_cast<int>(digits.size())) + int16(weight) + be(sign, 2) + int16(dscale);
  for (int digit : digits) out += int16(digit);
  return out;
}

constexpr uint16_t kPositive = 0x0000;
constexpr uint16_t kNegative = 0x4000;

std::string numeric_text(const std::string& bytes) {
  std::string out = "stale";  // numeric_to_text must replace, not append
  numeric_to_text(bytes, out);
  return out;
}

// decode_field, with the field kept as a fuzzing seed: its wire type in
// the first byte, as the fuzzer reads it.
Value decode(WireType wire, const std::string& bytes) {
  static std::string scratch;
  test::fuzz_seed("binary_copy", static_cast<char>(wire) + bytes);
  return decode_field(wire, bytes, scratch);
}

}  // namespace

// ---- numeric_to_text ----------------------------------------------------------------------------

TEST_CASE("numeric_to_text writes zero with its display scale", "[binary_copy]") {
  CHECK(numeric_text(numeric(0, kPositive, 2, {})) == "0.00");
  CHECK(numeric_text(numeric(0, kPositive, 0, {})) == "0");
}

TEST_CASE("numeric_to_text writes base-10000 digit groups as decimal", "[binary_copy]") {
  // 12.34: one group before the point (weight 0), 3400 after it.
  CHECK(numeric_text(numeric(0, kPositive, 2, {12, 3400})) == "12.34");
  CHECK(numeric_text(numeric(0, kNegative, 4, {12, 3400})) == "-12.3400");
  // 10000: weight 1 means the first group is 10000^1; the missing group is 0.
  CHECK(numeric_text(numeric(1, kPositive, 0, {1})) == "10000");
  CHECK(numeric_text(numeric(1, kPositive, 0, {1, 1})) == "10001");
  CHECK(numeric_text(numeric(2, kPositive, 0, {12, 34, 5678})) == "1200345678");
  // 1.00: the scale asks for digits the value does not send.
  CHECK(numeric_text(numeric(0, kPositive, 2, {1})) == "1.00");
  // Digits past the display scale are cut, not rounded (the server sends none).
  CHECK(numeric_text(numeric(0, kPositive, 1, {1, 9999})) == "1.9");
}

TEST_CASE("numeric_to_text writes fractions below 1 with leading zeros", "[binary_copy]") {
  // -0.0005: weight -1 means the first group is 10000^-1.
  CHECK(numeric_text(numeric(-1, kNegative, 4, {5})) == "-0.0005");
  CHECK(numeric_text(numeric(-1, kPositive, 2, {5000})) == "0.50");
  // weight -2: a whole zero group sits between the point and the first digit.
  CHECK(numeric_text(numeric(-2, kPositive, 8, {1})) == "0.00000001");
  CHECK(numeric_text(numeric(-2, kPositive, 10, {1234, 5600})) == "0.0000123456");
}

TEST_CASE("numeric_to_text spells NaN and the infinities as PostgreSQL does", "[binary_copy]") {
  CHECK(numeric_text(numeric(0, 0xC000, 0, {})) == "NaN");
  CHECK(numeric_text(numeric(0, 0xD000, 0, {})) == "Infinity");
  CHECK(numeric_text(numeric(0, 0xF000, 0, {})) == "-Infinity");
}

TEST_CASE("numeric_to_text rejects malformed buffers", "[binary_copy]") {
  const std::string bytes = GENERATE(
      std::string(), std::string(7, '\0'),
      numeric(0, kPositive, 2, {12}).substr(0, 9),                   // digit cut short
      numeric(0, kPositive, 2, {12}) + std::string(1, '\0'),         // trailing byte
      int16(2) + int16(0) + be(kPositive, 2) + int16(0) + int16(1),  // 2 digits promised, 1 sent
      int16(-1) + int16(0) + be(kPositive, 2) + int16(0),            // negative ndigits
      numeric(0, kPositive, -1, {1}),                                // negative dscale
      numeric(0, 0x8000, 0, {1}),                                    // unknown sign
      numeric(0, 0x4001, 0, {1}),                                    // unknown sign
      numeric(0, kPositive, 0, {10000}),                             // digit out of base
      numeric(0, kPositive, 2, {1, 65535}));                         // digit out of base
  CAPTURE(bytes.size());
  std::string out;
  REQUIRE_THROWS_MATCHES(numeric_to_text(bytes, out), Error,
                         IsError(ErrorKind::kDatabase, {"numeric"}));
}

// ---- decode_field -------------------------------------------------------------------------------

TEST_CASE("decode_field sign-extends two's complement integers", "[binary_copy]") {
  CHECK(decode(WireType::kInt2, be(0xFFFE, 2)).integer == -2);
  CHECK(decode(WireType::kInt2, be(0x8000, 2)).integer == INT16_MIN);
  CHECK(decode(WireType::kInt2, be(0x7FFF, 2)).integer == INT16_MAX);
  CHECK(decode(WireType::kInt4, be(0xFFFFFFFF, 4)).integer == -1);
  CHECK(decode(WireType::kInt4, be(0x80000000, 4)).integer == INT32_MIN);
  CHECK(decode(WireType::kInt4, be(0x01020304, 4)).integer == 0x01020304);
  CHECK(decode(WireType::kInt8, be(~uint64_t{0}, 8)).integer == -1);
  CHECK(decode(WireType::kInt8, be(uint64_t{1} << 63, 8)).integer == INT64_MIN);
  CHECK(decode(WireType::kInt8, be(static_cast<uint64_t>(-1234567890123LL), 8)).integer ==
        -1234567890123LL);
  CHECK(decode(WireType::kInt8, be(INT64_MAX, 8)).integer == INT64_MAX);
  // Every integer type decodes to the one integer type.
  CHECK(decode(WireType::kInt2, be(1, 2)).type == ValueType::kInt);
  CHECK(decode(WireType::kInt4, be(1, 4)).type == ValueType::kInt);
  CHECK(decode(WireType::kInt8, be(1, 8)).type == ValueType::kInt);
}

TEST_CASE("decode_field reads an oid as unsigned", "[binary_copy]") {
  const Value oid = decode(WireType::kOid, be(0xFFFFFFFF, 4));
  CHECK(oid.type == ValueType::kInt);
  CHECK(oid.integer == 4294967295);
}

TEST_CASE("decode_field reads a boolean from one byte", "[binary_copy]") {
  CHECK(decode(WireType::kBool, std::string(1, '\1')).type == ValueType::kBool);
  CHECK(decode(WireType::kBool, std::string(1, '\1')).integer == 1);
  CHECK(decode(WireType::kBool, std::string(1, '\0')).integer == 0);
}

TEST_CASE("decode_field widens a float4 exactly", "[binary_copy]") {
  const float single = 0.1f;
  uint32_t bits;
  std::memcpy(&bits, &single, sizeof bits);
  const Value value = decode(WireType::kFloat4, be(bits, 4));
  CHECK(value.type == ValueType::kFloat);
  // The float's own value, not the double nearest 0.1.
  CHECK(value.real == static_cast<double>(0.1f));
  CHECK(value.real != 0.1);
  CHECK(std::isinf(decode(WireType::kFloat4, be(0xFF800000, 4)).real));  // -Infinity
  CHECK(std::isnan(decode(WireType::kFloat4, be(0x7FC00000, 4)).real));
}

TEST_CASE("decode_field reads a float8 by its bits", "[binary_copy]") {
  const double real = GENERATE(0.1, -2.5, 1e300, -0.0, 5e-324);
  uint64_t bits;
  std::memcpy(&bits, &real, sizeof bits);
  const Value value = decode(WireType::kFloat8, be(bits, 8));
  uint64_t decoded_bits;
  std::memcpy(&decoded_bits, &value.real, sizeof decoded_bits);
  CHECK(value.type == ValueType::kFloat);
  CHECK(decoded_bits == bits);  // bit for bit, so -0.0 stays -0.0 here
}

TEST_CASE("decode_field moves dates from the 2000 epoch to the 1970 one", "[binary_copy]") {
  CHECK(decode(WireType::kDate, be(0, 4)).type == ValueType::kDate);
  CHECK(decode(WireType::kDate, be(0, 4)).integer == 10957);  // 2000-01-01
  CHECK(decode(WireType::kDate, be(static_cast<uint32_t>(-10957), 4)).integer == 0);
  CHECK(decode(WireType::kDate, be(static_cast<uint32_t>(-1), 4)).integer == 10956);
  CHECK(decode(WireType::kDate, be(INT32_MAX, 4)).integer == kInfinity);
  CHECK(decode(WireType::kDate, be(static_cast<uint32_t>(INT32_MIN), 4)).integer == kMinusInfinity);
}

TEST_CASE("decode_field moves timestamps from the 2000 epoch to the 1970 one", "[binary_copy]") {
  const Value epoch = decode(WireType::kTimestamp, be(0, 8));
  CHECK(epoch.type == ValueType::kTimestamp);
  CHECK(epoch.integer == 946'684'800'000'000);
  CHECK(decode(WireType::kTimestamp, be(static_cast<uint64_t>(-946'684'800'000'000), 8)).integer ==
        0);
  CHECK(decode(WireType::kTimestamp, be(static_cast<uint64_t>(-1), 8)).integer ==
        946'684'799'999'999);
  // infinity and -infinity keep their sentinels instead of being shifted.
  CHECK(decode(WireType::kTimestamp, be(INT64_MAX, 8)).integer == kInfinity);
  CHECK(decode(WireType::kTimestamp, be(uint64_t{1} << 63, 8)).integer == kMinusInfinity);
}

TEST_CASE("decode_field reads a time as microseconds since midnight", "[binary_copy]") {
  const Value time = decode(WireType::kTime, be(45'045'500'000, 8));
  CHECK(time.type == ValueType::kTime);
  CHECK(time.integer == 45'045'500'000);
}

TEST_CASE("decode_field strips the jsonb version byte", "[binary_copy]") {
  const std::string bytes = std::string(1, '\1') + "{\"a\": 1}";
  const Value json = decode(WireType::kJsonb, bytes);
  CHECK(json.type == ValueType::kJson);
  CHECK(json.bytes == "{\"a\": 1}");
  CHECK(json.bytes.data() == bytes.data() + 1);  // a view, not a copy
}

TEST_CASE("decode_field passes uuid, text and bytea bytes through", "[binary_copy]") {
  const std::string uuid("\x12\x34\x56\x78\x9a\xbc\xde\xf0\x00\x11\x22\x33\x44\x55\x66\x77", 16);
  const Value value = decode(WireType::kUuid, uuid);
  CHECK(value.type == ValueType::kUuid);
  CHECK(value.bytes == uuid);
  CHECK(to_text(value) == "12345678-9abc-def0-0011-223344556677");

  const std::string binary("a\0b\xff", 4);  // embedded NUL survives
  CHECK(decode(WireType::kBytea, binary).type == ValueType::kBytes);
  CHECK(decode(WireType::kBytea, binary).bytes == binary);
  CHECK(decode(WireType::kText, "h\xc3\xa9").type == ValueType::kText);
  CHECK(decode(WireType::kText, "h\xc3\xa9").bytes == "h\xc3\xa9");
  CHECK(decode(WireType::kText, "").bytes.empty());
}

TEST_CASE("decode_field reads a numeric into scratch as decimal text", "[binary_copy]") {
  std::string scratch;
  const std::string bytes = numeric(0, kNegative, 4, {12, 3400});
  const Value value = decode_field(WireType::kNumeric, bytes, scratch);
  CHECK(value.type == ValueType::kNumeric);
  CHECK(value.bytes == "-12.3400");
  CHECK(value.bytes.data() == scratch.data());
}

TEST_CASE("decode_field rejects fields of the wrong length", "[binary_copy]") {
  struct Case {
    WireType wire;
    size_t size;
    const char* what;
  };
  const Case bad =
      GENERATE(Case{WireType::kBool, 0, "boolean"}, Case{WireType::kBool, 2, "boolean"},
               Case{WireType::kInt2, 1, "int2"}, Case{WireType::kInt2, 4, "int2"},
               Case{WireType::kInt4, 2, "int4"}, Case{WireType::kInt4, 8, "int4"},
               Case{WireType::kInt8, 4, "int8"}, Case{WireType::kInt8, 9, "int8"},
               Case{WireType::kOid, 8, "oid"}, Case{WireType::kFloat4, 8, "float4"},
               Case{WireType::kFloat8, 4, "float8"}, Case{WireType::kDate, 8, "date"},
               Case{WireType::kTime, 4, "time"}, Case{WireType::kTimestamp, 4, "timestamp"},
               Case{WireType::kTimestamp, 0, "timestamp"}, Case{WireType::kUuid, 15, "uuid"},
               Case{WireType::kUuid, 17, "uuid"}, Case{WireType::kNumeric, 6, "numeric"},
               Case{WireType::kJsonb, 0, "jsonb"});
  CAPTURE(bad.what, bad.size);
  std::string scratch;
  REQUIRE_THROWS_MATCHES(decode_field(bad.wire, std::string(bad.size, '\0'), scratch), Error,
                         IsError(ErrorKind::kDatabase, {"binary COPY", bad.what}));
}

TEST_CASE("decode_field rejects an unknown jsonb version", "[binary_copy]") {
  std::string scratch;
  REQUIRE_THROWS_MATCHES(decode_field(WireType::kJsonb, "\x02{}", scratch), Error,
                         IsError(ErrorKind::kDatabase, {"jsonb"}));
  REQUIRE_THROWS_MATCHES(decode_field(WireType::kJsonb, "{}", scratch), Error,
                         IsError(ErrorKind::kDatabase, {"jsonb"}));
}

// ---- column_read --------------------------------------------------------------------------------

TEST_CASE("column_read picks a send format per type and reads the rest as text", "[binary_copy]") {
  CHECK(column_read("\"c\"", 23).wire == WireType::kInt4);
  CHECK(column_read("\"c\"", 23).expression == "\"c\"");
  CHECK(column_read("\"c\"", 790).wire == WireType::kInt8);  // money: int64 cents
  CHECK(column_read("\"c\"", 1184).wire == WireType::kTimestamp);
  CHECK(column_read("\"c\"", 1114).wire == WireType::kTimestamp);
  CHECK(column_read("\"c\"", 1043).wire == WireType::kText);
  CHECK(column_read("\"c\"", 1043).expression == "\"c\"");
  // json is read as jsonb so both spell a document one way.
  CHECK(column_read("\"c\"", 114).wire == WireType::kJsonb);
  CHECK(column_read("\"c\"", 114).expression == "\"c\"::jsonb");
  // Types without a decoder (here interval) go through their text form.
  CHECK(column_read("\"c\"", 1186).wire == WireType::kText);
  CHECK(column_read("\"c\"", 1186).expression == "\"c\"::text");
}

// ---- split_tuple --------------------------------------------------------------------------------

namespace {

// split_tuple, with the tuple kept as a fuzzing seed (first byte 0xff: a
// tuple, not a field, for the fuzzer).
bool split(const std::string& tuple, std::vector<Field>& fields) {
  test::fuzz_seed("binary_copy", "\xff" + tuple);
  return split_tuple(tuple, fields);
}

}  // namespace

TEST_CASE("split_tuple splits fields, NULLs apart, and knows the trailer", "[binary_copy]") {
  std::vector<Field> fields;
  const std::string tuple = std::string("\x00\x03", 2) + std::string("\x00\x00\x00\x02", 4) + "hi" +
                            std::string("\xff\xff\xff\xff", 4) + std::string("\x00\x00\x00\x00", 4);
  REQUIRE(split(tuple, fields));
  REQUIRE(fields.size() == 3);
  CHECK(fields[0].bytes == "hi");
  CHECK(fields[1].null);
  CHECK_FALSE(fields[2].null);
  CHECK(fields[2].bytes.empty());
  CHECK_FALSE(split(std::string("\xff\xff", 2), fields));
}

TEST_CASE("split_tuple rejects malformed tuples instead of trusting their counts",
          "[binary_copy]") {
  std::vector<Field> fields;
  const std::string bad = GENERATE(std::string("\x00", 1),                        // no count
                                   std::string("\xff\xfe", 2),                    // count -2
                                   std::string("\x80\x00", 2),                    // count -32768
                                   std::string("\x00\x01\x00\x00", 4),            // short length
                                   std::string("\x00\x01\x00\x00\x00\x05hi", 8),  // short field
                                   std::string("\x00\x01\xff\xff\xff\xfe", 6),    // length -2
                                   std::string("\x00\x00x", 3));                  // trailing bytes
  CAPTURE(bad);
  REQUIRE_THROWS_MATCHES(split(bad, fields), Error, IsError(ErrorKind::kDatabase, {"binary COPY"}));
}

TEST_CASE("decode_field refuses a timestamp that would overflow on moving the epoch",
          "[binary_copy]") {
  // Found by fuzz/binary_copy_fuzzer: signed overflow, undefined behaviour.
  std::string bytes(8, '\0');
  bytes[0] = 0x7f;
  for (int idx = 1; idx < 8; ++idx) bytes[static_cast<size_t>(idx)] = static_cast<char>(0xfe);
  REQUIRE_THROWS_MATCHES(decode(WireType::kTimestamp, bytes), Error,
                         IsError(ErrorKind::kDatabase, {"timestamp"}));
}
