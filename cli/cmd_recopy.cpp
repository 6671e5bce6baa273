#include <cstdio>

#include "cli/commands.h"
#include "replicator/recopy.h"

namespace switchyard::cli {

Command add_recopy(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "recopy",
      "Copy one streamed table again from the source while the stream goes on (for a table "
      "without a key that verify found different, which repair cannot mend row by row). The "
      "running replicate does it within seconds; with none running, this command does.");
  auto table = std::make_shared<std::string>();
  sub->add_option("table", *table, "the table, as schema.table")->required();
  return {sub, [table](const Config& config) {
            const RecopyResult result = run_recopy(config, *table);
            std::printf(
                "recopy: %s copied again, %llu rows as of %s (by %s); its changes from then on "
                "are applied; verify it again before a cutover\n",
                result.table.c_str(), static_cast<unsigned long long>(result.rows),
                result.as_of.to_string().c_str(),
                result.by_replicate ? "the running replicate" : "this command");
            return 0;
          }};
}

}  // namespace switchyard::cli
