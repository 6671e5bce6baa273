#include <cstdio>

#include "cli/commands.h"
#include "common/error.h"
#include "common/units.h"
#include "replicator/legacy_setup.h"
#include "replicator/setup.h"

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
            if (config.source.odbc()) {
              const LegacyTeardownResult removed = run_legacy_teardown(config);
              std::printf(
                  "teardown: stream %s removed: %s and %s from the %s, its control rows and "
                  "origin from the %s; the tables and their data stay on the %s\n",
                  config.name.c_str(), counted(removed.triggers, "capture trigger").c_str(),
                  removed.changelog ? "the changelog" : "no changelog (none was left)",
                  config.source.name.c_str(), config.target.name.c_str(),
                  config.target.name.c_str());
              return 0;
            }
            run_teardown(config);
            std::printf(
                "teardown: stream %s removed from both databases; the tables and their data "
                "stay on the %s\n",
                config.name.c_str(), config.target.name.c_str());
            return 0;
          }};
}

}  // namespace switchyard::cli
