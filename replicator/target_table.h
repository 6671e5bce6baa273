// A streamed table as the target has it, and the rules that must hold
// between it and the source's definition for the stream to apply changes
// (schema drift; expand/contract keeps them true during a change):
//  - every source column exists on the target with the same type;
//  - no such column is generated on the target;
//  - an extra target column can be filled without us (nullable, a default,
//    an identity, generated).
// From the target's definition follows how changes are applied: which
// columns are GENERATED ALWAYS identities (never SET), whether updates and
// deletes may be gathered into multi-row runs, and the key verify
// identifies rows by.
//
// read_target_table() asks the server; plan_target() is the pure rest,
// unit-tested without one.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "drivers/pg/connection.h"
#include "replicator/change.h"

namespace switchyard {

struct TargetColumn {
  std::string name;
  std::string type;          // with its modifier, for casts: "character(3)"
  bool needs_value = false;  // NOT NULL without a default or identity
  bool generated = false;
  bool identity_always = false;
  bool same_type = false;  // as the source column of that name (if any)
};

struct TargetTable {
  std::vector<TargetColumn> columns;      // empty: the table does not exist
  bool other_unique = false;              // a unique or exclusion index besides the key
  std::vector<std::string> identity_key;  // primary key, else replica identity index columns
};

// User types the feed described (oid -> schema, name): a column of one
// matches a target column of that type, or of a domain over it.
using FeedTypes = std::map<uint32_t, std::pair<std::string, std::string>>;

TargetTable read_target_table(pg::Connection& catalog, const std::string& qualified,
                              const change::Relation& relation, const FeedTypes& types);

// How the apply loop writes the table.
struct TargetPlan {
  std::vector<std::string> types;     // per source column: the target's type
  std::vector<bool> identity_always;  // per source column
  // Updates and deletes gathered into runs: a key, no REPLICA IDENTITY
  // FULL, no other unique index (row order would matter) and no identity
  // outside the key (a change of one replaces the row).
  bool batched = false;
  // verify's key, as indexes into the source columns; empty when the
  // target has none or the source does not send all of it.
  std::vector<size_t> verify_key;
};

// Throws Error(kSchemaDrift) naming the table (`display`) and the column at
// fault. `key_columns`: the source's replica identity columns.
TargetPlan plan_target(const std::string& display, const change::Relation& relation,
                       const std::vector<size_t>& key_columns, const TargetTable& target);

}  // namespace switchyard
