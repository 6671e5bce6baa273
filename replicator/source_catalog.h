// Reads the source's catalog: which tables the configuration selects, and
// the DDL that recreates them (types, sequences, tables, then keys, indexes
// and constraints) on a target that lacks them.
//
// DDL is rendered by the source server itself (format_type,
// pg_get_constraintdef, pg_get_indexdef, pg_get_expr) with search_path set
// to pg_catalog, so every name comes out schema-qualified and quoted.
// Definitions are split like pg_dump's sections: "pre-data" is created by
// init, "post-data" after the initial copy, because building keys and
// indexes once over copied data is much faster than maintaining them row by
// row.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/config.h"
#include "control/control_schema.h"
#include "drivers/pg/connection.h"

namespace switchyard {

struct SourceTable {
  uint32_t oid = 0;
  std::string schema;
  std::string name;
  bool partitioned = false;     // relkind 'p': rows live in leaf partitions
  char replica_identity = 'd';  // d (primary key), f (full), i (index), n (nothing)
  bool has_primary_key = false;
  std::vector<std::string> columns;  // replicated columns in order (no generated ones)
  // Every column has a built-in type, whose binary COPY form is the same on
  // both servers (user types' binary forms carry server-specific OIDs).
  bool builtin_types = false;
  // Heap relations holding the rows (the table itself, or its leaf
  // partitions), with their size, for the copy planner.
  struct Leaf {
    std::string schema;
    std::string name;
    int64_t pages = 0;
  };
  std::vector<Leaf> leaves;

  std::string qualified_name() const;  // "schema"."name"
  std::string display_name() const;    // schema.name
};

// Tables selected by `selection`: ordinary and partitioned tables, never
// partitions themselves (they replicate through their root). Throws
// Error(kPrecondition) naming the first table that has neither a primary
// key nor a usable replica identity, or if nothing matches.
std::vector<SourceTable> list_source_tables(pg::Connection& source,
                                            const TableSelection& selection);
// The same, for a stream already running: a table that cannot be replicated
// goes into `unusable` (with the reason) instead of throwing, and an empty
// selection is no error. `wanted(schema, name)`, if given, skips the other
// selected tables before their columns and partitions are read, so that a
// frequent look for new tables costs one catalog query.
using TableWanted = std::function<bool(const std::string& schema, const std::string& name)>;
std::vector<SourceTable> list_source_tables(pg::Connection& source, const TableSelection& selection,
                                            std::vector<std::string>& unusable,
                                            const TableWanted& wanted = {});

struct DdlStatement {
  std::string object;  // what it creates, for logs: "table public.film"
  std::string sql;
};

// The statements' SQL alone, as the control schema keeps it.
std::vector<std::string> sql_of(const std::vector<DdlStatement>& statements);

struct SchemaScript {
  std::vector<DdlStatement> pre_data;  // schemas, types, sequences, tables, partitions
  // Index of the first table in pre_data: functions that column defaults
  // call are created just before it (see schema_dump).
  size_t first_table = 0;
  // post_data[table_idx]: keys, indexes, checks, replica identity for that table
  std::vector<std::vector<DdlStatement>> post_data;
  // foreign_keys[table_idx]: to other selected tables, run after all post-data
  std::vector<std::vector<DdlStatement>> foreign_keys;
};

// The control schema's row for tables[table_idx] of `script`: created by
// switchyard if it was missing, its deferred DDL still to run if so.
control::TableRow table_row(const std::vector<SourceTable>& tables, size_t table_idx,
                            const std::vector<bool>& missing, const SchemaScript& script);

// DDL for those of `tables` that the target lacks (`missing[table_idx]`).
// Types and sequences are emitted only if the target lacks them too.
SchemaScript extract_schema(pg::Connection& source, pg::Connection& target,
                            const std::vector<SourceTable>& tables,
                            const std::vector<bool>& missing);

}  // namespace switchyard
