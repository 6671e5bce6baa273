// Error: retry decisions, SQLSTATE classification and exit codes.

#include <catch2/catch.hpp>

#include <iterator>
#include <set>
#include <string>

#include "common/error.h"

using namespace switchyard;

namespace {

// An error as the drivers raise it for a server-reported SQLSTATE.
Error server_error(const std::string& sqlstate) {
  return Error(kind_for_sqlstate(sqlstate), "server said no", sqlstate, "SELECT 1");
}

constexpr ErrorKind kAllKinds[] = {
    ErrorKind::kUsage,        ErrorKind::kConnection,  ErrorKind::kAuth,
    ErrorKind::kPrecondition, ErrorKind::kSchemaDrift, ErrorKind::kDatabase,
    ErrorKind::kInternal,     ErrorKind::kTimeout,     ErrorKind::kRolledBack,
};

}  // namespace

TEST_CASE("Error keeps kind, message, SQLSTATE and query", "[error]") {
  const Error error(ErrorKind::kSchemaDrift, "public.users: column email missing", "42703",
                    "INSERT INTO users ...");
  CHECK(error.kind() == ErrorKind::kSchemaDrift);
  CHECK(std::string(error.what()) == "public.users: column email missing");
  CHECK(error.sqlstate() == "42703");
  CHECK(error.query() == "INSERT INTO users ...");
}

TEST_CASE("Errors a reconnect can cure are retryable", "[error]") {
  const std::string sqlstate =
      GENERATE("08006", "08001", "08003", "57P01", "40001", "40P01", "55006", "57P03", "53300");
  CAPTURE(sqlstate);
  CHECK(server_error(sqlstate).retryable());
  // The SQLSTATE alone decides, whatever kind the caller chose.
  CHECK(Error(ErrorKind::kDatabase, "x", sqlstate).retryable());
}

TEST_CASE("Errors a retry cannot cure are not retryable", "[error]") {
  const std::string sqlstate =
      GENERATE("23505", "42P01", "42501", "28P01", "22P02", "55000", "", "08", "XX000");
  CAPTURE(sqlstate);
  CHECK_FALSE(server_error(sqlstate).retryable());
}

TEST_CASE("A connection error is retryable even without SQLSTATE, other kinds are not", "[error]") {
  CHECK(Error(ErrorKind::kConnection, "server closed the connection unexpectedly").retryable());
  CHECK_FALSE(Error(ErrorKind::kUsage, "bad flag").retryable());
  CHECK_FALSE(Error(ErrorKind::kAuth, "password authentication failed").retryable());
  CHECK_FALSE(Error(ErrorKind::kInternal, "bug").retryable());
}

TEST_CASE("kind_for_sqlstate classifies by SQLSTATE", "[error]") {
  CHECK(kind_for_sqlstate("28P01") == ErrorKind::kAuth);
  CHECK(kind_for_sqlstate("28000") == ErrorKind::kAuth);
  CHECK(kind_for_sqlstate("08000") == ErrorKind::kConnection);
  CHECK(kind_for_sqlstate("08006") == ErrorKind::kConnection);
  CHECK(kind_for_sqlstate("08P01") == ErrorKind::kConnection);
  CHECK(kind_for_sqlstate("57P01") == ErrorKind::kConnection);
  CHECK(kind_for_sqlstate("42501") == ErrorKind::kPrecondition);
  CHECK(kind_for_sqlstate("55000") == ErrorKind::kPrecondition);
  CHECK(kind_for_sqlstate("23505") == ErrorKind::kDatabase);
  CHECK(kind_for_sqlstate("42P01") == ErrorKind::kDatabase);
  CHECK(kind_for_sqlstate("") == ErrorKind::kDatabase);
  CHECK(kind_for_sqlstate("08") == ErrorKind::kDatabase);
}

TEST_CASE("exit_code_for gives every kind its own documented code", "[error]") {
  CHECK(exit_code_for(ErrorKind::kUsage) == ExitCode::kUsage);
  CHECK(exit_code_for(ErrorKind::kConnection) == ExitCode::kConnection);
  CHECK(exit_code_for(ErrorKind::kAuth) == ExitCode::kAuth);
  CHECK(exit_code_for(ErrorKind::kPrecondition) == ExitCode::kPrecondition);
  CHECK(exit_code_for(ErrorKind::kSchemaDrift) == ExitCode::kSchemaDrift);
  CHECK(exit_code_for(ErrorKind::kDatabase) == ExitCode::kDatabase);
  CHECK(exit_code_for(ErrorKind::kInternal) == ExitCode::kInternal);
  CHECK(exit_code_for(ErrorKind::kTimeout) == ExitCode::kTimeout);
  CHECK(exit_code_for(ErrorKind::kRolledBack) == ExitCode::kRolledBack);

  std::set<int> codes;
  for (const ErrorKind kind : kAllKinds) {
    const int code = static_cast<int>(exit_code_for(kind));
    CAPTURE(to_string(kind), code);
    CHECK(code != static_cast<int>(ExitCode::kOk));
    CHECK(code != static_cast<int>(ExitCode::kMismatch));  // 1 is reserved for verify
    CHECK(code != static_cast<int>(ExitCode::kInterrupted));
    codes.insert(code);
  }
  CHECK(codes.size() == std::size(kAllKinds));
}

TEST_CASE("to_string names every kind distinctly", "[error]") {
  std::set<std::string> names;
  for (const ErrorKind kind : kAllKinds) names.insert(to_string(kind));
  CHECK(names.size() == std::size(kAllKinds));
  CHECK(std::string(to_string(ErrorKind::kAuth)) == "authentication");
}
