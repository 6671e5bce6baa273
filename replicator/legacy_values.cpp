#include "replicator/legacy_values.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>

#include "common/error.h"
#include "drivers/typed_value.h"

namespace switchyard {
namespace {

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

bool is_integer(std::string_view text) {
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) text.remove_prefix(1);
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c));
  });
}

// A decimal number as PostgreSQL's numeric input takes it: digits with at
// most one point, an optional sign and exponent.
bool is_decimal(std::string_view text) {
  size_t i = 0;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
  size_t digits = 0;
  bool point = false;
  for (; i < text.size(); ++i) {
    if (std::isdigit(static_cast<unsigned char>(text[i]))) {
      ++digits;
    } else if (text[i] == '.' && !point) {
      point = true;
    } else {
      break;
    }
  }
  if (digits == 0) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) return is_integer(text.substr(i + 1));
  return i == text.size();
}

bool is_float(std::string_view text) {
  if (is_decimal(text)) return true;
  std::string lowered(text);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return lowered == "inf" || lowered == "-inf" || lowered == "nan" || lowered == "infinity" ||
         lowered == "-infinity";
}

// "0000-00-00", "0000-00-00 00:00:00", "2024-00-10": MariaDB's zero dates
// (a zero year, month or day), which no PostgreSQL date can hold.
bool is_zero_date(std::string_view text) {
  if (text.size() < 10 || text[4] != '-' || text[7] != '-') return false;
  return text.substr(0, 4) == "0000" || text.substr(5, 2) == "00" || text.substr(8, 2) == "00";
}

std::string hex_to_bytea(std::string_view hex) {
  std::string out = "\\x";
  out.reserve(hex.size() + 2);
  for (char c : hex) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "a,b" -> {"a","b"}; "" -> {}. SET members cannot contain a comma.
std::string set_to_array(std::string_view set) {
  std::string out = "{";
  size_t begin = 0;
  while (!set.empty() && begin <= set.size()) {
    size_t end = set.find(',', begin);
    if (end == std::string_view::npos) end = set.size();
    if (out.size() > 1) out += ',';
    out += '"';
    for (char c : set.substr(begin, end - begin)) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
    begin = end + 1;
  }
  return out + "}";
}

// "@1700000000.250000" (seconds since the epoch) -> "2023-11-14 22:13:20.25+00".
std::optional<std::string> epoch_to_timestamp(std::string_view text) {
  text.remove_prefix(1);
  const size_t point = text.find('.');
  int64_t seconds = 0;
  const std::string_view whole = text.substr(0, point);
  auto [end, error] = std::from_chars(whole.data(), whole.data() + whole.size(), seconds);
  if (error != std::errc() || end != whole.data() + whole.size()) return std::nullopt;
  std::string fraction;
  if (point != std::string_view::npos) {
    fraction = std::string(text.substr(point + 1));
    if (!is_integer(fraction)) return std::nullopt;
    while (!fraction.empty() && fraction.back() == '0') fraction.pop_back();
  }
  int64_t days = seconds / 86400;
  int64_t rest = seconds % 86400;
  if (rest < 0) {
    rest += 86400;
    --days;
  }
  int64_t year = 0;
  unsigned month = 0, day = 0;
  civil_from_days(days, year, month, day);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04lld-%02u-%02u %02lld:%02lld:%02lld",
                static_cast<long long>(year), month, day, static_cast<long long>(rest / 3600),
                static_cast<long long>(rest / 60 % 60), static_cast<long long>(rest % 60));
  std::string out = buffer;
  if (!fraction.empty()) out += "." + fraction;
  return out + "+00";
}

int bit_width(const std::string& type) {
  const size_t open = type.find('(');
  if (open == std::string::npos) return 1;
  return std::atoi(type.c_str() + open + 1);
}

}  // namespace

LegacyValues::LegacyValues(const std::string& engine, const odbc::LegacyTable& legacy,
                           const TableTranslation& translation)
    : legacy_(legacy),
      translation_(translation),
      checked_(engine == "SQLite"),
      zero_dates_(legacy.columns.size(), 0) {
  for (size_t idx = 0; idx < legacy.columns.size(); ++idx) {
    const odbc::LegacyColumn& column = legacy.columns[idx];
    const std::string& type = translation.columns[idx].type;
    Form form = Form::kAsIs;
    int width = 0;
    if (type == "boolean") {
      form = Form::kBoolean;
    } else if (type == "bytea" && odbc::is_binary(column)) {
      form = Form::kBytea;
    } else if (column.base == "set" && type == "text[]") {
      form = Form::kSet;
    } else if (column.base == "bit" && starts_with(type, "bit")) {
      form = Form::kBits;
      width = bit_width(type);
    } else if (column.base == "timestamp" && engine == "MariaDB") {
      form = Form::kEpoch;
    } else if (column.base == "date" || column.base == "datetime" ||
               (column.base == "timestamp" && engine != "MariaDB")) {
      form = starts_with(type, "date") ? Form::kDate : Form::kTimestamp;
    } else if (type == "smallint" || type == "integer" || type == "bigint") {
      form = Form::kInteger;
    } else if (type == "real" || type == "double precision") {
      form = Form::kFloat;
    } else if (starts_with(type, "numeric")) {
      form = Form::kNumeric;
    }
    forms_.push_back(form);
    bit_widths_.push_back(width);
  }
}

