#include "common/lsn.h"

#include <charconv>
#include <cstdio>

namespace switchyard {

std::optional<Lsn> Lsn::parse(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == text.size()) return {};
  uint32_t high = 0, low = 0;
  const char* begin = text.data();
  const char* mid = begin + slash;
  const char* end = begin + text.size();
  auto [p1, e1] = std::from_chars(begin, mid, high, 16);
  if (e1 != std::errc() || p1 != mid) return {};
  auto [p2, e2] = std::from_chars(mid + 1, end, low, 16);
  if (e2 != std::errc() || p2 != end) return {};
  return Lsn{(uint64_t{high} << 32) | low};
}

std::string Lsn::to_string() const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(value >> 32),
                static_cast<unsigned>(value & 0xffffffffu));
  return buf;
}

}  // namespace switchyard
