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

#include "common/config.h"

namespace switchyard {

// Runs init (which creates the slot with an exported snapshot) and copies.
// Returns immediately if the initial copy is already done.
void run_snapshot(const Config& config);

}  // namespace switchyard
