#include "drivers/typed_value.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace switchyard {
namespace {

constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kMicrosPerDay = 86'400 * kMicrosPerSecond;

// A small cursor over text, for the date/time grammars below.
struct Cursor {
  std::string_view text;
  size_t pos = 0;

  bool done() const { return pos >= text.size(); }
  char peek() const { return done() ? '\0' : text[pos]; }
  bool eat(char c) {
    if (peek() != c) return false;
    ++pos;
    return true;
  }
  // Exactly `digits` decimal digits (or, with digits == 0, at least one).
  bool number(int64_t& out, int digits) {
    const size_t start = pos;
    out = 0;
    while (!done() && text[pos] >= '0' && text[pos] <= '9' &&
           (digits == 0 || pos - start < static_cast<size_t>(digits))) {
      out = out * 10 + (text[pos] - '0');
      ++pos;
    }
    return digits == 0 ? pos > start : pos - start == static_cast<size_t>(digits);
  }
};

bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t idx = 0; idx < a.size(); ++idx) {
    char x = a[idx], y = b[idx];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool parse_date_part(Cursor& in, int64_t& days) {
  int64_t year = 0, month = 0, day = 0;
  if (!in.number(year, 0) || !in.eat('-') || !in.number(month, 2) || !in.eat('-') ||
      !in.number(day, 2)) {
    return false;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31) return false;
  days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  // Reject days past the month's end ("2024-02-30"), which would otherwise
  // roll over into the next month; PostgreSQL rejects them too.
  int64_t check_year = 0;
  unsigned check_month = 0, check_day = 0;
  civil_from_days(days, check_year, check_month, check_day);
  return check_day == static_cast<unsigned>(day);
}

// HH:MM[:SS[.ffffff...]] -> microseconds, rounding extra fraction digits.
bool parse_time_part(Cursor& in, int64_t& micros) {
  int64_t hour = 0, minute = 0, second = 0;
  if (!in.number(hour, 2) || !in.eat(':') || !in.number(minute, 2)) return false;
  if (in.eat(':') && !in.number(second, 2)) return false;
  int64_t fraction = 0;
  if (in.eat('.')) {
    int digits = 0;
    bool round_up = false;
    while (!in.done() && in.peek() >= '0' && in.peek() <= '9') {
      const int digit = in.peek() - '0';
      if (digits < 6) {
        fraction = fraction * 10 + digit;
      } else if (digits == 6) {
        round_up = digit >= 5;
      }
      ++digits;
      ++in.pos;
    }
    if (digits == 0) return false;
    for (int pad = digits; pad < 6; ++pad) fraction *= 10;
    if (round_up) ++fraction;
  }
  if (hour > 24 || minute > 59 || second > 60) return false;
  if (hour == 24 && (minute != 0 || second != 0 || fraction != 0)) return false;  // only 24:00:00
  micros = ((hour * 60 + minute) * 60 + second) * kMicrosPerSecond + fraction;
  return true;
}

// Z, +HH, +HHMM, +HH:MM, +HH:MM:SS (and '-') -> seconds east of UTC.
bool parse_zone(Cursor& in, int64_t& offset_seconds) {
  if (in.eat('Z') || in.eat('z')) {
    offset_seconds = 0;
    return true;
  }
  const char sign = in.peek();
  if (sign != '+' && sign != '-') return false;
  ++in.pos;
  int64_t hours = 0, minutes = 0, seconds = 0;
  if (!in.number(hours, 2)) return false;
  if (in.eat(':')) {
    if (!in.number(minutes, 2)) return false;
    if (in.eat(':') && !in.number(seconds, 2)) return false;
  } else if (!in.done()) {
    if (!in.number(minutes, 2)) return false;
  }
  offset_seconds = (hours * 3600 + minutes * 60 + seconds) * (sign == '-' ? -1 : 1);
  return true;
}

std::optional<int64_t> infinity_of(std::string_view text) {
  if (equals_ignore_case(text, "infinity") || equals_ignore_case(text, "+infinity")) {
    return kInfinity;
  }
  if (equals_ignore_case(text, "-infinity")) return kMinusInfinity;
  return std::nullopt;
}

}  // namespace

// Howard Hinnant's days_from_civil / civil_from_days algorithms.
int64_t days_from_civil(int64_t year, unsigned month, unsigned day) {
  year -= month <= 2;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const auto year_of_era = static_cast<unsigned>(year - era * 400);
  const unsigned day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + static_cast<int64_t>(day_of_era) - 719468;
}

void civil_from_days(int64_t days, int64_t& year, unsigned& month, unsigned& day) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto day_of_era = static_cast<unsigned>(days - era * 146097);
  const unsigned year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const unsigned day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const unsigned mp = (5 * day_of_year + 2) / 153;
  day = day_of_year - (153 * mp + 2) / 5 + 1;
  month = mp < 10 ? mp + 3 : mp - 9;
  year = static_cast<int64_t>(year_of_era) + era * 400 + (month <= 2);
}