void LegacyValues::refuse(size_t column, std::string_view value, const std::string& what,
                          const std::function<std::string()>& key) const {
  const std::string display = legacy_.schema + "." + legacy_.name;
  const std::string& name = legacy_.columns[column].name;
  std::string shown(value.substr(0, 40));
  if (value.size() > 40) shown += "...";
  throw Error(ErrorKind::kPrecondition,
              "source: table " + display + ", row " + key() + ", column " + name + ": '" + shown +
                  "' " + what + "; correct the row, or choose the column's type with types: { \"" +
                  display + "." + name + "\": text }");
}

Datum LegacyValues::to_target(size_t column, std::optional<std::string_view> legacy,
                              const std::function<std::string()>& key) const {
  if (!legacy) return {};
  const std::string_view value = *legacy;
  const std::string& type = translation_.columns[column].type;
  switch (forms_[column]) {
    case Form::kAsIs:
      break;
    case Form::kBoolean:
      if (value == "0" || value == "1") return {DatumKind::kText, std::string(value)};
      if (checked_ && (value == "true" || value == "false" || value == "t" || value == "f")) {
        return {DatumKind::kText, std::string(value.substr(0, 1))};
      }
      refuse(column, value, "is not a boolean (0 or 1) for a " + type + " column", key);
    case Form::kBytea:
      return {DatumKind::kText, hex_to_bytea(value)};
    case Form::kSet:
      return {DatumKind::kText, set_to_array(value)};
    case Form::kBits: {
      uint64_t number = 0;
      auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
      if (error != std::errc() || end != value.data() + value.size()) {
        refuse(column, value, "is not a bit value", key);
      }
      std::string bits(static_cast<size_t>(bit_widths_[column]), '0');
      for (size_t i = 0; i < bits.size() && i < 64; ++i) {
        if (number >> i & 1) bits[bits.size() - 1 - i] = '1';
      }
      return {DatumKind::kText, bits};
    }
    case Form::kEpoch: {
      if (is_zero_date(value)) {
        ++zero_dates_[column];
        return {};
      }
      if (value.empty() || value[0] != '@') refuse(column, value, "is not a timestamp", key);
      auto text = epoch_to_timestamp(value);
      if (!text) refuse(column, value, "is not a timestamp", key);
      return {DatumKind::kText, std::move(*text)};
    }
    case Form::kDate:
    case Form::kTimestamp:
      if (is_zero_date(value)) {
        ++zero_dates_[column];
        return {};
      }
      if (checked_) {
        const bool ok = forms_[column] == Form::kDate ? parse_date(value).has_value()
                                                      : parse_timestamp(value).has_value();
        if (!ok) refuse(column, value, "is not a valid " + type, key);
      }
      break;
    case Form::kInteger:
      if (checked_ && !is_integer(value)) refuse(column, value, "is not an integer", key);
      break;
    case Form::kFloat:
      if (checked_ && !is_float(value)) refuse(column, value, "is not a number", key);
      break;
    case Form::kNumeric:
      if (checked_ && !is_decimal(value) && value != "NaN") {
        refuse(column, value, "is not a decimal number", key);
      }
      break;
  }
  return {DatumKind::kText, std::string(value)};
}

std::optional<std::string_view> captured_text(const Value& value, std::string& scratch) {
  switch (value.type) {
    case ValueType::kNull:
      return std::nullopt;
    case ValueType::kText:
    case ValueType::kNumeric:
    case ValueType::kBytes:
    case ValueType::kJson:
      return value.bytes;
    default:
      scratch = to_text(value);
      return scratch;
  }
}

std::string describe_key(const std::vector<std::optional<std::string>>& values) {
  std::string out = "(";
  for (size_t idx = 0; idx < values.size(); ++idx) {
    if (idx) out += ", ";
    out += values[idx] ? *values[idx] : "NULL";
  }
  return out + ")";
}

}  // namespace switchyard
