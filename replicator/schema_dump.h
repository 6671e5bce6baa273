// init's second half of the schema: the objects an application uses
// besides its tables (functions and procedures, views and materialized
// views, triggers, rules, policies, comments, grants) and the extensions
// they and the columns need.
//
// They are rendered by `pg_dump --schema-only` of the selected tables'
// schemas, filtered through its table of contents (`pg_restore -l`, then
// `-L`), as pgcopydb does: pg_dump already knows how to write every kind of
// object for every server version, with dependencies in order, and a
// hand-written renderer would trail it forever. Tables, sequences, types,
// keys and indexes stay switchyard's own (source_catalog), because the copy
// needs them split around it. Extensions are created by switchyard, which
// first checks that the target can install each and refuses by name.
//
// Nothing here changes either database: it returns statements that init
// runs inside its one target transaction, and what must wait for the data.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"
#include "drivers/pg/connection.h"
#include "replicator/source_catalog.h"

namespace switchyard {

struct SchemaObjectsScript {
  std::vector<DdlStatement> extensions;     // before anything else
  std::vector<DdlStatement> before_tables;  // functions that column defaults may call
  std::vector<DdlStatement> after_tables;   // views, matviews (empty), triggers, rules, policies
  std::vector<DdlStatement> dependent;      // comments and grants, last
  // Once the keys exist (switchyard builds them after the copy): what
  // pg_dump orders after them, e.g. the real definition of a view that
  // groups by a primary key (a dummy view stands in for it until then), a
  // materialized view or function body doing so, policies needing a key.
  std::vector<DdlStatement> after_keys;
  // Then comments on keys and indexes and on those, and their grants
  // (each may find its object absent).
  std::vector<DdlStatement> after_keys_dependent;
  // Then, once the data is there: REFRESH of every populated materialized view.
  std::vector<DdlStatement> refresh;
  // REFRESH of the materialized views this init creates, for a target
  // whose copy is already done (a second init on a streaming pair).
  std::vector<DdlStatement> refresh_created;
};

// Throws Error(kPrecondition) naming an extension the target cannot
// install, or a role that privileges or policies name and the target lacks
// (switchyard does not copy roles), or when pg_dump or pg_restore fail.
SchemaObjectsScript extract_schema_objects(const Config& config, pg::Connection& source,
                                           pg::Connection& target,
                                           const std::vector<SourceTable>& tables);

// Runs statements inside the caller's transaction, with pg_dump's settings
// (empty search_path, no function body checks) local to it. With
// `tolerate_absent`, a statement whose object the target does not have
// (a comment or grant on an object outside the selection) is skipped
// with a warning, in a savepoint.
void run_schema_statements(pg::Connection& target, const std::vector<DdlStatement>& statements,
                           bool tolerate_absent);

}  // namespace switchyard
