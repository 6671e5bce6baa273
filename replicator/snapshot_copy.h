// The initial copy: every selected table, as of the slot's exported
// snapshot, copied with COPY by several workers at once; then the deferred
// keys, indexes and constraints; then the origin is set to the slot's
// consistent point, so streaming starts exactly where the copy ends.
//
// Tables larger than snapshot.split_tables_larger_than are copied in ctid
// ranges by several workers. A copy interrupted by a crash or a stop is
// started again from the beginning (target tables are truncated first): it
// is never half-trusted.
#pragma once

#include <optional>

#include "common/config.h"
#include "replicator/source_slot.h"

namespace switchyard {

// Runs init first if the stream does not exist. Returns immediately if the
// initial copy is already done. `snapshot` is the one init just exported, if any.
void run_snapshot(const Config& config, std::optional<ExportedSnapshot> snapshot);

}  // namespace switchyard
