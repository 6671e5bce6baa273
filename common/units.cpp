#include "common/units.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace switchyard {
namespace {

// Splits "250ms" into 250 and "ms". Whitespace between is allowed.
bool split_number(std::string_view text, uint64_t& number, std::string_view& unit) {
  const char* begin = text.data();
  const char* end = begin + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, number);
  if (ec != std::errc() || ptr == begin) return false;
  unit = std::string_view(ptr, end - ptr);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  return true;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  uint64_t number = 0;
  std::string_view unit;
  if (!split_number(text, number, unit)) return {};
  uint64_t factor = 0;
  if (unit == "ms") factor = 1;
  else if (unit == "s") factor = 1000;
  else if (unit == "min" || unit == "m") factor = 60'000;
  else if (unit == "h") factor = 3'600'000;
  else if (unit == "d") factor = 86'400'000;
  else return {};
  uint64_t millis = 0;
  if (__builtin_mul_overflow(number, factor, &millis) ||
      millis > static_cast<uint64_t>(std::chrono::milliseconds::max().count())) {
    return {};
  }
  return std::chrono::milliseconds(static_cast<int64_t>(millis));
}

std::optional<uint64_t> parse_size(std::string_view text) {
  uint64_t number = 0;
  std::string_view unit;
  if (!split_number(text, number, unit)) return {};
  uint64_t factor = 0;
  if (unit.empty() || unit == "B") factor = 1;
  else if (unit == "kB" || unit == "KB") factor = uint64_t{1} << 10;
  else if (unit == "MB") factor = uint64_t{1} << 20;
  else if (unit == "GB") factor = uint64_t{1} << 30;
  else if (unit == "TB") factor = uint64_t{1} << 40;
  else return {};
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(number, factor, &bytes)) return {};
  return bytes;
}

std::string counted(uint64_t count, const std::string& noun) {
  return std::to_string(count) + " " + noun + (count == 1 ? "" : "s");
}

std::string format_bytes(double bytes) {
  static const char* const kUnits[] = {"B", "kB", "MB", "GB", "TB"};
  int unit_idx = 0;
  while (bytes >= 1024.0 && unit_idx < 4) {
    bytes /= 1024.0;
    ++unit_idx;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, unit_idx == 0 ? "%.0f %s" : "%.1f %s", bytes, kUnits[unit_idx]);
  return buf;
}

std::string format_duration(double seconds) {
  char buf[48];
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  if (seconds < 1.0) {
    std::snprintf(buf, sizeof buf, "%.0f ms", seconds * 1000.0);
  } else if (seconds < 60.0) {
    std::snprintf(buf, sizeof buf, "%.1f s", seconds);
  } else if (seconds < 3600.0) {
    const int total = static_cast<int>(seconds);
    std::snprintf(buf, sizeof buf, "%dm%02ds", total / 60, total % 60);
  } else {
    const int total = static_cast<int>(seconds);
    std::snprintf(buf, sizeof buf, "%dh%02dm", total / 3600, (total % 3600) / 60);
  }
  return buf;
}

}  // namespace switchyard
