#include <cstdio>

#include "cli/commands.h"
#include "common/units.h"
#include "replicator/source_engine.h"

namespace switchyard::cli {

Command add_init(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "init",
      "Prepare the source (publication, replication slot) and the target (control schema, "
      "origin, missing types, sequences and tables). Idempotent.");
  return {sub, [](const Config& config) {
            const PreparedSource prepared = SourceEngine::of(config)->init();
            std::printf("init: %s (%zu created on the %s), %s",
                        counted(prepared.tables, "table").c_str(), prepared.tables_created,
                        config.target.name.c_str(), prepared.capture.c_str());
            if (prepared.missing_for_cutover > 0) {
              std::printf("; %s of the cutover missing (switchyard check)",
                          counted(prepared.missing_for_cutover, "requirement").c_str());
            }
            std::printf("\n");
            return 0;
          }};
}

}  // namespace switchyard::cli
