// Tables that appear on the source while the stream runs (an application
// release during weeks of parallel validation): found, created on the
// target, copied and streamed, without stopping the stream for long or
// copying any other table again.
//
// How a table joins a running stream exactly once, the way PostgreSQL's own
// table synchronisation does it:
//  1. the streaming session ends (the slot keeps its position), so nothing
//     applies changes while the table joins;
//  2. the table is created on the target and recorded as `adding`;
//  3. it is added to the publication: transactions committed from then on
//     carry its changes in the stream;
//  4. a temporary slot exports a snapshot at its consistent point P, and the
//     table is copied as of that snapshot: every transaction committed
//     before P is in the copy;
//  5. keys and indexes are built, and P is recorded as the table's
//     synced_from position; the next session applies the table's changes
//     from transactions committed at or after P and skips the older ones.
// A crash anywhere leaves the table `adding`; the next run copies it again
// from the start (its rows are switchyard's own until then).
#pragma once

#include <set>
#include <string>
#include <vector>

#include "common/config.h"
#include "drivers/pg/connection.h"
#include "replicator/source_catalog.h"

namespace switchyard {

struct NewTables {
  std::vector<SourceTable> to_add;    // selected, not (yet completely) in the stream
  std::vector<std::string> unusable;  // selected but not replicable, with the reason
  // Renamed on the source (schema.name now), to be renamed on the target
  // once no batch of the stream is open (`streaming`).
  std::vector<std::string> renamed;
};

// Compares the selected source tables with the stream's (`target` holds
// the control schema). First settles the stream's tables the source lost
// under their name since: one renamed (its oid under a name tables.include
// selects) is renamed on the target too, unless `streaming` (a batch of the
// stream's apply may hold it: it is in `renamed` then, for the session to
// end and the next to start with it); one dropped leaves the stream (its
// target table and rows stay, for the DBA to drop); one dropped and created
// again (no longer in the publication, which lost the old table with it) is
// copied afresh, as `recopy` would, and so is among those returned.
NewTables find_new_tables(pg::Connection& source, pg::Connection& target, const Config& config,
                          bool streaming = false);

// Logs each table that cannot be replicated once per process (`warned`
// holds those already named), not at every check.
void warn_unusable(const std::vector<std::string>& unusable, std::set<std::string>& warned);

// Steps 2-5 above. REQUIRES: no session streams the slot's changes to the
// target meanwhile. Throws Error(kPrecondition) for a pre-existing target
// table that already holds rows, leaving the others added.
void add_tables(const Config& config, const std::vector<SourceTable>& tables);

}  // namespace switchyard
