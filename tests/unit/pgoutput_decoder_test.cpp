// pgoutput::decode against hand-built protocol v1 payloads, following the
// "Logical Replication Message Formats" chapter of the PostgreSQL manual.

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "common/error.h"
#include "error_matchers.h"
#include "fuzz_seeds.h"
#include "replicator/pgoutput_decoder.h"

using namespace switchyard;
using switchyard::test::IsError;

namespace {

// pgoutput::decode, with the payload kept as a fuzzing seed.
change::Message decode(std::string_view payload) {
  test::fuzz_seed("pgoutput", payload);
  return pgoutput::decode(payload);
}

// Appends big-endian fields to a pgoutput payload, starting with its type byte.
class Payload {
 public:
  explicit Payload(char type) { bytes_.push_back(type); }

  Payload& u8(uint8_t v) { return be(v, 1); }
  Payload& u16(uint16_t v) { return be(v, 2); }
  Payload& u32(uint32_t v) { return be(v, 4); }
  Payload& i32(int32_t v) { return be(static_cast<uint32_t>(v), 4); }
  Payload& u64(uint64_t v) { return be(v, 8); }
  Payload& i64(int64_t v) { return be(static_cast<uint64_t>(v), 8); }
  Payload& byte(char c) { return u8(static_cast<uint8_t>(c)); }
  Payload& cstring(std::string_view s) {
    bytes_.append(s);
    bytes_.push_back('\0');
    return *this;
  }

  // TupleData pieces: the column count, then one entry per column.
  Payload& columns(uint16_t count) { return u16(count); }
  Payload& null_column() { return byte('n'); }
  Payload& unchanged_column() { return byte('u'); }
  Payload& text_column(std::string_view value) { return column('t', value); }
  Payload& binary_column(std::string_view value) { return column('b', value); }

  std::string str() const { return bytes_; }

 private:
  Payload& be(uint64_t v, int size) {
    for (int shift = (size - 1) * 8; shift >= 0; shift -= 8) {
      bytes_.push_back(static_cast<char>((v >> shift) & 0xff));
    }
    return *this;
  }
  Payload& column(char kind, std::string_view value) {
    byte(kind).i32(static_cast<int32_t>(value.size()));
    bytes_.append(value);
    return *this;
  }

