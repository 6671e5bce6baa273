#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "error_matchers.h"
#include "service/tokens.h"

using switchyard::Error;
using switchyard::ErrorKind;
using switchyard::service::Tokens;
using switchyard::test::IsError;

namespace {

const std::string kGood =
    "# who may change things\n"
    "\n"
    "alice:0123456789abcdef0123\n"
    "runbook-7:ZZZZ-zzzz-YYYY-yyyy\r\n";

}  // namespace

TEST_CASE("a token is known by its name", "[tokens]") {
  const Tokens tokens = Tokens::parse(kGood, "t");
  CHECK(tokens.size() == 2);
  CHECK(tokens.authenticate("Bearer 0123456789abcdef0123") == "alice");
  CHECK(tokens.authenticate("bearer ZZZZ-zzzz-YYYY-yyyy") == "runbook-7");
  CHECK_FALSE(tokens.authenticate("Bearer 0123456789abcdef012"));    // a prefix
  CHECK_FALSE(tokens.authenticate("Bearer 0123456789abcdef01234"));  // longer
  CHECK_FALSE(tokens.authenticate("Bearer 0123456789abcdef0124"));
  CHECK_FALSE(tokens.authenticate("Basic 0123456789abcdef0123"));
  CHECK_FALSE(tokens.authenticate("0123456789abcdef0123"));
  CHECK_FALSE(tokens.authenticate("Bearer "));
  CHECK_FALSE(tokens.authenticate(""));
  CHECK_FALSE(Tokens().authenticate("Bearer 0123456789abcdef0123"));
}

TEST_CASE("a bad tokens file is refused by line, never showing a token", "[tokens]") {
  auto refused = [](const std::string& text, std::vector<std::string> fragments) {
    fragments.push_back("service.tokens_file t");
    REQUIRE_THROWS_MATCHES(Tokens::parse(text, "t"), Error,
                           switchyard::test::ErrorMatcher(ErrorKind::kUsage, fragments));
    try {
      Tokens::parse(text, "t");
    } catch (const Error& error) {
      CHECK(std::string(error.what()).find("short") == std::string::npos);
      CHECK(std::string(error.what()).find("0123456789abcdef") == std::string::npos);
    }
  };
  refused("alice 0123456789abcdef\n", {"line 1", "name:token"});
  refused("# x\nalice:short\n", {"line 2", "at least 16 characters"});
  refused("al ice:0123456789abcdef\n", {"line 1", "the name"});
  refused("alice:0123456789abcdef\nalice:0123456789abcdeX\n", {"line 2", "given twice"});
  refused("alice:0123456789abcdef\nbob:0123456789abcdef\n", {"line 2", "same token as 'alice'"});
}

TEST_CASE("a tokens file others may read is refused", "[tokens]") {
  char path[] = "/tmp/switchyard-tokens-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  {
    std::ofstream out(path);
    out << kGood;
  }
  chmod(path, 0600);
  CHECK(Tokens::load(path).size() == 2);
  chmod(path, 0640);
  REQUIRE_THROWS_MATCHES(Tokens::load(path), Error,
                         IsError(ErrorKind::kUsage, {path, "mode 640", "chmod 600"}));
  chmod(path, 0604);
  REQUIRE_THROWS_MATCHES(Tokens::load(path), Error, IsError(ErrorKind::kUsage, {"mode 604"}));
  std::remove(path);
  REQUIRE_THROWS_MATCHES(Tokens::load(path), Error, IsError(ErrorKind::kUsage, {path}));
}
