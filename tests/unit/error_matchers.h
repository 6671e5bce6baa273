// A Catch2 matcher for switchyard::Error: checks the kind and that the
// one-line message mentions every given fragment, e.g.
//   REQUIRE_THROWS_MATCHES(parse(...), Error, IsError(ErrorKind::kUsage, {"workers", ":3:"}));
#pragma once

#include <catch2/catch.hpp>

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"

namespace switchyard::test {

class ErrorMatcher : public Catch::MatcherBase<Error> {
 public:
  ErrorMatcher(ErrorKind kind, std::vector<std::string> fragments)
      : kind_(kind), fragments_(std::move(fragments)) {}

  bool match(const Error& error) const override {
    if (error.kind() != kind_) return false;
    const std::string message = error.what();
    for (const auto& fragment : fragments_) {
      if (message.find(fragment) == std::string::npos) return false;
    }
    return true;
  }

  std::string describe() const override {
    std::string out = std::string("is a '") + to_string(kind_) + "' error mentioning";
    for (const auto& fragment : fragments_) out += " \"" + fragment + "\"";
    return out;
  }

 private:
  ErrorKind kind_;
  std::vector<std::string> fragments_;
};

inline ErrorMatcher IsError(ErrorKind kind, std::initializer_list<std::string> fragments = {}) {
  return ErrorMatcher(kind, fragments);
}

}  // namespace switchyard::test

// Catch2 v2 prints a caught exception with StringMaker; show kind and message.
namespace Catch {
template <>
struct StringMaker<switchyard::Error> {
  static std::string convert(const switchyard::Error& error) {
    return std::string(switchyard::to_string(error.kind())) + " error: " + error.what();
  }
};
}  // namespace Catch