  std::string bytes_;
};

template <typename T>
T decode_as(const Payload& payload) {
  const change::Message message = decode(payload.str());
  REQUIRE(std::holds_alternative<T>(message));
  return std::get<T>(message);
}

void require_text(const Datum& datum, std::string_view expected) {
  CHECK(datum.kind == DatumKind::kText);
  CHECK(datum.bytes == expected);
}

constexpr uint64_t kFinalLsn = 0x16'B374D848;
constexpr uint64_t kEndLsn = 0x16'B374D8A0;
constexpr int64_t kCommitTime = 757'382'400'123'456;  // 2024-01-01 00:00:00.123456 UTC
constexpr uint32_t kRelationId = 16'401;

// One valid message of each type; the field tests decode these and the
// malformed-input tests mutilate them.
Payload begin_message() {
  return Payload('B').u64(kFinalLsn).i64(kCommitTime).u32(987'654);
}

Payload commit_message() {
  return Payload('C').u8(0).u64(kFinalLsn).u64(kEndLsn).i64(kCommitTime);
}

Payload origin_message() {
  return Payload('O').u64(kFinalLsn).cstring("upstream_node");
}

Payload relation_message() {
  return Payload('R')
      .u32(kRelationId)
      .cstring("Sales")
      .cstring("Order Items")
      .byte('f')
      .u16(3)
      .u8(1)
      .cstring("OrderID")
      .u32(23)
      .i32(-1)  // int4, part of the key
      .u8(0)
      .cstring("customerName")
      .u32(1043)
      .i32(68)  // varchar(64)
      .u8(0)
      .cstring("note")
      .u32(25)
      .i32(-1);  // text
}

Payload type_message() {
  return Payload('Y').u32(16'390).cstring("public").cstring("Mood");
}

Payload insert_message() {
  return Payload('I')
      .u32(kRelationId)
      .byte('N')
      .columns(3)
      .text_column("42")
      .null_column()
      .text_column("");
}

Payload update_message() {
  return Payload('U').u32(kRelationId).byte('N').columns(2).text_column("42").unchanged_column();
}

Payload update_with_old_key_message() {
  return Payload('U')
      .u32(kRelationId)
      .byte('K')
      .columns(1)
      .text_column("41")
      .byte('N')
      .columns(2)
      .text_column("42")
      .text_column("renamed");
}

Payload delete_message() {
  return Payload('D').u32(kRelationId).byte('K').columns(1).text_column("42");
}

Payload truncate_message() {
  return Payload('T')
      .u32(2)
      .u8(change::Truncate::kCascade | change::Truncate::kRestartIdentity)
      .u32(kRelationId)
      .u32(16'500);
}

constexpr uint64_t kMessageLsn = 0x16'B374D7F0;

// A pg_logical_emit_message() record: flags (1 = transactional), the LSN of
// the message, the prefix, then the content counted by its 32-bit length.
Payload logical_message(uint8_t flags, std::string_view prefix, std::string_view content) {
  Payload payload('M');
  payload.u8(flags).u64(kMessageLsn).cstring(prefix).u32(static_cast<uint32_t>(content.size()));
  for (char c : content) payload.byte(c);
  return payload;
}

Payload logical_message() {
  return logical_message(1, "switchyard", "drain 42");
}

}  // namespace

TEST_CASE("Begin decodes final LSN, commit time and xid", "[pgoutput]") {
  const auto begin = decode_as<change::Begin>(begin_message());
  CHECK(begin.final_lsn == Lsn{kFinalLsn});
  CHECK(begin.commit_time_us == kCommitTime);
  CHECK(begin.xid == 987'654u);
}

TEST_CASE("Begin keeps a commit time before 2000 negative", "[pgoutput]") {
  const auto begin = decode_as<change::Begin>(Payload('B').u64(1).i64(-1'000'000).u32(0xFFFFFFFFu));
  CHECK(begin.commit_time_us == -1'000'000);
  CHECK(begin.xid == 0xFFFFFFFFu);
}

TEST_CASE("Commit decodes flags, commit and end LSN, and commit time", "[pgoutput]") {
  const auto commit = decode_as<change::Commit>(commit_message());
  CHECK(commit.flags == 0);
  CHECK(commit.commit_lsn == Lsn{kFinalLsn});
  CHECK(commit.end_lsn == Lsn{kEndLsn});
  CHECK(commit.commit_time_us == kCommitTime);
}

TEST_CASE("Origin decodes the commit LSN and origin name", "[pgoutput]") {
  const auto origin = decode_as<change::Origin>(origin_message());
  CHECK(origin.commit_lsn == Lsn{kFinalLsn});
  CHECK(origin.name == "upstream_node");
}

TEST_CASE("Relation decodes identity, mixed-case names and every column", "[pgoutput]") {
  const auto relation = decode_as<change::Relation>(relation_message());
  CHECK(relation.relation_id == kRelationId);
  CHECK(relation.schema == "Sales");
  CHECK(relation.name == "Order Items");
  CHECK(relation.replica_identity == 'f');
  REQUIRE(relation.columns.size() == 3);

  CHECK(relation.columns[0].is_key);
  CHECK(relation.columns[0].name == "OrderID");
  CHECK(relation.columns[0].type_oid == 23u);
  CHECK(relation.columns[0].type_modifier == -1);

  CHECK_FALSE(relation.columns[1].is_key);
  CHECK(relation.columns[1].name == "customerName");
  CHECK(relation.columns[1].type_oid == 1043u);
  CHECK(relation.columns[1].type_modifier == 68);

  CHECK_FALSE(relation.columns[2].is_key);
  CHECK(relation.columns[2].name == "note");
  CHECK(relation.columns[2].type_oid == 25u);
}

TEST_CASE("Relation in pg_catalog arrives with an empty schema and may have no columns",
          "[pgoutput]") {
  const auto relation = decode_as<change::Relation>(
      Payload('R').u32(7).cstring("").cstring("lonely").byte('n').u16(0));
  CHECK(relation.relation_id == 7u);
  CHECK(relation.schema == "pg_catalog");
  CHECK(relation.name == "lonely");
  CHECK(relation.replica_identity == 'n');
  CHECK(relation.columns.empty());
}

TEST_CASE("Type decodes oid, schema and name", "[pgoutput]") {
  const auto type = decode_as<change::Type>(type_message());
  CHECK(type.type_oid == 16'390u);
  CHECK(type.schema == "public");
  CHECK(type.name == "Mood");
}

// Regression: a domain column is announced by a Type message carrying the
// base type's name with pg_catalog sent as "", which read as schema drift.
TEST_CASE("Type of a domain over a built-in type reads as pg_catalog", "[pgoutput]") {
  const auto type = decode_as<change::Type>(Payload('Y').u32(16'396).cstring("").cstring("int4"));
  CHECK(type.type_oid == 16'396u);
  CHECK(type.schema == "pg_catalog");
  CHECK(type.name == "int4");
}

TEST_CASE("Insert decodes the new tuple: text, NULL and empty text are distinct", "[pgoutput]") {
  const auto insert = decode_as<change::Insert>(insert_message());
  CHECK(insert.relation_id == kRelationId);
  REQUIRE(insert.new_tuple.size() == 3);
  require_text(insert.new_tuple[0], "42");
  CHECK(insert.new_tuple[1].kind == DatumKind::kNull);
  CHECK(insert.new_tuple[1].bytes.empty());
  require_text(insert.new_tuple[2], "");
}

TEST_CASE("Insert keeps text values byte for byte", "[pgoutput]") {
  const std::string utf8 =
      "Gr\xC3\xBC\xC3\x9F"
      "e \xE6\x9D\xB1\xE4\xBA\xAC \xF0\x9F\x9A\x80";  // Grüße 東京 🚀
  const std::string binaryish = "\x01\x02\x7F\x80\xFE\xFF\\x'\"\n\t";
  const std::string long_value(70'000, 'z');  // longer than a 16-bit length could say
  const auto insert = decode_as<change::Insert>(
      Payload('I').u32(1).byte('N').columns(3).text_column(utf8).text_column(binaryish).text_column(
          long_value));
  REQUIRE(insert.new_tuple.size() == 3);
  require_text(insert.new_tuple[0], utf8);
  require_text(insert.new_tuple[1], binaryish);
  require_text(insert.new_tuple[2], long_value);
}

TEST_CASE("Insert decodes a binary column as kBinary", "[pgoutput]") {
  const auto insert = decode_as<change::Insert>(
      Payload('I').u32(1).byte('N').columns(1).binary_column(std::string("\x00\x00\x00\x2A", 4)));
  REQUIRE(insert.new_tuple.size() == 1);
  CHECK(insert.new_tuple[0].kind == DatumKind::kBinary);
  CHECK(insert.new_tuple[0].bytes == std::string("\x00\x00\x00\x2A", 4));
}

TEST_CASE("Update without an old tuple marks unchanged TOAST columns", "[pgoutput]") {
  const auto update = decode_as<change::Update>(update_message());
  CHECK(update.relation_id == kRelationId);
  CHECK(update.old_kind == 0);
  CHECK(update.old_tuple.empty());
  REQUIRE(update.new_tuple.size() == 2);
  require_text(update.new_tuple[0], "42");
  CHECK(update.new_tuple[1].kind == DatumKind::kUnchanged);
}

TEST_CASE("Update with a changed key carries the old key ('K')", "[pgoutput]") {
  const auto update = decode_as<change::Update>(update_with_old_key_message());
  CHECK(update.old_kind == 'K');
  REQUIRE(update.old_tuple.size() == 1);
  require_text(update.old_tuple[0], "41");
  REQUIRE(update.new_tuple.size() == 2);
  require_text(update.new_tuple[0], "42");
  require_text(update.new_tuple[1], "renamed");
}

TEST_CASE("Update under REPLICA IDENTITY FULL carries the whole old row ('O')", "[pgoutput]") {
  const auto update = decode_as<change::Update>(Payload('U')
                                                    .u32(9)
                                                    .byte('O')
                                                    .columns(3)
                                                    .text_column("1")
                                                    .null_column()
                                                    .text_column("old")
                                                    .byte('N')
                                                    .columns(3)
                                                    .text_column("1")
                                                    .null_column()
                                                    .text_column("new"));
  CHECK(update.relation_id == 9u);
  CHECK(update.old_kind == 'O');
  REQUIRE(update.old_tuple.size() == 3);
  require_text(update.old_tuple[0], "1");
  CHECK(update.old_tuple[1].kind == DatumKind::kNull);
  require_text(update.old_tuple[2], "old");
  REQUIRE(update.new_tuple.size() == 3);
  require_text(update.new_tuple[2], "new");
}

TEST_CASE("Delete decodes the old key ('K') or the whole old row ('O')", "[pgoutput]") {
  SECTION("key") {
    const auto del = decode_as<change::Delete>(delete_message());
    CHECK(del.relation_id == kRelationId);
    CHECK(del.old_kind == 'K');
    REQUIRE(del.old_tuple.size() == 1);
    require_text(del.old_tuple[0], "42");
  }
  SECTION("full row") {
    const auto del = decode_as<change::Delete>(
        Payload('D').u32(5).byte('O').columns(2).text_column("7").null_column());
    CHECK(del.relation_id == 5u);
    CHECK(del.old_kind == 'O');
    REQUIRE(del.old_tuple.size() == 2);
    require_text(del.old_tuple[0], "7");
    CHECK(del.old_tuple[1].kind == DatumKind::kNull);
  }
}

TEST_CASE("Truncate decodes options and every relation id", "[pgoutput]") {
  const auto truncate = decode_as<change::Truncate>(truncate_message());
  CHECK(truncate.options == (change::Truncate::kCascade | change::Truncate::kRestartIdentity));
  CHECK(truncate.relation_ids == std::vector<uint32_t>{kRelationId, 16'500});

  const auto plain = decode_as<change::Truncate>(Payload('T').u32(1).u8(0).u32(3));
  CHECK(plain.options == 0);
  CHECK(plain.relation_ids == std::vector<uint32_t>{3});
}

TEST_CASE("A transactional logical message decodes its LSN, prefix and content",
          "[pgoutput][message]") {
  const auto message = decode_as<change::LogicalMessage>(logical_message());
  CHECK(message.transactional);
  CHECK(message.lsn == Lsn{kMessageLsn});
  CHECK(message.prefix == "switchyard");
  CHECK(message.content == "drain 42");
}

TEST_CASE("A non-transactional logical message is marked as such", "[pgoutput][message]") {
  const auto message =
      decode_as<change::LogicalMessage>(logical_message(0, "audit", "user 7 logged in"));
  CHECK_FALSE(message.transactional);
  CHECK(message.lsn == Lsn{kMessageLsn});
  CHECK(message.prefix == "audit");
  CHECK(message.content == "user 7 logged in");
}

TEST_CASE("Only bit 1 of a logical message's flags means transactional", "[pgoutput][message]") {
  CHECK(decode_as<change::LogicalMessage>(logical_message(0x03, "p", "x")).transactional);
  CHECK_FALSE(decode_as<change::LogicalMessage>(logical_message(0x02, "p", "x")).transactional);
}

TEST_CASE("A logical message's content is kept byte for byte, NUL bytes included",
          "[pgoutput][message]") {
  const std::string content("a\0b\0\0c\xFF\x01\n", 9);
  REQUIRE(content.size() == 9);
  const auto message = decode_as<change::LogicalMessage>(logical_message(1, "bin", content));
  CHECK(message.prefix == "bin");
  CHECK(message.content.size() == 9);
  CHECK(message.content == content);
}

TEST_CASE("A logical message may have an empty prefix and empty content", "[pgoutput][message]") {
  const auto message = decode_as<change::LogicalMessage>(logical_message(1, "", ""));
  CHECK(message.transactional);
  CHECK(message.prefix.empty());
  CHECK(message.content.empty());
}

TEST_CASE("A logical message content length past the payload is rejected",
          "[pgoutput][message][malformed]") {
  // Says 100 bytes, carries 5.
  const auto short_content =
      Payload('M').u8(1).u64(kMessageLsn).cstring("switchyard").u32(100).cstring("drai");
  REQUIRE_THROWS_MATCHES(decode(short_content.str()), Error,
                         IsError(ErrorKind::kDatabase, {"'M'", "truncated"}));
  // A length that would wrap a 32-bit offset.
  const auto huge = Payload('M').u8(0).u64(kMessageLsn).cstring("p").u32(0xFFFFFFFFu).u8(0);
  REQUIRE_THROWS_MATCHES(decode(huge.str()), Error,
                         IsError(ErrorKind::kDatabase, {"'M'", "truncated"}));
}

TEST_CASE("A logical message content shorter than its payload leaves trailing bytes",
          "[pgoutput][message][malformed]") {
  const auto long_content =
      Payload('M').u8(1).u64(kMessageLsn).cstring("switchyard").u32(2).cstring("drain");
  REQUIRE_THROWS_MATCHES(decode(long_content.str()), Error,
                         IsError(ErrorKind::kDatabase, {"'M'", "trailing"}));
}

// ---- malformed input -------------------------------------------------------

namespace {

// "'B'": how the decoder names a message type in its errors.
std::string quoted(char type) {
  return std::string("'") + type + "'";
}

}  // namespace

TEST_CASE("An empty payload is rejected", "[pgoutput][malformed]") {
  REQUIRE_THROWS_MATCHES(decode(""), Error, IsError(ErrorKind::kDatabase, {"empty"}));
}

TEST_CASE("An unknown message type is rejected, naming the type", "[pgoutput][malformed]") {
  // 'S' and 'E' are protocol v2 stream messages, 'P' a protocol v3 prepare
  // (none is requested); 'Z' means nothing. ('M' is decoded: see above.)
  const char type = GENERATE('S', 'E', 'P', 'Z');
  const std::string payload = std::string(1, type) + std::string(16, '\x01');
  REQUIRE_THROWS_MATCHES(decode(payload), Error, IsError(ErrorKind::kDatabase, {quoted(type)}));
}

TEST_CASE("Every truncation of a valid message is rejected, naming the type",
          "[pgoutput][malformed]") {
  const std::string valid =
      GENERATE(begin_message().str(), commit_message().str(), origin_message().str(),
               relation_message().str(), type_message().str(), insert_message().str(),
               update_message().str(), update_with_old_key_message().str(), delete_message().str(),
               truncate_message().str(), logical_message().str());
  REQUIRE_NOTHROW(decode(valid));
  for (size_t length = 1; length < valid.size(); ++length) {
    CAPTURE(valid[0], length, valid.size());
    REQUIRE_THROWS_MATCHES(decode(std::string_view(valid).substr(0, length)), Error,
                           IsError(ErrorKind::kDatabase, {quoted(valid[0])}));
  }
}

TEST_CASE("Trailing bytes after a valid message are rejected, naming the type",
          "[pgoutput][malformed]") {
  const std::string valid =
      GENERATE(begin_message().str(), commit_message().str(), origin_message().str(),
               relation_message().str(), type_message().str(), insert_message().str(),
               update_message().str(), update_with_old_key_message().str(), delete_message().str(),
               truncate_message().str(), logical_message().str());
  const std::string trailing = GENERATE(std::string(1, '\0'), std::string("xyz"));
  CAPTURE(valid[0]);
  REQUIRE_THROWS_MATCHES(decode(valid + trailing), Error,
                         IsError(ErrorKind::kDatabase, {quoted(valid[0]), "trailing"}));
}

TEST_CASE("An unknown column kind is rejected, naming the message type", "[pgoutput][malformed]") {
  const auto insert = Payload('I').u32(1).byte('N').columns(2).text_column("1").byte('x');
  REQUIRE_THROWS_MATCHES(decode(insert.str()), Error,
                         IsError(ErrorKind::kDatabase, {"'I'", "column kind"}));

  const auto del = Payload('D').u32(1).byte('K').columns(1).byte('?');
  REQUIRE_THROWS_MATCHES(decode(del.str()), Error,
                         IsError(ErrorKind::kDatabase, {"'D'", "column kind"}));
}

TEST_CASE("A negative column length is rejected", "[pgoutput][malformed]") {
  const auto insert = Payload('I').u32(1).byte('N').columns(1).byte('t').i32(-1);
  REQUIRE_THROWS_MATCHES(decode(insert.str()), Error, IsError(ErrorKind::kDatabase, {"'I'"}));
}

TEST_CASE("A missing or wrong tuple marker is rejected", "[pgoutput][malformed]") {
  SECTION("Insert without 'N'") {
    const auto insert = Payload('I').u32(1).byte('K').columns(1).text_column("1");
    REQUIRE_THROWS_MATCHES(decode(insert.str()), Error, IsError(ErrorKind::kDatabase, {"'I'"}));
  }
  SECTION("Update with an old tuple but no 'N'") {
    const auto update =
        Payload('U').u32(1).byte('K').columns(1).text_column("1").byte('K').columns(1).text_column(
            "2");
    REQUIRE_THROWS_MATCHES(decode(update.str()), Error, IsError(ErrorKind::kDatabase, {"'U'"}));
  }
  SECTION("Delete with 'N' instead of 'K' or 'O'") {
    const auto del = Payload('D').u32(1).byte('N').columns(1).text_column("1");
    REQUIRE_THROWS_MATCHES(decode(del.str()), Error, IsError(ErrorKind::kDatabase, {"'D'"}));
  }
}

TEST_CASE("A column length running past the payload is rejected", "[pgoutput][malformed]") {
  const auto insert = Payload('I').u32(1).byte('N').columns(1).byte('t').i32(100).cstring("short");
  REQUIRE_THROWS_MATCHES(decode(insert.str()), Error, IsError(ErrorKind::kDatabase, {"'I'"}));
}

TEST_CASE("A column count larger than the columns present is rejected", "[pgoutput][malformed]") {
  const auto relation = Payload('R')
                            .u32(1)
                            .cstring("s")
                            .cstring("t")
                            .byte('d')
                            .u16(2)
                            .u8(1)
                            .cstring("id")
                            .u32(23)
                            .i32(-1);
  REQUIRE_THROWS_MATCHES(decode(relation.str()), Error, IsError(ErrorKind::kDatabase, {"'R'"}));

  const auto truncate = Payload('T').u32(3).u8(0).u32(1);
  REQUIRE_THROWS_MATCHES(decode(truncate.str()), Error, IsError(ErrorKind::kDatabase, {"'T'"}));
}
