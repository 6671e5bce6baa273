#include <cstdio>

#include "cli/commands.h"
#include "common/units.h"
#include "replicator/source_engine.h"

namespace switchyard::cli {

Command add_snapshot(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "snapshot",
      "Copy every selected table, consistent with the slot's start, then build keys and "
      "indexes. Runs init first if needed; does nothing once the copy is done.");
  return {sub, [](const Config& config) {
            const auto engine = SourceEngine::of(config);
            const SnapshotSummary summary = engine->snapshot();
            const std::string start = engine->describe(summary.consistent_point);
            if (summary.already_done) {
              std::printf("snapshot: already done; streaming continues from %s\n", start.c_str());
            } else {
              std::printf("snapshot: %s, %s, %s copied in %s; streaming starts at %s\n",
                          counted(summary.tables, "table").c_str(),
                          counted(summary.rows, "row").c_str(),
                          format_bytes(static_cast<double>(summary.bytes)).c_str(),
                          format_duration(summary.seconds).c_str(), start.c_str());
            }
            return 0;
          }};
}

}  // namespace switchyard::cli
