#include "cli/commands.h"
#include "replicator/setup.h"

namespace switchyard::cli {

Command add_init(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "init",
      "Prepare the source (publication, replication slot) and the target (control schema, "
      "origin, missing types, sequences and tables). Idempotent.");
  return {sub, [](const Config& config) {
            run_init(config, /*export_snapshot=*/false);
            return 0;
          }};
}

}  // namespace switchyard::cli
