#include <cstdio>

#include "cli/commands.h"
#include "replicator/replicate.h"

namespace switchyard::cli {

Command add_replicate(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "replicate",
      "Run init and snapshot if not yet done, then stream changes to the target until "
      "SIGINT/SIGTERM.");
  return {sub, [](const Config& config) {
            run_replicate(config);
            std::printf(
                "replicate: stopped cleanly; `switchyard status` shows where stream %s "
                "stands\n",
                config.name.c_str());
            return 0;
          }};
}

}  // namespace switchyard::cli
