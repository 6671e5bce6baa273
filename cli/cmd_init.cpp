#include <cstdio>

#include "cli/commands.h"
#include "common/units.h"
#include "replicator/legacy_setup.h"
#include "replicator/setup.h"

namespace switchyard::cli {

Command add_init(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "init",
      "Prepare the source (publication, replication slot) and the target (control schema, "
      "origin, missing types, sequences and tables). Idempotent.");
  return {sub, [](const Config& config) {
            if (config.source.odbc()) {
              const LegacyInitResult result = run_legacy_init(config);
              std::printf("init: %s (%zu created on the %s), capture installed on the %s (%s)\n",
                          counted(result.tables, "table").c_str(), result.tables_created,
                          config.target.name.c_str(), config.source.name.c_str(),
                          result.engine.c_str());
              return 0;
            }
            const InitResult result = run_init(config, /*export_snapshot=*/false);
            std::printf("init: %s (%zu created on the %s), publication and slot %s ready",
                        counted(result.tables.size(), "table").c_str(), result.tables_created,
                        config.target.name.c_str(), config.slot_name().c_str());
            if (result.missing_for_cutover > 0) {
              std::printf("; %s of the cutover missing (switchyard check)",
                          counted(result.missing_for_cutover, "requirement").c_str());
            }
            std::printf("\n");
            return 0;
          }};
}

}  // namespace switchyard::cli
