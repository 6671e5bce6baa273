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

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
std::optional<uint64_t> parse_size(std::string_view text);

std::string format_bytes(double bytes);       // "1.4 GB"
std::string format_duration(double seconds);  // "3m12s", "850 ms"

}  // namespace switchyard
