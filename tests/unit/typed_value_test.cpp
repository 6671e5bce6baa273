// Typed values: the date/time text parsers, the proleptic Gregorian day
// arithmetic, and to_text (values spelled as PostgreSQL input).

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>

#include "drivers/typed_value.h"

using switchyard::civil_from_days;
using switchyard::days_from_civil;
using switchyard::kInfinity;
using switchyard::kMinusInfinity;
using switchyard::parse_date;
using switchyard::parse_time;
using switchyard::parse_timestamp;
using switchyard::to_text;
using switchyard::Value;
using switchyard::ValueType;

namespace {

constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kMicrosPerDay = 86'400 * kMicrosPerSecond;

// 2024-03-10 10:00:00 UTC, in microseconds since 1970 (date -u -d ... +%s).
constexpr int64_t k20240310T10 = 1'710'064'800 * kMicrosPerSecond;

int64_t timestamp(const std::string& text) {
  const auto parsed = parse_timestamp(text);
  INFO("parse_timestamp(\"" << text << "\")");
  REQUIRE(parsed.has_value());
  return *parsed;
}

int64_t micros_of(int64_t hours, int64_t minutes, int64_t seconds, int64_t micros = 0) {
  return ((hours * 60 + minutes) * 60 + seconds) * kMicrosPerSecond + micros;
}

}  // namespace

// ---- days_from_civil / civil_from_days ----------------------------------------------------------

TEST_CASE("days_from_civil counts days from 1970-01-01 in the proleptic Gregorian calendar",
          "[typed_value]") {
  // Expected values from Python's date.toordinal(), an independent calendar.
  CHECK(days_from_civil(1970, 1, 1) == 0);
  CHECK(days_from_civil(1969, 12, 31) == -1);
  CHECK(days_from_civil(2000, 1, 1) == 10957);  // PostgreSQL's epoch
  CHECK(days_from_civil(2024, 3, 10) == 19792);
  CHECK(days_from_civil(1950, 6, 15) == -7140);
  CHECK(days_from_civil(1, 1, 1) == -719162);
  CHECK(days_from_civil(9999, 12, 31) == 2932896);
}

TEST_CASE("days_from_civil knows 2000 and 1600 are leap years and 1900 is not", "[typed_value]") {
  CHECK(days_from_civil(2000, 2, 29) == 11016);
  CHECK(days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28) == 2);
  CHECK(days_from_civil(1600, 2, 29) == -135081);
  CHECK(days_from_civil(1900, 2, 28) == -25509);
  CHECK(days_from_civil(1900, 3, 1) == -25508);  // no Feb 29 in between
  CHECK(days_from_civil(2100, 3, 1) - days_from_civil(2100, 2, 28) == 1);
  CHECK(days_from_civil(2024, 3, 1) - days_from_civil(2024, 2, 28) == 2);
}

