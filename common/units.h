// Parsing of the human-friendly quantities used in the configuration file:
// durations ("250ms", "10s", "5min", "2h") and sizes ("256kB", "8MB", "1GB",
// 1024-based as in postgresql.conf).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace switchyard {

// A number and its unit (ms, s, min or m, h, d); a bare number is refused,
// since "2" could as well mean 2 s as 2 ms.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
// A number of bytes, with or without a unit (B, kB, MB, GB, TB).
std::optional<uint64_t> parse_size(std::string_view text);

// "1 table", "3 tables": a count and its noun, in the plural when it is not 1.
std::string counted(uint64_t count, const std::string& noun);
std::string format_bytes(double bytes);       // "1.4 GB"
std::string format_duration(double seconds);  // "3m12s", "850 ms"

// Milliseconds since `start`, for timings reported to the operator.
inline double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace switchyard
