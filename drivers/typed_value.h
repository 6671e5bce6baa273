// Typed column values: what a driver hands to the verifier.
//
// Each driver decodes its own wire format (PostgreSQL binary COPY, ODBC
// SQLGetData) into these few engine-neutral types, and the verifier's
// canonical encoding (verify/canonical_encoding.h) works only on them. That
// is what lets one comparison serve a PostgreSQL source and an ODBC source
// alike: differences in how engines spell a value end at the driver.
//
// A Value is a view: `bytes` points into a buffer owned by whoever decoded
// it (a COPY row, a scratch string) and is valid until that buffer changes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace switchyard {

enum class ValueType : uint8_t {
  kNull,
  kBool,       // integer: 0 or 1
  kInt,        // integer: any integer type (int2/4/8, oid, money in cents)
  kNumeric,    // bytes: decimal text, e.g. "-12.3400", "NaN", "Infinity"
  kFloat,      // real: float4 (widened exactly) or float8
  kDate,       // integer: days since 1970-01-01
  kTime,       // integer: microseconds since midnight
  kTimestamp,  // integer: microseconds since 1970-01-01 (UTC when the type has a zone)
  kText,       // bytes: UTF-8 text; also any type read through its text form
  kBytes,      // bytes: raw binary
  kJson,       // bytes: the jsonb text form (normalised key order and spacing)
  kUuid,       // bytes: 16 raw bytes
};

// kDate/kTimestamp sentinels for PostgreSQL's 'infinity' and '-infinity'.
inline constexpr int64_t kInfinity = INT64_MAX;
inline constexpr int64_t kMinusInfinity = INT64_MIN;

struct Value {
  ValueType type = ValueType::kNull;
  int64_t integer = 0;
  double real = 0;
  std::string_view bytes;

  static Value null() { return {}; }
  static Value of_int(ValueType type, int64_t integer) { return {type, integer, 0, {}}; }
  static Value of_real(double real) { return {ValueType::kFloat, 0, real, {}}; }
  static Value of_bytes(ValueType type, std::string_view bytes) { return {type, 0, 0, bytes}; }
};

// ---- text forms ------------------------------------------------------------
// Drivers that receive values as text (ODBC character data, PostgreSQL text
// I/O) parse them with these; the verifier renders keys with them.

// "2024-03-01 12:00:00.25+02", "2024-03-01T10:00:00Z", "2024-03-01 10:00:00"
// (no zone: taken as is), "infinity". Fractions beyond microseconds are
// rounded half away from zero, as PostgreSQL does. Returns microseconds
// since 1970-01-01, or nullopt if the text is not a timestamp.
std::optional<int64_t> parse_timestamp(std::string_view text);
// "2024-03-01" -> days since 1970-01-01.
std::optional<int64_t> parse_date(std::string_view text);
// "12:30:00.5" -> microseconds since midnight.
std::optional<int64_t> parse_time(std::string_view text);

// Days since 1970-01-01 for a proleptic Gregorian date, and back.
int64_t days_from_civil(int64_t year, unsigned month, unsigned day);
void civil_from_days(int64_t days, int64_t& year, unsigned& month, unsigned& day);

// The value in a text form its database accepts as input for its type
// (timestamps as ISO 8601 in UTC with "+00", bytes as "\x..", uuid with
// dashes). Used for keys in reports and in re-check queries.
std::string to_text(const Value& value);

}  // namespace switchyard
