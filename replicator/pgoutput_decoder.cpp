#include "replicator/pgoutput_decoder.h"

#include <algorithm>

#include "common/error.h"

namespace switchyard::pgoutput {

using namespace change;  // the messages decoded into

namespace {

// Reads big-endian fields from a payload, checking bounds on every read.
class Reader {
 public:
  Reader(std::string_view data, char message_type) : data_(data), type_(message_type) {}

  uint8_t u8() { return static_cast<uint8_t>(*take(1)); }
  uint16_t u16() { return static_cast<uint16_t>(be(take(2), 2)); }
  uint32_t u32() { return static_cast<uint32_t>(be(take(4), 4)); }
  int32_t i32() { return static_cast<int32_t>(u32()); }
  uint64_t u64() { return be(take(8), 8); }
  int64_t i64() { return static_cast<int64_t>(u64()); }
  Lsn lsn() { return Lsn{u64()}; }

  std::string cstring() {
    const auto end = data_.find('\0', offset_);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string out(data_.substr(offset_, end - offset_));
    offset_ = end + 1;
    return out;
  }

  std::string bytes(size_t count) { return std::string(take(count), count); }

  Tuple tuple() {
    const uint16_t column_count = u16();
    Tuple out(column_count);
    for (auto& datum : out) {
      const char kind = static_cast<char>(u8());
      switch (kind) {
        case 'n':
          datum.kind = DatumKind::kNull;
          break;
        case 'u':
          datum.kind = DatumKind::kUnchanged;
          break;
        case 't':
        case 'b': {
          datum.kind = kind == 't' ? DatumKind::kText : DatumKind::kBinary;
          const int32_t length = i32();
          if (length < 0) fail("negative column length");
          datum.bytes = bytes(static_cast<size_t>(length));
          break;
        }
        default:
          fail(std::string("unknown column kind '") + kind + "'");
      }
    }
    return out;
  }

  void expect_end() const {
    if (offset_ != data_.size()) fail("trailing bytes");
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(ErrorKind::kDatabase, "pgoutput: malformed '" + std::string(1, type_) +
                                          "' message at offset " + std::to_string(offset_) + ": " +
                                          what);
  }

 private:
  const char* take(size_t count) {
    if (data_.size() - offset_ < count) fail("truncated");
    const char* p = data_.data() + offset_;
    offset_ += count;
    return p;
  }

  static uint64_t be(const char* p, int size) {
    uint64_t value = 0;
    for (int byte_idx = 0; byte_idx < size; ++byte_idx) {
      value = (value << 8) | static_cast<unsigned char>(p[byte_idx]);
    }
    return value;
  }

  std::string_view data_;
  char type_;
  size_t offset_ = 1;  // past the message type byte
};

}  // namespace

change::Message decode(std::string_view payload) {
  if (payload.empty()) throw Error(ErrorKind::kDatabase, "pgoutput: empty message");
  const char type = payload[0];
  Reader in(payload, type);
  switch (type) {
    case 'B': {
      Begin begin;
      begin.final_lsn = in.lsn();
      begin.commit_time_us = in.i64();
      begin.xid = in.u32();
      in.expect_end();
      return begin;
    }
    case 'C': {
      Commit commit;
      commit.flags = in.u8();
      commit.commit_lsn = in.lsn();
      commit.end_lsn = in.lsn();
      commit.commit_time_us = in.i64();
      in.expect_end();
      return commit;
    }
    case 'O': {
      Origin origin;
      origin.commit_lsn = in.lsn();
      origin.name = in.cstring();
      in.expect_end();
      return origin;
    }
    case 'M': {
      LogicalMessage message;
      message.transactional = (in.u8() & 1) != 0;
      message.lsn = in.lsn();
      message.prefix = in.cstring();
      message.content = in.bytes(in.u32());
      in.expect_end();
      return message;
    }
    case 'R': {
      Relation relation;
      relation.relation_id = in.u32();
      relation.schema = in.cstring();
      if (relation.schema.empty()) relation.schema = "pg_catalog";
      relation.name = in.cstring();
      relation.replica_identity = static_cast<char>(in.u8());
      const uint16_t column_count = in.u16();
      relation.columns.reserve(column_count);
      for (uint16_t column_idx = 0; column_idx < column_count; ++column_idx) {
        RelationColumn column;
        column.is_key = (in.u8() & 1) != 0;
        column.name = in.cstring();
        column.type_oid = in.u32();
        column.type_modifier = in.i32();
        relation.columns.push_back(std::move(column));
      }
      in.expect_end();
      return relation;
    }
    case 'Y': {
      Type type_message;
      type_message.type_oid = in.u32();
      type_message.schema = in.cstring();
      // The wire format sends pg_catalog as an empty name.
      if (type_message.schema.empty()) type_message.schema = "pg_catalog";
      type_message.name = in.cstring();
      in.expect_end();
      return type_message;
    }
    case 'I': {
      Insert insert;
      insert.relation_id = in.u32();
      if (in.u8() != 'N') in.fail("expected 'N' before the new tuple");
      insert.new_tuple = in.tuple();
      in.expect_end();
      return insert;
    }
    case 'U': {
      Update update;
      update.relation_id = in.u32();
      char marker = static_cast<char>(in.u8());
      if (marker == 'K' || marker == 'O') {
        update.old_kind = marker;
        update.old_tuple = in.tuple();
        marker = static_cast<char>(in.u8());
      }
      if (marker != 'N') in.fail("expected 'N' before the new tuple");
      update.new_tuple = in.tuple();
      in.expect_end();
      return update;
    }
    case 'D': {
      Delete del;
      del.relation_id = in.u32();
      del.old_kind = static_cast<char>(in.u8());
      if (del.old_kind != 'K' && del.old_kind != 'O') in.fail("expected 'K' or 'O'");
      del.old_tuple = in.tuple();
      in.expect_end();
      return del;
    }
    case 'T': {
      Truncate truncate;
      const uint32_t relation_count = in.u32();
      truncate.options = in.u8();
      truncate.relation_ids.reserve(std::min<size_t>(relation_count, payload.size() / 4));
      for (uint32_t relation_idx = 0; relation_idx < relation_count; ++relation_idx) {
        truncate.relation_ids.push_back(in.u32());
      }
      in.expect_end();
      return truncate;
    }
    default:
      throw Error(ErrorKind::kDatabase,
                  "pgoutput: unsupported message type '" + std::string(1, type) + "'");
  }
}

}  // namespace switchyard::pgoutput
