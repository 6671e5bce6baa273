// Durations and sizes of the configuration file, and their display forms.

#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "common/units.h"

using namespace std::chrono_literals;
using switchyard::format_bytes;
using switchyard::format_duration;
using switchyard::parse_duration;
using switchyard::parse_size;

namespace {

std::chrono::milliseconds duration(const char* text) {
  const auto parsed = parse_duration(text);
  REQUIRE(parsed.has_value());
  return *parsed;
}

uint64_t size(const char* text) {
  const auto parsed = parse_size(text);
  REQUIRE(parsed.has_value());
  return *parsed;
}

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kGiB = 1024 * kMiB;

}  // namespace

TEST_CASE("parse_duration reads each unit", "[units]") {
  CHECK(duration("250ms") == 250ms);
  CHECK(duration("10s") == 10s);
  CHECK(duration("5min") == 5min);
  CHECK(duration("2h") == 2h);
  CHECK(duration("0ms") == 0ms);
}

TEST_CASE("parse_duration refuses a bare number: 2 could mean 2 s or 2 ms", "[units]") {
  CHECK_FALSE(parse_duration("3").has_value());
  CHECK_FALSE(parse_duration("0").has_value());
}

TEST_CASE("parse_duration allows a space before the unit", "[units]") {
  CHECK(duration("10 s") == 10s);
  CHECK(duration("250 ms") == 250ms);
}

TEST_CASE("parse_duration rejects malformed text", "[units]") {
  const std::string text =
      GENERATE("", " ", "s", "ms", "ten s", "10x", "10 sec", "10S", "10MS", "-5s", "+5s", "1.5s",
               "10s ", " 10s", "10s5", "5 min ago", "99999999999999999999s");
  CAPTURE(text);
  CHECK_FALSE(parse_duration(text).has_value());
}

TEST_CASE("parse_duration rejects a value too large to represent", "[units]") {
  // 2^63 ms does not fit std::chrono::milliseconds; nor does anything close.
  const std::string text =
      GENERATE("9223372036854775808ms", "10000000000000000s", "18446744073709551615h");
  CAPTURE(text);
  const auto parsed = parse_duration(text);
  CAPTURE(parsed.has_value() ? parsed->count() : 0);
  CHECK_FALSE(parsed.has_value());
}

TEST_CASE("parse_size reads 1024-based units as postgresql.conf does", "[units]") {
  CHECK(size("512kB") == 512 * kKiB);
  CHECK(size("16MB") == 16 * kMiB);
  CHECK(size("1GB") == kGiB);
  CHECK(size("8 MB") == 8 * kMiB);
  CHECK(size("4096") == 4096u);
}

TEST_CASE("parse_size rejects malformed text", "[units]") {
  const std::string text = GENERATE("", "MB", "16mb", "16 M", "16MiB", "1.5GB", "-1MB", "16MB ",
                                    " 16MB", "sixteen MB", "16MBB", "99999999999999999999");
  CAPTURE(text);
  CHECK_FALSE(parse_size(text).has_value());
}

TEST_CASE("parse_size rejects a value too large to represent", "[units]") {
  // 2^34 GB = 2^64 bytes, one past the largest uint64_t.
  const std::string text = GENERATE("17179869184GB", "17179869185GB", "18446744073709551615kB");
  CAPTURE(text);
  const auto parsed = parse_size(text);
  CAPTURE(parsed.has_value() ? *parsed : 0);
  CHECK_FALSE(parsed.has_value());
}

TEST_CASE("format_bytes picks the largest unit that keeps the number at least 1", "[units]") {
  CHECK(format_bytes(0) == "0 B");
  CHECK(format_bytes(1023) == "1023 B");
  CHECK(format_bytes(1024) == "1.0 kB");
  CHECK(format_bytes(1536) == "1.5 kB");
  CHECK(format_bytes(16.0 * kMiB) == "16.0 MB");
  CHECK(format_bytes(1.4 * kGiB) == "1.4 GB");
  CHECK(format_bytes(3.0 * 1024 * kGiB) == "3.0 TB");
}

TEST_CASE("format_duration shows milliseconds, seconds, minutes and hours", "[units]") {
  CHECK(format_duration(0.0) == "0 ms");
  CHECK(format_duration(0.85) == "850 ms");
  CHECK(format_duration(1.0) == "1.0 s");
  CHECK(format_duration(12.34) == "12.3 s");
  CHECK(format_duration(192.0) == "3m12s");
  CHECK(format_duration(60.0) == "1m00s");
  CHECK(format_duration(3600.0) == "1h00m");
  CHECK(format_duration(2 * 3600.0 + 5 * 60 + 59) == "2h05m");
}

TEST_CASE("format_duration shows '?' for an unknown duration", "[units]") {
  CHECK(format_duration(-1.0) == "?");
  CHECK(format_duration(std::nan("")) == "?");
  CHECK(format_duration(std::numeric_limits<double>::infinity()) == "?");
}
