// Canonical decoding: decode_canonical turns what append_canonical wrote
// back into typed values that encode to the very same bytes, so a differing
// key can be shown and looked up again. Plus key_texts, which spells those
// keys as SQL input text.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"
#include "drivers/typed_value.h"
#include "error_matchers.h"
#include "verify/canonical_decoding.h"
#include "verify/canonical_encoding.h"
#include "verify/recheck.h"

using switchyard::Error;
using switchyard::ErrorKind;
using switchyard::kInfinity;
using switchyard::kMinusInfinity;
using switchyard::parse_date;
using switchyard::parse_time;
using switchyard::parse_timestamp;
using switchyard::Value;
using switchyard::ValueType;
using switchyard::test::IsError;
using switchyard::verify::append_canonical;
using switchyard::verify::decode_canonical;
using switchyard::verify::key_texts;
using switchyard::verify::KeyText;

namespace {

std::string encode(std::initializer_list<Value> values) {
  std::string out;
  for (const Value& value : values) append_canonical(out, value);
  return out;
}

// Encodes values and decodes them again. Decoded values are views into
// `encoded` and `storage`, so this stays put: neither copied nor moved.
struct RoundTrip {
  explicit RoundTrip(std::initializer_list<Value> values) : encoded(encode(values)) {
    decoded = decode_canonical(encoded, storage);
  }
  RoundTrip(const RoundTrip&) = delete;
  RoundTrip& operator=(const RoundTrip&) = delete;

  // What the decoded values encode to; must equal `encoded`.
  std::string reencoded() const {
    std::string out;
    for (const Value& value : decoded) append_canonical(out, value);
    return out;
  }

  std::string encoded;
  std::deque<std::string> storage;
  std::vector<Value> decoded;
};

// A single round trip whose decoded value's views outlive the call.
class One {
 public:
  explicit One(const Value& value) : trip_({value}) {
    REQUIRE(trip_.decoded.size() == 1);
    CHECK(trip_.reencoded() == trip_.encoded);
  }
  const Value& value() const { return trip_.decoded[0]; }

