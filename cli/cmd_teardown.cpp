#include <cstdio>

#include "cli/commands.h"
#include "common/error.h"
#include "replicator/source_engine.h"
#include "service/client.h"

namespace switchyard::cli {

Command add_teardown(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "teardown",
      "Remove the replication slot, publication, origin and control schema. Table data on the "
      "target stays.");
  auto yes = std::make_shared<bool>(false);
  sub->add_flag("--yes", *yes, "confirm");
  return {sub, [yes](const Config& config) {
            if (!*yes) {
              throw Error(ErrorKind::kUsage,
                          "teardown removes the slot, publication, origin and control schema; "
                          "confirm with --yes");
            }
            // Nothing is removed from under a running service.
            if (const auto client = service::Client::find(config)) {
              throw Error(ErrorKind::kPrecondition,
                          "serve runs stream " + config.name + " at " + client->url() +
                              "; stop it first (SIGTERM, or systemctl stop switchyard@NAME)");
            }
            const std::string removed = SourceEngine::of(config)->teardown();
            std::printf("teardown: stream %s %s; the tables and their data stay on the %s\n",
                        config.name.c_str(), removed.c_str(), config.target.name.c_str());
            return 0;
          }};
}

}  // namespace switchyard::cli
