#include "cli/commands.h"
#include "replicator/snapshot_copy.h"

namespace switchyard::cli {

Command add_snapshot(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "snapshot",
      "Copy every selected table, consistent with the slot's start, then build keys and "
      "indexes. Runs init first if needed; does nothing once the copy is done.");
  return {sub, [](const Config& config) {
            run_snapshot(config);
            return 0;
          }};
}

}  // namespace switchyard::cli