 private:
  RoundTrip trip_;
};

Value numeric(std::string_view text) {
  return Value::of_bytes(ValueType::kNumeric, text);
}

// A numeric's decimal text after a round trip.
std::string numeric_round_trip(std::string_view text) {
  const One one(numeric(text));
  REQUIRE(one.value().type == ValueType::kNumeric);
  return std::string(one.value().bytes);
}

uint64_t bits_of(double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

double nan_with(uint64_t bits) {
  double out;
  std::memcpy(&out, &bits, sizeof out);
  REQUIRE(std::isnan(out));
  return out;
}

int64_t timestamp(std::string_view text) {
  const auto micros = parse_timestamp(text);
  REQUIRE(micros.has_value());
  return *micros;
}

void require_corrupt(std::string_view encoded) {
  CAPTURE(encoded);
  std::deque<std::string> storage;
  REQUIRE_THROWS_MATCHES(decode_canonical(encoded, storage), Error,
                         IsError(ErrorKind::kInternal, {"corrupt"}));
}

// Big-endian 8 bytes, as the encoding writes lengths and scales.
std::string u64_bytes(uint64_t value) {
  std::string out(8, '\0');
  for (int idx = 7; idx >= 0; --idx) {
    out[static_cast<size_t>(idx)] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return out;
}

}  // namespace

// ---- one value of each type ---------------------------------------------------------------------

TEST_CASE("decode_canonical: nothing decodes to no values", "[canonical]") {
  std::deque<std::string> storage;
  CHECK(decode_canonical("", storage).empty());
  CHECK(storage.empty());
}

TEST_CASE("decode_canonical round-trips NULL and booleans", "[canonical]") {
  const One null(Value::null());
  CHECK(null.value().type == ValueType::kNull);

  const One yes(Value::of_int(ValueType::kBool, 1));
  CHECK(yes.value().type == ValueType::kBool);
  CHECK(yes.value().integer == 1);

  const One no(Value::of_int(ValueType::kBool, 0));
  CHECK(no.value().type == ValueType::kBool);
  CHECK(no.value().integer == 0);
}

TEST_CASE("decode_canonical round-trips integers across the whole int64 range", "[canonical]") {
  const int64_t value =
      GENERATE(int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{42}, int64_t{-1'000'000'007},
               int64_t{0x0102030405060708}, std::numeric_limits<int64_t>::min(),
               std::numeric_limits<int64_t>::max());
  CAPTURE(value);
  const One one(Value::of_int(ValueType::kInt, value));
  CHECK(one.value().type == ValueType::kInt);
  CHECK(one.value().integer == value);
}

TEST_CASE("decode_canonical gives a numeric back as decimal text with its scale", "[canonical]") {
  // The scale is part of the value (1.0 is not 1.00), so it must come back.
  CHECK(numeric_round_trip("-0.0500") == "-0.0500");
  CHECK(numeric_round_trip("0.0500") == "0.0500");
  CHECK(numeric_round_trip("12345678901234567890.5") == "12345678901234567890.5");
  CHECK(numeric_round_trip("123.450") == "123.450");
  CHECK(numeric_round_trip("0.00") == "0.00");
  CHECK(numeric_round_trip("0.001") == "0.001");
  CHECK(numeric_round_trip("1.0") == "1.0");
  CHECK(numeric_round_trip("-99999999999999999999999999999.99") ==
        "-99999999999999999999999999999.99");
  // Whole numbers past the int64 range stay numerics, digit for digit.
  CHECK(numeric_round_trip("9223372036854775808") == "9223372036854775808");
  CHECK(numeric_round_trip("-9223372036854775809") == "-9223372036854775809");
  CHECK(numeric_round_trip("100000000000000000000000000000") == "100000000000000000000000000000");
}

TEST_CASE("decode_canonical gives a numeric back in its plain spelling", "[canonical]") {
  // Only the value is encoded, not how it was written: other spellings of
  // it come back in the one form PostgreSQL prints.
  CHECK(numeric_round_trip("01.50") == "1.50");
  CHECK(numeric_round_trip("+1.50") == "1.50");
  CHECK(numeric_round_trip(".5") == "0.5");
  CHECK(numeric_round_trip("-0.00") == "0.00");
  CHECK(numeric_round_trip("1.5E-3") == "0.0015");
  CHECK(numeric_round_trip("-12.55e+1") == "-125.5");
}

TEST_CASE("decode_canonical gives a whole numeric back as an integer", "[canonical]") {
  // A numeric without a fraction shares the integer encoding, so that is
  // what decodes; it still encodes to the same bytes.
  const One five(numeric("5"));
  CHECK(five.value().type == ValueType::kInt);
  CHECK(five.value().integer == 5);

  const One huge(numeric("1.5E+3"));
  CHECK(huge.value().type == ValueType::kInt);
  CHECK(huge.value().integer == 1500);

  const One lowest(numeric("-9223372036854775808"));
  CHECK(lowest.value().type == ValueType::kInt);
  CHECK(lowest.value().integer == std::numeric_limits<int64_t>::min());
}

TEST_CASE("decode_canonical round-trips numeric NaN and infinities", "[canonical]") {
  const std::string special = GENERATE("NaN", "Infinity", "-Infinity");
  CHECK(numeric_round_trip(special) == special);
}

TEST_CASE("decode_canonical round-trips floats bit for bit", "[canonical]") {
  const double value =
      GENERATE(0.0, 1.5, -2.25, 0.1, 1e300, -1e-300, std::numeric_limits<double>::denorm_min(),
               std::numeric_limits<double>::max(), std::numeric_limits<double>::lowest(),
               std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity());
  CAPTURE(value);
  const One one(Value::of_real(value));
  CHECK(one.value().type == ValueType::kFloat);
  CHECK(bits_of(one.value().real) == bits_of(value));
}

TEST_CASE("decode_canonical gives canonicalised floats back: -0 as 0, one NaN", "[canonical]") {
  // The encoding folds these, so the folded value is what comes back.
  const One minus_zero(Value::of_real(-0.0));
  CHECK(minus_zero.value().type == ValueType::kFloat);
  CHECK(minus_zero.value().real == 0.0);
  CHECK_FALSE(std::signbit(minus_zero.value().real));

  const double nan =
      GENERATE(std::numeric_limits<double>::quiet_NaN(), -std::numeric_limits<double>::quiet_NaN(),
               nan_with(0x7ff0000000000001ull), nan_with(0xfff8000000000123ull));
  const One one(Value::of_real(nan));
  CHECK(one.value().type == ValueType::kFloat);
  CHECK(std::isnan(one.value().real));
  CHECK(bits_of(one.value().real) == 0x7ff8000000000000ull);
}

TEST_CASE("decode_canonical round-trips dates, times and timestamps with their type",
          "[canonical]") {
  const auto date = parse_date("2024-02-29");
  const auto time = parse_time("23:59:59.999999");
  REQUIRE(date.has_value());
  REQUIRE(time.has_value());
  const auto [type, value] = GENERATE_COPY(
      std::pair{ValueType::kDate, *date}, std::pair{ValueType::kDate, int64_t{-719'528}},
      std::pair{ValueType::kDate, kInfinity}, std::pair{ValueType::kDate, kMinusInfinity},
      std::pair{ValueType::kTime, *time}, std::pair{ValueType::kTime, int64_t{0}},
      std::pair{ValueType::kTimestamp, timestamp("2024-03-10 12:00:00.123456+02")},
      std::pair{ValueType::kTimestamp, timestamp("1900-01-01 00:00:00Z")},
      std::pair{ValueType::kTimestamp, kInfinity},
      std::pair{ValueType::kTimestamp, kMinusInfinity});
  CAPTURE(static_cast<int>(type), value);
  const One one(Value::of_int(type, value));
  CHECK(one.value().type == type);
  CHECK(one.value().integer == value);
}

TEST_CASE("decode_canonical round-trips text byte for byte", "[canonical]") {
  const std::string text =
      GENERATE(std::string(""), std::string("plain"), std::string("a\0b", 3),  // embedded NUL
               std::string("\0", 1),                                           // only a NUL
               std::string("caf\xc3\xa9"),                                     // precomposed é
               std::string("cafe\xcc\x81"),  // e + combining acute
               std::string("\xf0\x9f\x9a\x82 \xe6\x97\xa5"), std::string("it's \"quoted\"\n"),
               std::string(10'000, 'x'));
  CAPTURE(text);
  const One one(Value::of_bytes(ValueType::kText, text));
  CHECK(one.value().type == ValueType::kText);
  CHECK(one.value().bytes == text);
}

TEST_CASE("decode_canonical round-trips bytes, json and uuids with their type", "[canonical]") {
  const std::string binary("\x00\xff\x10\x80n", 5);
  const One bytes(Value::of_bytes(ValueType::kBytes, binary));
  CHECK(bytes.value().type == ValueType::kBytes);
  CHECK(bytes.value().bytes == binary);

  const One empty(Value::of_bytes(ValueType::kBytes, ""));
  CHECK(empty.value().type == ValueType::kBytes);
  CHECK(empty.value().bytes.empty());

  const std::string document = R"({"a": 1, "b": [true, null, "x\u0000y"]})";
  const One json(Value::of_bytes(ValueType::kJson, document));
  CHECK(json.value().type == ValueType::kJson);
  CHECK(json.value().bytes == document);

  const std::string raw("\x12\x34\x56\x78\x9a\xbc\xde\xf0\x00\x11\x22\x33\x44\x55\x66\x77", 16);
  const One uuid(Value::of_bytes(ValueType::kUuid, raw));
  CHECK(uuid.value().type == ValueType::kUuid);
  CHECK(uuid.value().bytes == raw);
}

// ---- several values: a composite key ------------------------------------------------------------

TEST_CASE("decode_canonical splits back-to-back values, as in a composite key", "[canonical]") {
  const std::string uuid(16, '\x5a');
  const RoundTrip trip{Value::of_bytes(ValueType::kText, "acme"),
                       Value::of_int(ValueType::kInt, -7),
                       Value::null(),
                       numeric("-0.0500"),
                       Value::of_bytes(ValueType::kText, ""),
                       Value::of_int(ValueType::kTimestamp, kInfinity),
                       Value::of_real(2.5),
                       Value::of_int(ValueType::kBool, 1),
                       numeric("NaN"),
                       Value::of_bytes(ValueType::kUuid, uuid)};
  REQUIRE(trip.decoded.size() == 10);
  CHECK(trip.reencoded() == trip.encoded);
  const auto& values = trip.decoded;
  CHECK(values[0].type == ValueType::kText);
  CHECK(values[0].bytes == "acme");
  CHECK(values[1].type == ValueType::kInt);
  CHECK(values[1].integer == -7);
  CHECK(values[2].type == ValueType::kNull);
  CHECK(values[3].type == ValueType::kNumeric);
  CHECK(values[3].bytes == "-0.0500");
  CHECK(values[4].type == ValueType::kText);
  CHECK(values[4].bytes.empty());
  CHECK(values[5].type == ValueType::kTimestamp);
  CHECK(values[5].integer == kInfinity);
  CHECK(values[6].type == ValueType::kFloat);
  CHECK(values[6].real == 2.5);
  CHECK(values[7].type == ValueType::kBool);
  CHECK(values[7].integer == 1);
  CHECK(values[8].type == ValueType::kNumeric);
  CHECK(values[8].bytes == "NaN");
  CHECK(values[9].type == ValueType::kUuid);
  CHECK(values[9].bytes == uuid);
}

TEST_CASE("decode_canonical keeps every numeric of a long key valid", "[canonical]") {
  // Numerics decode into `storage`; adding one must not move the earlier
  // ones out from under their views (short strings live inline).
  std::string encoded;
  std::vector<std::string> texts;
  for (int idx = 0; idx < 100; ++idx) {
    texts.push_back(std::to_string(idx) + "." + std::to_string(idx % 10) + "5");
    append_canonical(encoded, numeric(texts.back()));
  }
  std::deque<std::string> storage;
  const std::vector<Value> values = decode_canonical(encoded, storage);
  REQUIRE(values.size() == texts.size());
  for (size_t idx = 0; idx < texts.size(); ++idx) {
    CAPTURE(idx);
    CHECK(values[idx].type == ValueType::kNumeric);
    CHECK(values[idx].bytes == texts[idx]);
  }
}

TEST_CASE("decode_canonical appends to storage it is given, keeping what is there", "[canonical]") {
  std::deque<std::string> storage{"earlier"};
  const std::string encoded = encode({numeric("1.25")});
  const std::vector<Value> values = decode_canonical(encoded, storage);
  REQUIRE(values.size() == 1);
  CHECK(values[0].bytes == "1.25");
  CHECK(storage.front() == "earlier");
}

// ---- corrupt input ------------------------------------------------------------------------------

TEST_CASE("decode_canonical refuses an encoding cut short anywhere inside a value",
          "[canonical][bad-input]") {
  // Every cut that is not between two values leaves a value incomplete.
  std::string encoded;
  std::vector<size_t> boundaries{0};
  // Named: a temporary inside the list below would die before the loop runs.
  const std::string uuid_bytes(16, '\1');
  for (const Value& value :
       {Value::of_int(ValueType::kBool, 1), Value::of_int(ValueType::kInt, 42),
        Value::of_bytes(ValueType::kText, "abc"), numeric("-0.0500"), numeric("NaN"),
        Value::of_real(1.5), Value::of_int(ValueType::kDate, 19'000),
        Value::of_bytes(ValueType::kUuid, uuid_bytes)}) {
    append_canonical(encoded, value);
    boundaries.push_back(encoded.size());
  }
  size_t checked = 0;
  for (size_t cut = 1; cut < encoded.size(); ++cut) {
    if (std::find(boundaries.begin(), boundaries.end(), cut) != boundaries.end()) continue;
    CAPTURE(cut);
    require_corrupt(std::string_view(encoded).substr(0, cut));
    ++checked;
  }
  CHECK(checked > 50);
}

TEST_CASE("decode_canonical refuses an unknown tag", "[canonical][bad-input]") {
  require_corrupt("?");
  require_corrupt(std::string_view("\0", 1));
  require_corrupt("I");  // tags are case-sensitive: 'i' is an integer, 'I' nothing
  // ...also after a good value.
  require_corrupt(encode({Value::of_int(ValueType::kInt, 1)}) + "#");
}

TEST_CASE("decode_canonical refuses a length longer than what follows", "[canonical][bad-input]") {
  const std::string text = encode({Value::of_bytes(ValueType::kText, "abc")});
  require_corrupt(text.substr(0, 1) + u64_bytes(4) + "abc");
  require_corrupt(text.substr(0, 1) + u64_bytes(~uint64_t{0}) + "abc");
  require_corrupt(text.substr(0, 1) + u64_bytes(uint64_t{1} << 63));
}

TEST_CASE("decode_canonical refuses a numeric whose scale is impossible",
          "[canonical][bad-input]") {
  // Regression: a corrupt scale was trusted, and padding the digits to it
  // threw std::length_error instead of Error(kInternal).
  const std::string good = encode({numeric("1.5")});  // 'N', sign, scale, size, "15"
  REQUIRE(good.size() == 1 + 1 + 8 + 8 + 2);
  const uint64_t scale = GENERATE(~uint64_t{0}, uint64_t{1} << 63);
  CAPTURE(scale);
  require_corrupt(good.substr(0, 2) + u64_bytes(scale) + good.substr(10));
}

// ---- key_texts ----------------------------------------------------------------------------------

TEST_CASE("key_texts spells each canonical key as SQL input text", "[canonical]") {
  const std::string uuid("\x12\x34\x56\x78\x9a\xbc\xde\xf0\x00\x11\x22\x33\x44\x55\x66\x77", 16);
  const std::vector<std::string> keys{
      encode({Value::of_int(ValueType::kInt, 42)}),
      encode({Value::of_int(ValueType::kInt, std::numeric_limits<int64_t>::min())}),
      encode({numeric("-0.0500")}),
      encode({numeric("12345678901234567890.5")}),
      encode({numeric("Infinity")}),
      encode({Value::of_int(ValueType::kTimestamp, timestamp("2024-03-10 12:00:00.25+02"))}),
      encode({Value::of_int(ValueType::kTimestamp, kInfinity)}),
      encode({Value::of_int(ValueType::kDate, *parse_date("2024-02-29"))}),
      encode({Value::of_bytes(ValueType::kUuid, uuid)}),
      encode({Value::of_bytes(ValueType::kText, "O'Brien")}),
      encode({Value::of_bytes(ValueType::kBytes, std::string("\x00\xff", 2))}),
      encode({Value::of_int(ValueType::kBool, 1)}),
  };
  const std::vector<KeyText> texts = key_texts(keys);
  REQUIRE(texts.size() == keys.size());
  CHECK(texts[0] == KeyText{"42"});
  CHECK(texts[1] == KeyText{"-9223372036854775808"});
  CHECK(texts[2] == KeyText{"-0.0500"});
  CHECK(texts[3] == KeyText{"12345678901234567890.5"});
  CHECK(texts[4] == KeyText{"Infinity"});
  CHECK(texts[5] == KeyText{"2024-03-10 10:00:00.250000+00"});
  CHECK(texts[6] == KeyText{"infinity"});
  CHECK(texts[7] == KeyText{"2024-02-29"});
  CHECK(texts[8] == KeyText{"12345678-9abc-def0-0011-223344556677"});
  CHECK(texts[9] == KeyText{"O'Brien"});  // quoting is the SQL builder's job
  CHECK(texts[10] == KeyText{"\\x00ff"});
  CHECK(texts[11] == KeyText{"true"});
}

TEST_CASE("key_texts gives a composite key one text per column, in order", "[canonical]") {
  const std::vector<std::string> keys{
      encode({Value::of_bytes(ValueType::kText, "acme"), Value::of_int(ValueType::kInt, 7)}),
      encode({Value::of_bytes(ValueType::kText, ""), numeric("1.50")}),
  };
  const std::vector<KeyText> texts = key_texts(keys);
  REQUIRE(texts.size() == 2);
  CHECK(texts[0] == KeyText{"acme", "7"});
  CHECK(texts[1] == KeyText{"", "1.50"});
  CHECK(key_texts({}).empty());
}

TEST_CASE("key_texts refuses a corrupt key", "[canonical][bad-input]") {
  const std::vector<std::string> keys{encode({Value::of_int(ValueType::kInt, 1)}), "?"};
  REQUIRE_THROWS_MATCHES(key_texts(keys), Error, IsError(ErrorKind::kInternal));
}
