#include "drivers/pg/binary_copy_writer.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <cstring>
#include <limits>
#include <vector>

#include "drivers/pg/binary_copy.h"
#include "drivers/typed_value.h"

namespace switchyard::pg {
namespace {

constexpr int64_t kMicrosPerDay = 86'400'000'000;

void put_be(std::string& out, uint64_t value, size_t size) {
  for (size_t idx = size; idx-- > 0;) out += static_cast<char>(value >> (idx * 8) & 0xff);
}
void put_int32(std::string& out, int64_t value) {
  put_be(out, static_cast<uint32_t>(value), 4);
}

// A field of `size` bytes: its length, then the value.
void put_fixed(std::string& out, uint64_t value, size_t size) {
  put_int32(out, static_cast<int64_t>(size));
  put_be(out, value, size);
}

void put_bytes(std::string& out, std::string_view bytes) {
  put_int32(out, static_cast<int64_t>(bytes.size()));
  out.append(bytes);
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Leading and trailing blanks, which the numeric input functions skip.
std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

std::optional<int64_t> parse_integer(std::string_view text, int64_t min, int64_t max) {
  text = trim(text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) return {};
  if (value < min || value > max) return {};
  return value;
}

template <typename Float>
std::optional<Float> parse_float(std::string_view text) {
  text = trim(text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  Float value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  // Out of range (overflow, or underflow to zero) is refused, as float8in does.
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) return {};
  return value;
}

bool append_bool(std::string& out, std::string_view text) {
  text = trim(text);
  static const char* kTrue[] = {"t", "true", "1", "y", "yes", "on"};
  static const char* kFalse[] = {"f", "false", "0", "n", "no", "off"};
  for (const char* word : kTrue) {
    if (iequals(text, word)) return put_fixed(out, 1, 1), true;
  }
  for (const char* word : kFalse) {
    if (iequals(text, word)) return put_fixed(out, 0, 1), true;
  }
  return false;
}

// Decimal text ("-12.340", "1.5e3", "NaN") -> numeric's send form: digit
// count, weight (of the first base-10000 digit), sign, display scale, then
// the digits.
bool append_numeric(std::string& out, std::string_view text) {
  text = trim(text);
  uint16_t special = 0;
  if (iequals(text, "NaN")) special = 0xC000;
  if (iequals(text, "Infinity") || iequals(text, "+Infinity")) special = 0xD000;
  if (iequals(text, "-Infinity")) special = 0xF000;
  if (special) {
    put_int32(out, 8);
    put_be(out, 0, 2);
    put_be(out, 0, 2);
    put_be(out, special, 2);
    put_be(out, 0, 2);
    return true;
  }
  bool negative = false;
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  std::string digits;  // every decimal digit, the point removed
  int64_t point = -1;  // digits before the point
  size_t idx = 0;
  for (; idx < text.size(); ++idx) {
    const char c = text[idx];
    if (c >= '0' && c <= '9') {
      digits += c;
    } else if (c == '.' && point < 0) {
      point = static_cast<int64_t>(digits.size());
    } else {
      break;
    }
  }
  if (digits.empty()) return false;
  const int64_t fraction_digits = point < 0 ? 0 : static_cast<int64_t>(digits.size()) - point;
  if (point < 0) point = static_cast<int64_t>(digits.size());
  int64_t exponent = 0;
  if (idx < text.size()) {
    if (text[idx] != 'e' && text[idx] != 'E') return false;
    auto parsed = parse_integer(text.substr(idx + 1), -100000, 100000);
    if (!parsed || text.size() == idx + 1 ||
        std::isspace(static_cast<unsigned char>(text[idx + 1]))) {
      return false;
    }
    exponent = *parsed;
  }
  const int64_t scale = std::max<int64_t>(0, fraction_digits - exponent);
  point += exponent;
  // Leading zeros carry no value.
  size_t first = 0;
  while (first < digits.size() && digits[first] == '0') ++first;
  digits.erase(0, first);
  point -= static_cast<int64_t>(first);
  while (!digits.empty() && digits.back() == '0') digits.pop_back();
  if (scale > 0x3FFF) return false;

  std::vector<uint16_t> groups;
  int64_t weight = 0;
  if (!digits.empty()) {
    // The first group holds the digit at 10^(point-1); groups end at
    // multiples of four digits from the point.
    weight = point >= 1 ? (point - 1) / 4 : -((-point) / 4) - 1;
    const int64_t pad = (weight + 1) * 4 - point;
    std::string aligned(static_cast<size_t>(pad), '0');
    aligned += digits;
    aligned.append((4 - aligned.size() % 4) % 4, '0');
    for (size_t at = 0; at < aligned.size(); at += 4) {
      groups.push_back(static_cast<uint16_t>(std::stoi(aligned.substr(at, 4))));
    }
    while (!groups.empty() && groups.back() == 0) groups.pop_back();
    if (groups.size() > 0x7FFF || weight > 0x7FFF || weight < -0x8000) return false;
  }
  put_int32(out, static_cast<int64_t>(8 + 2 * groups.size()));
  put_be(out, groups.size(), 2);
  put_be(out, static_cast<uint16_t>(static_cast<int16_t>(weight)), 2);
  put_be(out, negative && !groups.empty() ? 0x4000 : 0, 2);
  put_be(out, static_cast<uint64_t>(scale), 2);
  for (uint16_t group : groups) put_be(out, group, 2);
  return true;
}

// Dates before 1 AD are spelled with "BC" in PostgreSQL; an ISO year 0 or
// below in the text is refused, as date_in refuses "0000-01-01".
bool before_year_one(int64_t days) {
  return days != kMinusInfinity && days < days_from_civil(1, 1, 1);
}

bool append_date(std::string& out, std::string_view text) {
  const auto days = parse_date(trim(text));
  if (!days || before_year_one(*days)) return false;
  int64_t value = *days - kPostgresEpochDays;
  if (*days == kInfinity) value = std::numeric_limits<int32_t>::max();
  if (*days == kMinusInfinity) value = std::numeric_limits<int32_t>::min();
  if (value > std::numeric_limits<int32_t>::max() || value < std::numeric_limits<int32_t>::min()) {
    return false;
  }
  put_fixed(out, static_cast<uint32_t>(value), 4);
  return true;
}

bool append_time(std::string& out, std::string_view text) {
  const auto micros = parse_time(trim(text));
  if (!micros || *micros < 0 || *micros > kMicrosPerDay) return false;
  put_fixed(out, static_cast<uint64_t>(*micros), 8);
  return true;
}

// The text with its zone removed: the part after the time of day that
// starts with '+', '-' or 'Z'.
std::string_view without_zone(std::string_view text) {
  const size_t separator = text.find_first_of(" Tt", 1);
  if (separator == std::string_view::npos) return text;
  const size_t zone = text.find_first_of("+-Zz", separator + 1);
  return zone == std::string_view::npos ? text : trim(text.substr(0, zone));
}

bool append_timestamp(std::string& out, std::string_view text, bool with_zone) {
  text = trim(text);
  const auto micros = parse_timestamp(with_zone ? text : without_zone(text));
  if (!micros) return false;
  if (*micros != kInfinity && *micros != kMinusInfinity) {
    const int64_t days = *micros / kMicrosPerDay - (*micros % kMicrosPerDay < 0 ? 1 : 0);
    if (before_year_one(days)) return false;
  }
  int64_t value = *micros;
  if (value != kInfinity && value != kMinusInfinity) value -= kPostgresEpochDays * kMicrosPerDay;
  put_fixed(out, static_cast<uint64_t>(value), 8);
  return true;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool append_bytea(std::string& out, std::string_view text) {
  if (text.size() < 2 || text[0] != '\\' || (text[1] != 'x' && text[1] != 'X')) return false;
  text.remove_prefix(2);
  if (text.size() % 2) return false;
  std::string bytes;
  bytes.reserve(text.size() / 2);
  for (size_t idx = 0; idx < text.size(); idx += 2) {
    const int high = hex_digit(text[idx]), low = hex_digit(text[idx + 1]);
    if (high < 0 || low < 0) return false;
    bytes += static_cast<char>(high << 4 | low);
  }
  put_bytes(out, bytes);
  return true;
}

bool append_bits(std::string& out, std::string_view text) {
  if (text.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) return false;
  std::string bytes((text.size() + 7) / 8, '\0');
  for (size_t idx = 0; idx < text.size(); ++idx) {
    if (text[idx] != '0' && text[idx] != '1') return false;
    if (text[idx] == '1') bytes[idx / 8] = static_cast<char>(bytes[idx / 8] | (0x80 >> (idx % 8)));
  }
  put_int32(out, static_cast<int64_t>(4 + bytes.size()));
  put_int32(out, static_cast<int64_t>(text.size()));
  out += bytes;
  return true;
}

// {"a","b\"c"} or {} -> a one-dimensional text array. Only quoted
// elements: the form legacy_values writes for a SET.
bool append_text_array(std::string& out, std::string_view text) {
  if (text.size() < 2 || text.front() != '{' || text.back() != '}') return false;
  text = text.substr(1, text.size() - 2);
  std::vector<std::string> elements;
  size_t idx = 0;
  while (idx < text.size()) {
    if (!elements.empty()) {
      if (text[idx] != ',') return false;
      ++idx;
    }
    if (idx >= text.size() || text[idx] != '"') return false;
    std::string element;
    for (++idx; idx < text.size() && text[idx] != '"'; ++idx) {
      if (text[idx] == '\\') {
        if (++idx >= text.size()) return false;
      }
      element += text[idx];
    }
    if (idx >= text.size()) return false;  // no closing quote
    ++idx;
    elements.push_back(std::move(element));
  }
  std::string body;
  put_int32(body, elements.empty() ? 0 : 1);  // dimensions
  put_int32(body, 0);                         // no NULL element
  put_int32(body, 25);                        // element type: text
  if (!elements.empty()) {
    put_int32(body, static_cast<int64_t>(elements.size()));
    put_int32(body, 1);  // lower bound
    for (const auto& element : elements) put_bytes(body, element);
  }
  put_bytes(out, body);
  return true;
}

bool append_uuid(std::string& out, std::string_view text) {
  text = trim(text);
  if (text.size() >= 2 && text.front() == '{' && text.back() == '}') {
    text = text.substr(1, text.size() - 2);
  }
  std::string bytes;
  int high = -1;
  for (char c : text) {
    if (c == '-') {
      if (high >= 0) return false;
      continue;
    }
    const int digit = hex_digit(c);
    if (digit < 0) return false;
    if (high < 0) {
      high = digit;
    } else {
      bytes += static_cast<char>(high << 4 | digit);
      high = -1;
    }
  }
  if (bytes.size() != 16 || high >= 0) return false;
  put_bytes(out, bytes);
  return true;
}

}  // namespace

std::optional<SendForm> send_form(uint32_t type_oid, char typtype) {
  if (typtype == 'e') return SendForm::kText;
  switch (type_oid) {
    case 16:
      return SendForm::kBool;
    case 17:
      return SendForm::kBytea;
    case 20:
      return SendForm::kInt8;
    case 21:
      return SendForm::kInt2;
    case 23:
      return SendForm::kInt4;
    case 25:    // text
    case 114:   // json
    case 1042:  // bpchar
    case 1043:  // varchar
      return SendForm::kText;
    case 700:
      return SendForm::kFloat4;
    case 701:
      return SendForm::kFloat8;
    case 1009:
      return SendForm::kTextArray;
    case 1082:
      return SendForm::kDate;
    case 1083:
      return SendForm::kTime;
    case 1114:
      return SendForm::kTimestamp;
    case 1184:
      return SendForm::kTimestampTz;
    case 1560:  // bit
    case 1562:  // varbit
      return SendForm::kBits;
    case 1700:
      return SendForm::kNumeric;
    case 2950:
      return SendForm::kUuid;
    case 3802:
      return SendForm::kJsonb;
    default:
      return std::nullopt;
  }
}

void append_copy_header(std::string& out) {
  static constexpr char kSignature[] = "PGCOPY\n\377\r\n";
  out.append(kSignature, 11);
  put_int32(out, 0);  // flags
  put_int32(out, 0);  // header extension length
}

void append_copy_trailer(std::string& out) {
  put_be(out, 0xFFFF, 2);
}

void append_field_count(std::string& out, uint16_t fields) {
  put_be(out, fields, 2);
}

void append_null_field(std::string& out) {
  put_int32(out, -1);
}

bool append_field(std::string& out, SendForm form, std::string_view text) {
  switch (form) {
    case SendForm::kBool:
      return append_bool(out, text);
    case SendForm::kInt2:
    case SendForm::kInt4:
    case SendForm::kInt8: {
      const size_t size = form == SendForm::kInt2 ? 2 : form == SendForm::kInt4 ? 4 : 8;
      const int64_t max =
          size == 8 ? std::numeric_limits<int64_t>::max() : (int64_t{1} << (size * 8 - 1)) - 1;
      const auto value = parse_integer(text, -max - 1, max);
      if (!value) return false;
      put_fixed(out, static_cast<uint64_t>(*value), size);
      return true;
    }
    case SendForm::kFloat4: {
      const auto value = parse_float<float>(text);
      if (!value) return false;
      put_fixed(out, std::bit_cast<uint32_t>(*value), 4);
      return true;
    }
    case SendForm::kFloat8: {
      const auto value = parse_float<double>(text);
      if (!value) return false;
      put_fixed(out, std::bit_cast<uint64_t>(*value), 8);
      return true;
    }
    case SendForm::kNumeric:
      return append_numeric(out, text);
    case SendForm::kDate:
      return append_date(out, text);
    case SendForm::kTime:
      return append_time(out, text);
    case SendForm::kTimestamp:
      return append_timestamp(out, text, false);
    case SendForm::kTimestampTz:
      return append_timestamp(out, text, true);
    case SendForm::kText:
      put_bytes(out, text);
      return true;
    case SendForm::kJsonb:
      put_int32(out, static_cast<int64_t>(text.size() + 1));
      out += '\1';  // jsonb's format version
      out.append(text);
      return true;
    case SendForm::kBytea:
      return append_bytea(out, text);
    case SendForm::kBits:
      return append_bits(out, text);
    case SendForm::kTextArray:
      return append_text_array(out, text);
    case SendForm::kUuid:
      return append_uuid(out, text);
  }
  return false;
}

}  // namespace switchyard::pg
