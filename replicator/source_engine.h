// The seam between switchyard's commands and the engine of the source:
// everything init, check, snapshot, replicate and teardown do that depends
// on what the legacy primary is. Two engines stand behind it:
//  - PostgreSQL: a publication and a logical replication slot; the copy in
//    the slot's exported snapshot; changes decoded from pgoutput
//    (pgoutput_feed.h); large objects followed by a thread of their own.
//  - ODBC legacies (MariaDB, SQLite): row triggers that log each change to
//    a changelog table (legacy_setup.h); the copy in one consistent read
//    per table; changes polled from the changelog up to a safe watermark
//    (changelog_feed.h).
// The stream itself is engine-neutral (stream_session.h, change_feed.h),
// and so is verify (verify/sides.h); this is where an engine is chosen and
// prepared for them. A new engine (SQL Server with Change Tracking) adds one
// implementation here, a ChangeFeed and a Sides.
#pragma once

#include <cstddef>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/lsn.h"
#include "control/control_schema.h"
#include "drivers/pg/connection.h"
#include "replicator/change_feed.h"
#include "replicator/requirements.h"
#include "replicator/snapshot_copy.h"

namespace switchyard {

// What init prepared, for its one-line report.
struct PreparedSource {
  size_t tables = 0;
  size_t tables_created = 0;  // of those, created on the target now
  // How changes will be captured: "publication and slot sy ready",
  // "capture installed on the legacy (MariaDB)".
  std::string capture;
  size_t missing_for_cutover = 0;  // requirements only the cutover lacks
};

class SourceEngine {
 public:
  // The engine `config.source.driver` names.
  static std::unique_ptr<SourceEngine> of(const Config& config);
  virtual ~SourceEngine() = default;

  // init: refuses before it changes anything, undoes what it created when
  // a later step fails; running it again is harmless.
  virtual PreparedSource init() = 0;
  // check: every setting and right the migration needs on both sides;
  // `tables` receives how many tables are selected. Changes nothing.
  virtual std::vector<Requirement> requirements(size_t& tables) = 0;
  // snapshot: init if needed, then the copy; nothing once it is done.
  virtual SnapshotSummary snapshot() = 0;
  // A stream position as people read it: "0/16B3748", "changelog sequence 42".
  virtual std::string describe(Lsn position) const = 0;
  // teardown: removes what init installed on both sides (the tables and
  // their data stay on the target); returns what was removed, as a phrase.
  virtual std::string teardown() = 0;

  // ---- replicate ------------------------------------------------------------
  // Once per run, before anything streams: the copy, while it is still to
  // do and the stream runs forward.
  virtual void prepare_stream(control::Direction direction) = 0;
  // Before each streaming session: tables that appeared on the source (or
  // whose joining a crash interrupted) join the stream; those that cannot
  // be streamed are named once, in `warned`.
  virtual void add_new_tables(control::Direction direction, std::set<std::string>& warned) = 0;
  // The session's change feed. `directed`: the configuration the way the
  // stream runs now; `target` a session on its target.
  virtual std::unique_ptr<ChangeFeed> feed(const Config& directed, pg::Connection& target,
                                           control::Direction direction,
                                           std::set<std::string>& warned) = 0;
  // Whether large objects exist to be followed beside the stream (they are
  // not part of it; large_object_sync.h).
  virtual bool follows_large_objects() const = 0;
};

}  // namespace switchyard
