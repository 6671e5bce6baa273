// Decoder for pgoutput, PostgreSQL's built-in logical decoding output
// plugin (protocol version 1, the messages of a committed transaction).
//
// decode() turns one XLogData payload into a typed message. It is a pure
// function over bytes: no connection, no state, so it is unit-tested with
// hand-built buffers. Relation and Type messages describe the schema that
// later Insert/Update/Delete messages refer to by relation id; keeping that
// map is the caller's job (see apply_loop.h).
//
// Malformed input throws Error(kDatabase) naming the message type and the
// offset at fault.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/lsn.h"
#include "drivers/value.h"

namespace switchyard::pgoutput {

struct Begin {
  Lsn final_lsn;           // LSN of the commit record
  int64_t commit_time_us;  // since 2000-01-01 UTC
  uint32_t xid;
};

struct Commit {
  uint8_t flags;
  Lsn commit_lsn;  // LSN of the commit record
  Lsn end_lsn;     // end of the commit record: the position to resume after
  int64_t commit_time_us;
};

struct Origin {
  Lsn commit_lsn;
  std::string name;
};

struct RelationColumn {
  bool is_key;  // part of the replica identity
  std::string name;
  uint32_t type_oid;
  int32_t type_modifier;
};

struct Relation {
  uint32_t relation_id;
  std::string schema;
  std::string name;
  char replica_identity;  // 'd' default (primary key), 'n' nothing, 'f' full, 'i' index
  std::vector<RelationColumn> columns;
};

// Sent before a Relation that uses a non-built-in type. For a domain, the
// name is that of its base type.
struct Type {
  uint32_t type_oid;
  std::string schema;  // "pg_catalog" where the wire format sends ""
  std::string name;
};

struct Insert {
  uint32_t relation_id;
  Tuple new_tuple;
};

struct Update {
  uint32_t relation_id;
  // 'K': old key columns (the key changed), 'O': whole old row (REPLICA
  // IDENTITY FULL), 0: no old tuple (key unchanged: take it from new_tuple).
  char old_kind = 0;
  Tuple old_tuple;
  Tuple new_tuple;
};

struct Delete {
  uint32_t relation_id;
  char old_kind;  // 'K' or 'O'
  Tuple old_tuple;
};

struct Truncate {
  static constexpr uint8_t kCascade = 1;
  static constexpr uint8_t kRestartIdentity = 2;
  uint8_t options;
  std::vector<uint32_t> relation_ids;
};

// pg_logical_emit_message(), sent when the stream asks for messages. Cutover
// emits a transactional one with prefix "switchyard" on the frozen primary
// to learn when the stream has applied everything before it (apply_loop.h).
struct LogicalMessage {
  bool transactional = false;
  Lsn lsn;  // of the message record
  std::string prefix;
  std::string content;
};

using Message = std::variant<Begin, Commit, Origin, Relation, Type, Insert, Update, Delete,
                             Truncate, LogicalMessage>;

Message decode(std::string_view payload);

}  // namespace switchyard::pgoutput