std::optional<int64_t> parse_date(std::string_view text) {
  if (auto infinite = infinity_of(text)) return infinite;
  Cursor in{text};
  int64_t days = 0;
  if (!parse_date_part(in, days) || !in.done()) return std::nullopt;
  return days;
}

std::optional<int64_t> parse_time(std::string_view text) {
  Cursor in{text};
  int64_t micros = 0;
  if (!parse_time_part(in, micros) || !in.done()) return std::nullopt;
  return micros;
}

std::optional<int64_t> parse_timestamp(std::string_view text) {
  if (auto infinite = infinity_of(text)) return infinite;
  Cursor in{text};
  int64_t days = 0, micros = 0, offset = 0;
  if (!parse_date_part(in, days)) return std::nullopt;
  if (!in.eat(' ') && !in.eat('T') && !in.eat('t')) return std::nullopt;
  if (!parse_time_part(in, micros)) return std::nullopt;
  if (!in.done() && !parse_zone(in, offset)) return std::nullopt;
  if (!in.done()) return std::nullopt;
  return days * kMicrosPerDay + micros - offset * kMicrosPerSecond;
}

namespace {

std::string format_date(int64_t days) {
  int64_t year = 0;
  unsigned month = 0, day = 0;
  civil_from_days(days, year, month, day);
  char out[40];
  // PostgreSQL spells years before 1 as "0044-03-15 BC"; ISO year 0 is 1 BC.
  if (year <= 0) {
    std::snprintf(out, sizeof out, "%04lld-%02u-%02u BC", static_cast<long long>(1 - year), month,
                  day);
  } else {
    std::snprintf(out, sizeof out, "%04lld-%02u-%02u", static_cast<long long>(year), month, day);
  }
  return out;
}

std::string format_time(int64_t micros) {
  char out[32];
  std::snprintf(out, sizeof out, "%02lld:%02lld:%02lld.%06lld",
                static_cast<long long>(micros / 3'600'000'000),
                static_cast<long long>(micros / 60'000'000 % 60),
                static_cast<long long>(micros / kMicrosPerSecond % 60),
                static_cast<long long>(micros % kMicrosPerSecond));
  return out;
}

int64_t floor_div(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

}  // namespace

std::string to_text(const Value& value) {
  switch (value.type) {
    case ValueType::kNull:
      return "";
    case ValueType::kBool:
      return value.integer ? "true" : "false";
    case ValueType::kInt:
      return std::to_string(value.integer);
    case ValueType::kFloat: {
      if (std::isnan(value.real)) return "NaN";
      if (std::isinf(value.real)) return value.real > 0 ? "Infinity" : "-Infinity";
      char out[32];
      auto result = std::to_chars(out, out + sizeof out, value.real);
      return std::string(out, result.ptr);
    }
    case ValueType::kDate:
      if (value.integer == kInfinity) return "infinity";
      if (value.integer == kMinusInfinity) return "-infinity";
      return format_date(value.integer);
    case ValueType::kTime:
      return format_time(value.integer);
    case ValueType::kTimestamp: {
      if (value.integer == kInfinity) return "infinity";
      if (value.integer == kMinusInfinity) return "-infinity";
      const int64_t days = floor_div(value.integer, kMicrosPerDay);
      const int64_t micros = value.integer - days * kMicrosPerDay;
      std::string date = format_date(days);
      std::string era;
      if (date.size() > 3 && date.compare(date.size() - 3, 3, " BC") == 0) {
        era = " BC";
        date.resize(date.size() - 3);
      }
      return date + " " + format_time(micros) + "+00" + era;
    }
    case ValueType::kUuid: {
      static const char kHex[] = "0123456789abcdef";
      std::string out;
      for (size_t idx = 0; idx < value.bytes.size(); ++idx) {
        if (idx == 4 || idx == 6 || idx == 8 || idx == 10) out += '-';
        const auto byte = static_cast<unsigned char>(value.bytes[idx]);
        out += kHex[byte >> 4];
        out += kHex[byte & 15];
      }
      return out;
    }
    case ValueType::kBytes: {
      static const char kHex[] = "0123456789abcdef";
      std::string out = "\\x";
      for (char c : value.bytes) {
        const auto byte = static_cast<unsigned char>(c);
        out += kHex[byte >> 4];
        out += kHex[byte & 15];
      }
      return out;
    }
    case ValueType::kNumeric:
    case ValueType::kText:
    case ValueType::kJson:
      return std::string(value.bytes);
  }
  return "";
}

}  // namespace switchyard
