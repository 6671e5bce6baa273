// The API's bearer tokens: service.tokens_file, one `name:token` per line
// (blank lines and lines starting with # are skipped). The name is who a
// mutation is recorded as asked by; the token is what a client sends as
// `Authorization: Bearer <token>`.
//
// The file holds secrets, so it is refused when its group or others may
// read or write it (chmod 600), and a token shorter than 16 characters is
// refused too. Messages name the file and the line, never a token.
// Tokens are compared in constant time: every token is compared whole,
// whether or not an earlier one matched.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard::service {

class Tokens {
 public:
  Tokens() = default;  // none: every request that needs a token is refused

  // Throws Error(kUsage) naming service.tokens_file and what is wrong.
  static Tokens load(const std::string& path);
  // The file's text, already read (for tests).
  static Tokens parse(std::string_view text, const std::string& origin);

  // The name of the token in an Authorization header's value
  // ("Bearer abc..."), or nullopt.
  std::optional<std::string> authenticate(std::string_view authorization) const;

  bool empty() const { return entries_.empty(); }
  // The token of a file that holds just one (the CLI's default).
  const std::string& only_token() const { return entries_.front().token; }
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string name, token;
  };
  std::vector<Entry> entries_;
};

}  // namespace switchyard::service
