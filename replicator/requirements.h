// Everything the whole migration needs of the two servers and of the roles
// switchyard connects as, checked in one go: the forward stream, the copy
// and verify (legacy -> cloud), and what a cutover brings into play later -
// the fence on each side, the reverse stream (cloud -> legacy) and failback.
//
// `switchyard check` prints the list, `init` refuses while something the
// stream needs is missing and warns about what only the cutover needs, and
// the cutover preflight re-runs the same checks, so a cutover can never pass
// its preflight and then lack its way back. Each unmet requirement carries
// the exact statement (or configuration step) that provides it.
//
// Rights are read from the catalogs where they are plain privileges, and
// tried (in a transaction rolled back) where only the server knows, such as
// setting session_replication_role.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"
#include "drivers/pg/connection.h"
#include "replicator/source_catalog.h"

namespace switchyard {

// When a requirement first matters.
enum class NeededBy {
  kStream,   // init, the copy, the forward stream and verify
  kCutover,  // the fences, the reverse stream after a cutover, failback
};

struct Requirement {
  std::string side;  // the connection's role in messages: "source" or "target"
  NeededBy needed_by = NeededBy::kStream;
  std::string what;  // what is needed, in a few words ("wal_level = logical")
  bool met = false;
  std::string problem;  // when unmet: what was found, naming the role
  std::string fix;      // when unmet: the statement or step that provides it

  // "source: wal_level is 'replica'; set wal_level = logical ..."
  std::string message() const;
};

// The `what` of the requirements on roles (the schema check names those
// roles itself).
inline constexpr const char* kGrantRoles = "the roles the application's grants name";
inline constexpr const char* kOwnerRoles = "the roles that own the application's objects";

struct TableName {
  std::string schema;
  std::string name;
};
std::vector<TableName> table_names(const std::vector<SourceTable>& tables);

// Every requirement, met or not, source's first. `tables` are the tables
// the stream carries (those selected on the source); they may not exist on
// the target yet.
std::vector<Requirement> check_requirements(const Config& config, pg::Connection& source,
                                            pg::Connection& target,
                                            const std::vector<TableName>& tables);

// The target's part alone, for the forward stream (an ODBC source, whose own
// requirements are check_legacy_requirements' in legacy_setup.h).
std::vector<Requirement> check_target_requirements(const Config& config, pg::Connection& target,
                                                   const std::vector<TableName>& tables);

// The unmet requirements among `all` needed by `stage` (kCutover: all of
// them, since the stream keeps running until the cutover).
std::vector<Requirement> unmet(const std::vector<Requirement>& all, NeededBy stage);

// Logs each unmet requirement of `stage` as an error and throws
// Error(kPrecondition): with one, its message; with several, their count and
// the first. `doing` names the operation ("init", "cutover").
void require(const std::vector<Requirement>& all, NeededBy stage, const std::string& doing);

}  // namespace switchyard
