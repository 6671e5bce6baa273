// A change feed, engine-neutral: what any source's capture delivers to the
// apply loop, in commit order - transaction boundaries with their
// positions, table definitions, and row changes as typed values.
//
// PostgreSQL's pgoutput messages are decoded into these (pgoutput_decoder.h);
// a trigger-captured ODBC source's changelog rows become the same. Columns
// are described by the PostgreSQL type they have on the target (the source's
// schema translation decides it), so the apply loop and verify never need to
// know the engine a change came from.
//
// A Position (common/lsn.h) is opaque and ordered: for PostgreSQL the WAL
// LSN, for trigger capture the changelog sequence. It is persisted the same
// way for both, as the replication origin's progress on the target.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "common/lsn.h"
#include "drivers/value.h"

namespace switchyard::change {

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
  // Trigger capture: every insert and update carries the whole row, and
  // the feed may replay changes the initial copy already holds, so an
  // insert replaces the row of its key (TableShape::upsert) and a delete
  // of a row already gone is no divergence.
  bool idempotent = false;
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

}  // namespace switchyard::change
