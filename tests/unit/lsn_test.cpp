// Lsn: PostgreSQL's "XXXXXXXX/XXXXXXXX" pg_lsn text form.

#include <catch2/catch.hpp>

#include <string>

#include "common/lsn.h"

using switchyard::Lsn;

namespace {

Lsn lsn(const char* text) {
  const auto parsed = Lsn::parse(text);
  REQUIRE(parsed.has_value());
  return *parsed;
}

}  // namespace

TEST_CASE("Lsn parses to the 64-bit position PostgreSQL means", "[lsn]") {
  CHECK(lsn("0/0").value == 0u);
  CHECK(lsn("16/B374D848").value == 0x16'B374D848u);
  CHECK(lsn("0/1").value == 1u);
  CHECK(lsn("1/0").value == 0x1'00000000u);
  CHECK(lsn("FFFFFFFF/FFFFFFFF").value == 0xFFFFFFFF'FFFFFFFFu);
}

TEST_CASE("Lsn text round-trips through parse and to_string", "[lsn]") {
  const std::string text =
      GENERATE("0/0", "16/B374D848", "FFFFFFFF/FFFFFFFF", "0/1", "1/0", "ABCDEF01/2345678");
  CHECK(lsn(text.c_str()).to_string() == text);
}

TEST_CASE("Lsn accepts lower-case hex and prints upper case, as PostgreSQL does", "[lsn]") {
  CHECK(lsn("16/b374d848") == lsn("16/B374D848"));
  CHECK(lsn("16/b374d848").to_string() == "16/B374D848");
  CHECK(lsn("0016/0000D848").to_string() == "16/D848");
}

TEST_CASE("Lsn orders by WAL position, the high half first", "[lsn]") {
  CHECK(lsn("0/0") < lsn("0/1"));
  CHECK(lsn("0/FFFFFFFF") < lsn("1/0"));
  CHECK(lsn("2/0") > lsn("1/FFFFFFFF"));
  CHECK(lsn("16/B374D848") == lsn("16/B374D848"));
  CHECK(lsn("16/B374D848") <= lsn("16/B374D849"));
  CHECK(lsn("A/0") > lsn("9/FFFFFFFF"));  // hex, not decimal
}

TEST_CASE("Lsn is valid only when non-zero", "[lsn]") {
  CHECK_FALSE(Lsn{}.valid());
  CHECK_FALSE(lsn("0/0").valid());
  CHECK(lsn("0/1").valid());
}

TEST_CASE("Lsn rejects malformed text", "[lsn]") {
  const std::string text =
      GENERATE("", "/", "12", "1/", "/1", "x/1", "1/x", "1/2/3", "1 /2", "1/ 2", " 1/2", "1/2 ",
               "-1/2", "+1/2", "0x1/2", "100000000/0", "0/100000000", "1:2");
  CAPTURE(text);
  CHECK_FALSE(Lsn::parse(text).has_value());
}
