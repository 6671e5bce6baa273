#include <cstdio>

#include "cli/commands.h"
#include "common/units.h"
#include "replicator/snapshot_copy.h"

namespace switchyard::cli {

Command add_snapshot(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "snapshot",
      "Copy every selected table, consistent with the slot's start, then build keys and "
      "indexes. Runs init first if needed; does nothing once the copy is done.");
  return {sub, [](const Config& config) {
            const SnapshotSummary summary = run_snapshot(config);
            if (summary.already_done) {
              std::printf("snapshot: already done; streaming continues from %s\n",
                          summary.consistent_point.to_string().c_str());
            } else {
              std::printf("snapshot: %s, %s, %s copied in %s; streaming starts at %s\n",
                          counted(summary.tables, "table").c_str(),
                          counted(summary.rows, "row").c_str(),
                          format_bytes(static_cast<double>(summary.bytes)).c_str(),
                          format_duration(summary.seconds).c_str(),
                          summary.consistent_point.to_string().c_str());
            }
            return 0;
          }};
}

}  // namespace switchyard::cli
