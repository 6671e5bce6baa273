// The initial copy: every selected table, as of the slot's exported
// snapshot, copied with COPY by several workers at once, each table's
// deferred keys, indexes and constraints built as soon as its copy is in;
// then the materialized views are filled;
// then the origin is set to the slot's consistent point, so streaming
// starts exactly where the copy ends.
//
// Tables larger than snapshot.split_tables_larger_than, when it is set, are
// copied in ctid ranges by several workers; by default each table is copied
// whole, by one worker. A copy interrupted by a crash or a stop is
// started again from the beginning (target tables are truncated first): it
// is never half-trusted.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"
#include "drivers/pg/connection.h"
#include "replicator/source_catalog.h"

namespace switchyard {

// Copies `tables` (emptied first) as of the exported snapshot
// `snapshot_name`, with snapshot.workers workers; builds each table's keys
// and indexes (the post-data it still lacks) as soon as its copy is
// complete, while other tables still copy, then their foreign keys; and
// records rows and bytes copied per table in the control schema.
void copy_tables(const Config& config, pg::Connection& target,
                 const std::vector<SourceTable>& tables, const std::string& snapshot_name);

// What run_snapshot did, for its one-line summary.
struct SnapshotSummary {
  bool already_done = false;  // nothing copied: the stream was past its copy
  size_t tables = 0;
  uint64_t rows = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  Lsn consistent_point;  // where streaming starts
};

// Runs init (which creates the slot with an exported snapshot) and copies.
// Returns immediately if the initial copy is already done.
SnapshotSummary run_snapshot(const Config& config);

}  // namespace switchyard
