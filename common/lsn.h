// A PostgreSQL write-ahead-log position (pg_lsn), printed as "16/B374D848".
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace switchyard {

struct Lsn {
  uint64_t value = 0;

  static std::optional<Lsn> parse(std::string_view text);
  std::string to_string() const;
  bool valid() const { return value != 0; }
  auto operator<=>(const Lsn&) const = default;
};

}  // namespace switchyard
