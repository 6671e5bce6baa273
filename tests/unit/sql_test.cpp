// pg::quote_ident and friends, and conninfo validation and redaction.

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "common/error.h"
#include "drivers/pg/sql.h"
#include "error_matchers.h"

using namespace switchyard;
using namespace switchyard::pg;
using switchyard::test::IsError;

TEST_CASE("quote_ident always double-quotes, keeping case and keywords", "[sql]") {
  CHECK(quote_ident("users") == R"("users")");
  CHECK(quote_ident("OrderItems") == R"("OrderItems")");
  CHECK(quote_ident("select") == R"("select")");
  CHECK(quote_ident("Order Items") == R"("Order Items")");
  CHECK(quote_ident("t\xC3\xA4"
                    "ble") ==
        "\"t\xC3\xA4"
        "ble\"");  // täble
}

TEST_CASE("quote_ident doubles embedded double quotes", "[sql]") {
  CHECK(quote_ident(R"(say "hi")") == R"("say ""hi""")");
  CHECK(quote_ident(R"(")") == R"("""")");
  CHECK(quote_ident(R"(a""b)") == R"("a""""b")");
  CHECK(quote_ident("it's") == R"("it's")");  // single quotes are not special here
}

TEST_CASE("quote_ident of an empty name is an empty quoted identifier", "[sql]") {
  CHECK(quote_ident("") == R"("")");
}

TEST_CASE("qualified quotes schema and name separately", "[sql]") {
  CHECK(qualified("public", "users") == R"("public"."users")");
  CHECK(qualified("Sales", "Order Items") == R"("Sales"."Order Items")");
  CHECK(qualified("a.b", "c") == R"("a.b"."c")");
  CHECK(qualified(R"(x"y)", R"(z")") == R"("x""y"."z""")");
}

TEST_CASE("quote_literal single-quotes and doubles embedded single quotes", "[sql]") {
  CHECK(quote_literal("plain") == "'plain'");
  CHECK(quote_literal("It's") == "'It''s'");
  CHECK(quote_literal("''") == "''''''");
  CHECK(quote_literal("") == "''");
  CHECK(quote_literal(R"(C:\path)") == R"('C:\path')");  // standard_conforming_strings
  CHECK(quote_literal(R"(say "hi")") == R"('say "hi"')");
}

