// The initial copy: every selected table, as of the slot's exported
// snapshot, copied with COPY by several workers at once; then the deferred
// keys, indexes and constraints, and the materialized views are filled;
// then the origin is set to the slot's consistent point, so streaming
// starts exactly where the copy ends.
//
// Tables larger than snapshot.split_tables_larger_than are copied in ctid
// ranges by several workers. A copy interrupted by a crash or a stop is
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
// `snapshot_name`, with snapshot.workers workers, and records rows and bytes
// copied per table in the control schema.
void copy_tables(const Config& config, pg::Connection& target,
                 const std::vector<SourceTable>& tables, const std::string& snapshot_name);
// Keys and indexes for tables switchyard created whose post-data is not
// done, several tables at once; then their foreign keys, which need the
// referenced keys to exist.
void build_post_data(const Config& config, pg::Connection& target);

// Runs init (which creates the slot with an exported snapshot) and copies.
// Returns immediately if the initial copy is already done.
void run_snapshot(const Config& config);

}  // namespace switchyard
