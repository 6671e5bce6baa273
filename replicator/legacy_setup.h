// init, snapshot and teardown for an ODBC legacy source (MariaDB, SQLite).
//
// init: reads and translates the selected tables (refusing, before it
// changes anything, a table without a key or a column type without a
// rule), creates on the target the control schema, the replication origin
// and the tables without their keys, then installs the capture on the
// source: the changelog table and each table's triggers
// (odbc::Dialect::capture_install). If any step fails — a right missing on
// either side, say — everything it created on both databases is removed
// again before the error is reported.
//
// snapshot: copies each table in one consistent read on the source
// (several tables at once), converts the values (legacy_values.h) and
// loads them with COPY, then adds the keys. The capture was installed
// before any copy began, so every change made while the copy runs is in
// the changelog: replicate replays it from its first row. Replaying a
// change the copy already holds is harmless because apply is idempotent by
// key with full row images (an insert replaces the row of its key).
//
// teardown: removes the triggers and the changelog from the source, the
// origin and the control rows from the target; the tables stay.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/config.h"
#include "replicator/requirements.h"
#include "replicator/snapshot_copy.h"

namespace switchyard {

struct LegacyInitResult {
  std::string engine;
  size_t tables = 0;
  size_t tables_created = 0;  // of those, created on the target now
};

// `usable_only`: tables that cannot be streamed are left out rather than
// refused (a table joining a running stream).
LegacyInitResult run_legacy_init(const Config& config, bool usable_only = false);

// `check` for an ODBC source: the source's rights and settings that capture
// needs, each selected table (a key, types with a rule), and the target's
// part of the forward stream. `tables` receives how many tables are
// selected.
std::vector<Requirement> check_legacy_requirements(const Config& config, size_t& tables);
SnapshotSummary run_legacy_snapshot(const Config& config);

// Tables that tables.include selects on the legacy but the stream lacks
// (created after init: an application release during weeks of parallel
// running) join it: created on the target (recorded as being added),
// captured, then copied. Their changes are in the changelog from the
// capture on, past everything the stream has applied, so the stream
// replays them over the copy (apply is idempotent by key). A crash leaves
// them being added, and the next run copies them again. REQUIRES: nothing
// applies the stream meanwhile. Returns how many joined.
size_t add_legacy_tables(const Config& config);

struct LegacyTeardownResult {
  size_t triggers = 0;  // capture triggers the source had
  bool changelog = false;
};
LegacyTeardownResult run_legacy_teardown(const Config& config);

// Where an ODBC source's stream starts: the first changelog sequence.
inline constexpr uint64_t kFirstChangelogPosition = 1;

}  // namespace switchyard