TEST_CASE("ident_list joins quoted identifiers with commas", "[sql]") {
  CHECK(ident_list({}).empty());
  CHECK(ident_list({"id"}) == R"("id")");
  CHECK(ident_list({"id", "Name", R"(x"y)"}) == R"("id", "Name", "x""y")");
}

TEST_CASE("validate_conninfo accepts key=value strings and URIs", "[sql][conninfo]") {
  const std::string conninfo = GENERATE(
      "host=db.example port=5432 dbname=app user=repl",
      R"(host='my host' password='with \' quote')", "",
      "postgresql://repl:secret@db.example:5432/app?sslmode=require", "postgres://db.example/app");
  CAPTURE(conninfo);
  CHECK_NOTHROW(validate_conninfo(conninfo, "source.conninfo"));
}

TEST_CASE("validate_conninfo rejects a malformed conninfo as a usage error naming it",
          "[sql][conninfo]") {
  const std::string conninfo =
      GENERATE("host=x port", "host='unterminated", "nosuchoption=1", "postgresql://[::1");
  CAPTURE(conninfo);
  REQUIRE_THROWS_MATCHES(validate_conninfo(conninfo, "target.conninfo"), Error,
                         IsError(ErrorKind::kUsage, {"target.conninfo"}));
}

TEST_CASE("validate_conninfo never echoes the text it stumbled on", "[sql][conninfo]") {
  // A password typed where a keyword belongs, a stray token in a URI: libpq
  // quotes it in its message; ours leaves it out.
  const std::string conninfo =
      GENERATE("host=db user=repl S3cretPass!", "host=db S3cretPass!=x",
               "postgresql://repl@db/app?S3cretPass!=1", "postgresql://repl:%zzS3cretPass!@db/app");
  CAPTURE(conninfo);
  try {
    validate_conninfo(conninfo, "source.conninfo");
    FAIL("accepted");
  } catch (const Error& error) {
    const std::string message = error.what();
    CHECK_THAT(message, Catch::Contains("source.conninfo"));
    CHECK_THAT(message, !Catch::Contains("S3cret"));
  }
}

TEST_CASE("describe_conninfo shows where we connect", "[sql][conninfo]") {
  CHECK(describe_conninfo("host=10.0.0.5 port=5432 dbname=app user=postgres") ==
        "host=10.0.0.5 port=5432 dbname=app user=postgres");
  const std::string uri = describe_conninfo("postgresql://repl@db.example:6432/app");
  CHECK_THAT(uri, Catch::Contains("host=db.example") && Catch::Contains("port=6432") &&
                      Catch::Contains("dbname=app") && Catch::Contains("user=repl"));
}

TEST_CASE("describe_conninfo never shows the password", "[sql][conninfo]") {
  const std::string conninfo =
      GENERATE("host=db.example user=repl password=secret dbname=app",
               "password='secret' host=db.example", "postgresql://repl:secret@db.example:5432/app",
               "postgresql://repl@db.example/app?password=secret",
               "postgresql://repl:s%65cret@db.example/app");
  CAPTURE(conninfo);
  const std::string described = describe_conninfo(conninfo);
  CHECK_THAT(described, !Catch::Contains("secret") && !Catch::Contains("password"));
  CHECK_THAT(described, Catch::Contains("db.example"));
}

TEST_CASE("describe_conninfo does not echo a malformed conninfo", "[sql][conninfo]") {
  const std::string described = describe_conninfo("host=x password=secret port");
  CHECK_THAT(described, !Catch::Contains("secret"));
}

TEST_CASE("conninfo_for_command_line takes the password out, keeping the rest", "[sql][conninfo]") {
  struct Case {
    std::string conninfo;
    std::string password;
  };
  const Case item = GENERATE(
      Case{"host=db.example port=5432 dbname=app user=repl password=s3cret sslmode=require",
           "s3cret"},
      Case{
          R"(password='it\'s a \\ s3cret' host=db.example port=5432 user=repl dbname=app sslmode=require)",
          R"(it's a \ s3cret)"},
      Case{"postgresql://repl:s3cret@db.example:5432/app?sslmode=require", "s3cret"},
      Case{"postgresql://repl@db.example:5432/app?password=s3cret&sslmode=require", "s3cret"});
  CAPTURE(item.conninfo);
  const auto split = conninfo_for_command_line(item.conninfo, "source.conninfo");
  CHECK(split.password == item.password);
  CHECK_THAT(split.conninfo, !Catch::Contains("s3cret") && !Catch::Contains("password"));
  // The rest is a conninfo of its own, with the same settings.
  CHECK_NOTHROW(validate_conninfo(split.conninfo, "split"));
  CHECK(conninfo_subset(split.conninfo, {"host", "port", "dbname", "user", "sslmode"}) ==
        "host=db.example port=5432 dbname=app user=repl sslmode=require");
}

TEST_CASE("conninfo_for_command_line quotes values that need it", "[sql][conninfo]") {
  const auto split = conninfo_for_command_line(
      R"(host='my host' dbname='it\'s' application_name='a\\b c' user=repl)", "source.conninfo");
  CHECK(split.password.empty());  // none: libpq's PGPASSWORD or ~/.pgpass apply, as before
  CHECK(conninfo_subset(split.conninfo, {"dbname"}) == "dbname=it's");
  CHECK(conninfo_subset(split.conninfo, {"application_name"}) == R"(application_name=a\b c)");
  CHECK(conninfo_subset(split.conninfo, {"host", "user"}) == "host=my host user=repl");
  CHECK(conninfo_for_command_line("", "source.conninfo").conninfo.empty());
}

TEST_CASE("conninfo_for_command_line refuses a malformed conninfo without echoing it",
          "[sql][conninfo]") {
  REQUIRE_THROWS_MATCHES(
      conninfo_for_command_line("host=x password=s3cret port", "source.conninfo"), Error,
      IsError(ErrorKind::kUsage, {"source.conninfo"}));
  try {
    conninfo_for_command_line("host=x password=s3cret port", "source.conninfo");
  } catch (const Error& error) {
    CHECK_THAT(std::string(error.what()), !Catch::Contains("s3cret"));
  }
}