TEST_CASE("civil_from_days inverts days_from_civil over a wide range", "[typed_value]") {
  // About 2,200 years either side of 1970, including BC (ISO year 0 and
  // below): every day must map back to itself, and consecutive days must
  // be consecutive calendar dates (which catches a consistent error that a
  // round trip alone would not).
  int64_t prev_year = 0;
  unsigned prev_month = 0, prev_day = 0;
  civil_from_days(-800'001, prev_year, prev_month, prev_day);
  for (int64_t days = -800'000; days <= 800'000; ++days) {
    int64_t year = 0;
    unsigned month = 0, day = 0;
    civil_from_days(days, year, month, day);
    if (days_from_civil(year, month, day) != days || month < 1 || month > 12 || day < 1 ||
        day > 31) {
      FAIL("day " << days << " -> " << year << "-" << month << "-" << day);
    }
    const bool next_day = year == prev_year && month == prev_month && day == prev_day + 1;
    const bool next_month = day == 1 && ((year == prev_year && month == prev_month + 1) ||
                                         (year == prev_year + 1 && month == 1 && prev_month == 12));
    if (!next_day && !next_month) {
      FAIL("day " << days << " -> " << year << "-" << month << "-" << day << " does not follow "
                  << prev_year << "-" << prev_month << "-" << prev_day);
    }
    prev_year = year;
    prev_month = month;
    prev_day = day;
  }
  SUCCEED();
}

TEST_CASE("civil_from_days gives month lengths of the Gregorian calendar", "[typed_value]") {
  // The last day of February, found from March 1st minus one day.
  auto last_of_february = [](int64_t year) {
    int64_t out_year = 0;
    unsigned month = 0, day = 0;
    civil_from_days(days_from_civil(year, 3, 1) - 1, out_year, month, day);
    CHECK(out_year == year);
    CHECK(month == 2u);
    return day;
  };
  CHECK(last_of_february(2000) == 29u);
  CHECK(last_of_february(1900) == 28u);
  CHECK(last_of_february(2024) == 29u);
  CHECK(last_of_february(2023) == 28u);
  CHECK(last_of_february(0) == 29u);  // 1 BC is a leap year (divisible by 400)
  CHECK(last_of_february(-100) == 28u);
}

// ---- parse_timestamp ----------------------------------------------------------------------------

TEST_CASE("parse_timestamp reads a timestamp without zone as is", "[typed_value]") {
  CHECK(timestamp("1970-01-01 00:00:00") == 0);
  CHECK(timestamp("2000-01-01 00:00:00") == 946'684'800'000'000);
  CHECK(timestamp("2024-03-10 10:00:00") == k20240310T10);
  CHECK(timestamp("2024-03-10T10:00:00") == k20240310T10);
  CHECK(timestamp("2024-03-10t10:00:00") == k20240310T10);
  CHECK(timestamp("2024-03-10 10:00") == k20240310T10);  // seconds are optional
  CHECK(timestamp("1969-12-31 23:59:59") == -kMicrosPerSecond);
}

TEST_CASE("parse_timestamp converts every zone spelling to UTC", "[typed_value]") {
  CHECK(timestamp("2024-03-10 10:00:00Z") == k20240310T10);
  CHECK(timestamp("2024-03-10 10:00:00z") == k20240310T10);
  CHECK(timestamp("2024-03-10 10:00:00+00") == k20240310T10);
  CHECK(timestamp("2024-03-10 12:00:00+02") == k20240310T10);
  CHECK(timestamp("2024-03-10 15:30:00+05:30") == k20240310T10);
  CHECK(timestamp("2024-03-10 15:30:00+0530") == k20240310T10);
  CHECK(timestamp("2024-03-10 15:00:00+05") == k20240310T10);
  CHECK(timestamp("2024-03-10T05:30:00-04:30") == k20240310T10);
  CHECK(timestamp("2024-03-10 05:00:00-0500") == k20240310T10);
  // The sign covers the minutes too: -00:30 is half an hour west.
  CHECK(timestamp("2024-03-10 09:30:00-00:30") == k20240310T10);
  CHECK(timestamp("2024-03-10 10:00:30+00:00:30") == k20240310T10);
  // A zone can move the instant across midnight.
  CHECK(timestamp("2024-03-11 01:00:00+15") == k20240310T10);
}

TEST_CASE("parse_timestamp: one instant written in three zones is one value", "[typed_value]") {
  const int64_t plus_two = timestamp("2024-03-10 12:00:00+02");
  const int64_t utc = timestamp("2024-03-10 10:00:00Z");
  const int64_t minus_four_thirty = timestamp("2024-03-10T05:30:00-04:30");
  CHECK(plus_two == utc);
  CHECK(utc == minus_four_thirty);
}

TEST_CASE("parse_timestamp reads fractions of a second to the microsecond", "[typed_value]") {
  CHECK(timestamp("1970-01-01 00:00:00.5") == 500'000);
  CHECK(timestamp("1970-01-01 00:00:00.05") == 50'000);
  CHECK(timestamp("1970-01-01 00:00:00.000001") == 1);
  CHECK(timestamp("1970-01-01 00:00:00.123456") == 123'456);
  CHECK(timestamp("2024-03-10 12:00:00.25+02") == k20240310T10 + 250'000);
  // Before 1970 the fraction still adds: 23:59:59.5 is half a second before midnight.
  CHECK(timestamp("1969-12-31 23:59:59.5") == -500'000);
}

TEST_CASE("parse_timestamp rounds a 7th fraction digit half up", "[typed_value]") {
  CHECK(timestamp("1970-01-01 00:00:00.1234565") == 123'457);
  CHECK(timestamp("1970-01-01 00:00:00.1234564") == 123'456);
  CHECK(timestamp("1970-01-01 00:00:00.0000005") == 1);
  CHECK(timestamp("1970-01-01 00:00:00.0000004999") == 0);
  // Digits past the 7th do not matter once the 7th decides.
  CHECK(timestamp("1970-01-01 00:00:00.12345649999") == 123'456);
  // Rounding can carry into the next second (and day).
  CHECK(timestamp("1970-01-01 00:00:00.9999995") == kMicrosPerSecond);
  CHECK(timestamp("1969-12-31 23:59:59.9999995") == 0);
}

TEST_CASE("parse_timestamp reads infinity and -infinity as the sentinels", "[typed_value]") {
  CHECK(parse_timestamp("infinity") == kInfinity);
  CHECK(parse_timestamp("+infinity") == kInfinity);
  CHECK(parse_timestamp("Infinity") == kInfinity);
  CHECK(parse_timestamp("-infinity") == kMinusInfinity);
  CHECK(parse_timestamp("-INFINITY") == kMinusInfinity);
}

TEST_CASE("parse_timestamp rejects text that is not a timestamp", "[typed_value]") {
  const std::string text = GENERATE(
      "", "garbage", "infinit", "infinityx", "2024-03-10", "2024-03-10 ", "2024-03-10X10:00:00",
      "2024-3-10 10:00:00", "2024-03-1 10:00:00", "-2024-03-10 10:00:00", "2024-13-01 00:00:00",
      "2024-00-01 00:00:00", "2024-01-00 00:00:00", "2024-01-32 00:00:00", "2024-03-10 25:00:00",
      "2024-03-10 10:60:00", "2024-03-10 10:00:61", "2024-03-10 1:00:00", "2024-03-10 10",
      "2024-03-10 10:00:00.", "2024-03-10 10:00:00.x", "2024-03-10 10:00:00+",
      "2024-03-10 10:00:00+5", "2024-03-10 10:00:00+05:", "2024-03-10 10:00:00+05:3",
      "2024-03-10 10:00:00+053", "2024-03-10 10:00:00Zjunk", "2024-03-10 10:00:00+02junk",
      "2024-03-10 10:00:00 ", " 2024-03-10 10:00:00", "2024-03-10 10:00:00 BC");
  CAPTURE(text);
  CHECK_FALSE(parse_timestamp(text).has_value());
}

TEST_CASE("parse_timestamp rejects days a month does not have instead of rolling over",
          "[typed_value]") {
  // 2024-02-30 is not 2024-03-01: PostgreSQL rejects it, and so must we, or
  // a source's invalid date would verify equal to the next month's first.
  const std::string text =
      GENERATE("2024-02-30 00:00:00", "2023-02-29 00:00:00", "1900-02-29 00:00:00",
               "2024-04-31 00:00:00", "2024-06-31 12:00:00+02", "2024-11-31T00:00:00Z");
  CAPTURE(text);
  CHECK_FALSE(parse_timestamp(text).has_value());
}

TEST_CASE("parse_timestamp allows 24:00:00 as the end of a day, and nothing later",
          "[typed_value]") {
  CHECK(timestamp("2024-03-09 24:00:00") == timestamp("2024-03-10 00:00:00"));
  CHECK_FALSE(parse_timestamp("2024-03-09 24:00:01").has_value());
  CHECK_FALSE(parse_timestamp("2024-03-09 24:30:00").has_value());
  CHECK_FALSE(parse_timestamp("2024-03-09 24:00:00.5").has_value());
}

// ---- parse_date / parse_time --------------------------------------------------------------------

TEST_CASE("parse_date reads ISO dates as days since 1970-01-01", "[typed_value]") {
  CHECK(parse_date("1970-01-01") == 0);
  CHECK(parse_date("2000-01-01") == 10957);
  CHECK(parse_date("2000-02-29") == 11016);
  CHECK(parse_date("1969-12-31") == -1);
  CHECK(parse_date("0001-01-01") == -719162);
  CHECK(parse_date("infinity") == kInfinity);
  CHECK(parse_date("-infinity") == kMinusInfinity);
  CHECK_FALSE(parse_date("").has_value());
  CHECK_FALSE(parse_date("2000-01-01 00:00:00").has_value());
  CHECK_FALSE(parse_date("2000-1-1").has_value());
  CHECK_FALSE(parse_date("2000-13-01").has_value());
  // Leap days only in leap years; no 31st in a 30-day month.
  CHECK(parse_date("1600-02-29") == -135081);
  CHECK_FALSE(parse_date("1900-02-29").has_value());
  CHECK_FALSE(parse_date("2023-02-29").has_value());
  CHECK_FALSE(parse_date("2024-02-30").has_value());
  CHECK_FALSE(parse_date("2024-09-31").has_value());
  CHECK(parse_date("2024-12-31") == days_from_civil(2024, 12, 31));
}

TEST_CASE("parse_time reads a time of day as microseconds since midnight", "[typed_value]") {
  CHECK(parse_time("00:00:00") == 0);
  CHECK(parse_time("12:30:00.5") == micros_of(12, 30, 0, 500'000));
  CHECK(parse_time("12:30") == micros_of(12, 30, 0));
  CHECK(parse_time("23:59:59.999999") == micros_of(23, 59, 59, 999'999));
  CHECK(parse_time("24:00:00") == kMicrosPerDay);  // PostgreSQL allows 24:00:00
  CHECK(parse_time("00:00:00.1234565") == 123'457);
  CHECK_FALSE(parse_time("").has_value());
  CHECK_FALSE(parse_time("12").has_value());
  CHECK_FALSE(parse_time("12:30:00+02").has_value());  // a time, not a timetz
  CHECK_FALSE(parse_time("25:00:00").has_value());
  CHECK_FALSE(parse_time("24:00:01").has_value());
  CHECK_FALSE(parse_time("24:59:00").has_value());
}

// ---- to_text ------------------------------------------------------------------------------------

TEST_CASE("to_text spells timestamps as ISO 8601 in UTC with +00", "[typed_value]") {
  const auto text = [](int64_t micros) {
    return to_text(Value::of_int(ValueType::kTimestamp, micros));
  };
  CHECK(text(0) == "1970-01-01 00:00:00.000000+00");
  CHECK(text(k20240310T10 + 250'000) == "2024-03-10 10:00:00.250000+00");
  CHECK(text(-1) == "1969-12-31 23:59:59.999999+00");
  CHECK(text(-kMicrosPerDay) == "1969-12-31 00:00:00.000000+00");
  CHECK(text(kInfinity) == "infinity");
  CHECK(text(kMinusInfinity) == "-infinity");
}

TEST_CASE("to_text spells years before 1 AD the way PostgreSQL does, with BC", "[typed_value]") {
  // ISO year 0 is 1 BC and year -43 is 44 BC; PostgreSQL prints a
  // timestamptz as "0044-03-15 12:00:00+00 BC", the era after the zone, and
  // accepts that form as input.
  const int64_t ides = days_from_civil(-43, 3, 15);
  CHECK(to_text(Value::of_int(ValueType::kDate, ides)) == "0044-03-15 BC");
  CHECK(to_text(Value::of_int(ValueType::kTimestamp, ides * kMicrosPerDay + micros_of(12, 0, 0))) ==
        "0044-03-15 12:00:00.000000+00 BC");
  CHECK(to_text(Value::of_int(ValueType::kDate, days_from_civil(0, 12, 31))) == "0001-12-31 BC");
  CHECK(to_text(Value::of_int(ValueType::kDate, days_from_civil(1, 1, 1))) == "0001-01-01");
  // One microsecond before 1 AD is the last moment of 1 BC.
  CHECK(to_text(Value::of_int(ValueType::kTimestamp, days_from_civil(1, 1, 1) * kMicrosPerDay -
                                                         1)) == "0001-12-31 23:59:59.999999+00 BC");
}

TEST_CASE("to_text of a timestamp reads back through parse_timestamp", "[typed_value]") {
  // parse_timestamp does not read the " BC" suffix, so the round trip covers
  // AD years only (1 AD through 9999, before and after 1970).
  const int64_t micros = GENERATE(
      int64_t{0}, int64_t{1}, int64_t{-1}, k20240310T10 + 123'456, -kMicrosPerDay,
      -kMicrosPerDay - 1, days_from_civil(1900, 2, 28) * kMicrosPerDay + 999'999,
      days_from_civil(1, 1, 1) * kMicrosPerDay, days_from_civil(1583, 10, 15) * kMicrosPerDay + 1,
      days_from_civil(9999, 12, 31) * kMicrosPerDay + kMicrosPerDay - 1, kInfinity, kMinusInfinity);
  const std::string text = to_text(Value::of_int(ValueType::kTimestamp, micros));
  CAPTURE(micros, text);
  CHECK(parse_timestamp(text) == micros);
}

TEST_CASE("to_text of a date reads back through parse_date", "[typed_value]") {
  // Every 997th day from 1 AD to past 9999, so 5-digit years are included.
  for (int64_t days = days_from_civil(1, 1, 1); days < 3'000'000; days += 997) {
    const std::string text = to_text(Value::of_int(ValueType::kDate, days));
    if (parse_date(text) != days) FAIL("date " << days << " -> " << text);
  }
  CHECK(to_text(Value::of_int(ValueType::kDate, 0)) == "1970-01-01");
  CHECK(to_text(Value::of_int(ValueType::kDate, kInfinity)) == "infinity");
  CHECK(to_text(Value::of_int(ValueType::kDate, kMinusInfinity)) == "-infinity");
  CHECK(parse_date(to_text(Value::of_int(ValueType::kDate, kInfinity))) == kInfinity);
}

TEST_CASE("to_text of a time reads back through parse_time", "[typed_value]") {
  CHECK(to_text(Value::of_int(ValueType::kTime, micros_of(12, 30, 45, 500'000))) ==
        "12:30:45.500000");
  CHECK(to_text(Value::of_int(ValueType::kTime, kMicrosPerDay)) == "24:00:00.000000");
  const int64_t time = GENERATE(int64_t{0}, int64_t{1}, micros_of(12, 30, 45, 500'000),
                                kMicrosPerDay - 1, kMicrosPerDay);
  CHECK(parse_time(to_text(Value::of_int(ValueType::kTime, time))) == time);
}

TEST_CASE("to_text spells a uuid in its dashed 8-4-4-4-12 form", "[typed_value]") {
  const std::string raw("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\xcc\xdd\xee\xff", 16);
  CHECK(to_text(Value::of_bytes(ValueType::kUuid, raw)) == "00010203-0405-0607-0809-0a0bccddeeff");
}

TEST_CASE("to_text spells bytes as bytea hex, \\x and lower-case pairs", "[typed_value]") {
  CHECK(to_text(Value::of_bytes(ValueType::kBytes, std::string("\x00\xff\x10 A", 5))) ==
        "\\x00ff102041");
  CHECK(to_text(Value::of_bytes(ValueType::kBytes, "")) == "\\x");
}

TEST_CASE("to_text spells floats in the shortest form that reads back exactly", "[typed_value]") {
  CHECK(to_text(Value::of_real(0.1)) == "0.1");
  CHECK(to_text(Value::of_real(-2.5)) == "-2.5");
  CHECK(to_text(Value::of_real(1e20)) == "1e+20");
  // A float4 widened to double keeps its exact binary value.
  CHECK(to_text(Value::of_real(static_cast<double>(0.1f))) == "0.10000000149011612");
  const double real = GENERATE(0.0, -0.0, 0.1, 1.0 / 3, -1e-300, 5e-324, 1.7976931348623157e308,
                               123456789.125, static_cast<double>(0.1f));
  const std::string text = to_text(Value::of_real(real));
  CAPTURE(text);
  const double back = std::strtod(text.c_str(), nullptr);
  CHECK(back == real);
  CHECK(std::signbit(back) == std::signbit(real));
}

TEST_CASE("to_text spells NaN and infinities as PostgreSQL does", "[typed_value]") {
  CHECK(to_text(Value::of_real(std::numeric_limits<double>::quiet_NaN())) == "NaN");
  CHECK(to_text(Value::of_real(-std::numeric_limits<double>::quiet_NaN())) == "NaN");
  CHECK(to_text(Value::of_real(std::numeric_limits<double>::infinity())) == "Infinity");
  CHECK(to_text(Value::of_real(-std::numeric_limits<double>::infinity())) == "-Infinity");
}

TEST_CASE("to_text of scalars and text-like values", "[typed_value]") {
  CHECK(to_text(Value::null()).empty());
  CHECK(to_text(Value::of_int(ValueType::kBool, 1)) == "true");
  CHECK(to_text(Value::of_int(ValueType::kBool, 0)) == "false");
  CHECK(to_text(Value::of_int(ValueType::kInt, -42)) == "-42");
  CHECK(to_text(Value::of_int(ValueType::kInt, INT64_MIN)) == "-9223372036854775808");
  // Numerics, text and json are already in their input form.
  CHECK(to_text(Value::of_bytes(ValueType::kNumeric, "-12.3400")) == "-12.3400");
  CHECK(to_text(Value::of_bytes(ValueType::kText, "h\xc3\xa9llo")) == "h\xc3\xa9llo");
  CHECK(to_text(Value::of_bytes(ValueType::kJson, "{\"a\": 1}")) == "{\"a\": 1}");
}
