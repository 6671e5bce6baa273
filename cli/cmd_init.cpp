#include <cstdio>

#include "cli/commands.h"
#include "replicator/setup.h"

namespace switchyard::cli {

Command add_init(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "init",
      "Prepare the source (publication, replication slot) and the target (control schema, "
      "origin, missing types, sequences and tables). Idempotent.");
  return {sub, [](const Config& config) {
            const InitResult result = run_init(config, /*export_snapshot=*/false);
            std::printf("init: %zu tables (%zu created on the %s), publication and slot %s ready",
                        result.tables.size(), result.tables_created, config.target.name.c_str(),
                        config.slot_name().c_str());
            if (result.missing_for_cutover > 0) {
              std::printf("; %zu requirements of the cutover missing (switchyard check)",
                          result.missing_for_cutover);
            }
            std::printf("\n");
            return 0;
          }};
}

}  // namespace switchyard::cli
