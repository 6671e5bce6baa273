#include "service/tokens.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include "common/error.h"

namespace switchyard::service {
namespace {

constexpr size_t kShortestToken = 16;

[[noreturn]] void refuse(const std::string& origin, const std::string& why) {
  throw Error(ErrorKind::kUsage, "service.tokens_file " + origin + ": " + why);
}

// Equal in time that depends only on the lengths, never on where the
// first difference is.
bool same(std::string_view a, std::string_view b) {
  unsigned char differ = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    differ |= static_cast<unsigned char>(x ^ y);
  }
  return differ == 0;
}

}  // namespace

Tokens Tokens::load(const std::string& path) {
  struct stat status {};
  if (stat(path.c_str(), &status) != 0) refuse(path, std::strerror(errno));
  if (!S_ISREG(status.st_mode)) refuse(path, "not a regular file");
  if ((status.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", status.st_mode & 0777);
    refuse(path, std::string("its group or others may read or write it (mode ") + mode +
                     "); it holds secrets: chmod 600 it");
  }
  std::ifstream file(path);
  if (!file) refuse(path, std::strerror(errno));
  std::stringstream text;
  text << file.rdbuf();
  return parse(text.str(), path);
}

Tokens Tokens::parse(std::string_view text, const std::string& origin) {
  static const std::regex kName("^[A-Za-z0-9_.@-]{1,64}$");
  Tokens tokens;
  size_t line_no = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string line(text.substr(start, end - start));
    start = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    const std::string where = "line " + std::to_string(line_no) + ": ";
    const size_t colon = line.find(':');
    if (colon == std::string::npos) refuse(origin, where + "expected name:token");
    const std::string name = line.substr(0, colon);
    const std::string token = line.substr(colon + 1);
    if (!std::regex_match(name, kName)) {
      refuse(origin, where + "the name must be 1-64 letters, digits, or _.@-");
    }
    if (token.size() < kShortestToken || token.find_first_of(" \t") != std::string::npos) {
      refuse(origin, where + "the token of '" + name + "' must be at least " +
                         std::to_string(kShortestToken) + " characters without blanks");
    }
    for (const Entry& entry : tokens.entries_) {
      if (entry.name == name) refuse(origin, where + "the name '" + name + "' is given twice");
      if (same(entry.token, token)) {
        refuse(origin, where + "'" + name + "' has the same token as '" + entry.name + "'");
      }
    }
    tokens.entries_.push_back({name, token});
  }
  return tokens;
}

std::optional<std::string> Tokens::authenticate(std::string_view authorization) const {
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() <= kScheme.size()) return std::nullopt;
  // The scheme is case-insensitive (RFC 9110).
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
        std::tolower(static_cast<unsigned char>(kScheme[i]))) {
      return std::nullopt;
    }
  }
  const std::string_view presented = authorization.substr(kScheme.size());
  std::optional<std::string> name;
  for (const Entry& entry : entries_) {
    if (same(entry.token, presented) && !name) name = entry.name;
  }
  return name;
}

}  // namespace switchyard::service
