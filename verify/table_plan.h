// How to read one table on both sides: its columns and how each side
// delivers them, the key chunks are ranged on, and the SQL for a key range,
// a list of keys, or the whole table.
//
// Columns are the source's, matched on the target by name (the target may
// have more: expand/contract adds them there first). Each side reads a
// column through its own type, so an int4 source column still compares
// with an int8 target column: they meet in the canonical encoding.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "drivers/pg/binary_copy.h"
#include "drivers/pg/connection.h"

namespace switchyard::verify {

enum class Side { kSource = 0, kTarget = 1 };
const char* to_string(Side side);

// A key's column values in text form, e.g. {"42"} or {"acme", "2024-01-01"}.
using KeyText = std::vector<std::string>;

struct PlanColumn {
  std::string name;
  std::array<pg::ColumnRead, 2> read;    // per side: select expression and wire type
  std::array<std::string, 2> type_name;  // per side: format_type, qualified, for casts
};

struct TablePlan {
  std::string schema;
  std::string name;
  std::string display;    // schema.name
  std::string qualified;  // "schema"."name"
  std::vector<PlanColumn> columns;
  std::vector<size_t> key;  // indexes into columns; empty: the table has no key
  // Chunks step by the value of the first key column, an integer: a
  // PostgreSQL source's only key column; an ODBC legacy's first one
  // (LegacySides ranges on it alone).
  bool integer_key = false;
  double estimated_rows = 0;
  uint64_t estimated_bytes = 0;
  // Both sides read every column with the same expression, type and wire
  // form, and each of those forms is byte-exact (one value, one spelling):
  // a row's binary COPY bytes are then equal on both sides exactly when its
  // values are, and rows are hashed as they arrive (verify/chunk_hasher.h).
  bool same_bytes = false;

  bool keyless() const { return key.empty(); }

  // SELECT statements for BinaryCopyReader, in no particular row order.
  // Ranges are lower < key <= upper; a null bound is open.
  std::string select_range(Side side, const KeyText* lower, const KeyText* upper) const;
  std::string select_keys(Side side, const std::vector<KeyText>& keys) const;
  std::string select_all(Side side) const;
  // Every column as `side` reads it, from `relation`, which must have the
  // table's column names (a subquery, say); aliased t.
  std::string select_from(Side side, const std::string& relation) const;
  // The source's key after `lower` that ends a chunk of `rows` rows, as text.
  std::string split_point(const KeyText* lower, uint64_t rows) const;

  // The same probes as select_keys, every column in its text form (repair).
  std::string select_keys_as_text(Side side, const std::vector<KeyText>& keys) const;
  std::string key_literal(Side side, size_t key_idx, const std::string& text) const;
  // `keys` as a relation k (k0, k1, ...) in `side`'s key types, and the
  // condition matching the table (aliased t) to it.
  std::string key_table(Side side, const std::vector<KeyText>& keys) const;
  std::string key_match() const;

 private:
  std::string select_list(Side side) const;
  std::string key_tuple() const;
  std::string literal_tuple(Side side, const KeyText& key) const;
  std::string order_by() const;
  std::string probe_keys(Side side, const std::vector<KeyText>& keys,
                         const std::string& list) const;
};

// Session settings every verify connection runs with, so the text forms
// either side produces are comparable and unambiguous.
void prepare_session(pg::Connection& connection);

// Reads both catalogs. Throws Error(kSchemaDrift) naming a source column the
// target lacks, and Error(kPrecondition) if the table is missing on a side.
TablePlan plan_table(pg::Connection& source, pg::Connection& target, const std::string& schema,
                     const std::string& name);

}  // namespace switchyard::verify
