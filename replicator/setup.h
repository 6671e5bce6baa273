// `init` and `teardown`: preparing the source (publication, slot) and the
// target (control schema, origin, missing extensions, types, sequences,
// tables, and the functions, views, triggers, policies, comments and grants
// of their schemas), and removing what init created.
//
// init checks everything it can before it creates anything, and undoes what
// it created if a later step fails, so a refused init leaves both databases
// as they were. Running it again is harmless.
#pragma once

#include <optional>
#include <vector>

#include "common/config.h"
#include "replicator/source_catalog.h"
#include "replicator/source_slot.h"

namespace switchyard {

struct InitResult {
  std::vector<SourceTable> tables;
  size_t tables_created = 0;       // of those, created on the target now
  size_t missing_for_cutover = 0;  // requirements only the cutover lacks
  // Set when the caller asked for one and the initial copy is still to do.
  std::optional<ExportedSnapshot> snapshot;
  // For the target once the copy and its keys are done, in one
  // transaction: what needs the keys (views grouping by a primary key...),
  // each must succeed; then comments on keys and those objects, and the
  // materialized views' data, which may find their object absent.
  std::vector<DdlStatement> after_keys;
  std::vector<DdlStatement> after_copy;
};

InitResult run_init(const Config& config, bool export_snapshot);

// Removes the slot, the publication, the origin and the control schema.
// Refuses while a `replicate` is streaming from the slot.
void run_teardown(const Config& config);

}  // namespace switchyard
