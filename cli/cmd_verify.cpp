#include <iostream>

#include "cli/commands.h"
#include "verify/run_verify.h"

namespace switchyard::cli {

Command add_verify(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "verify",
      "Compare source and target row by row through checksums while changes stream. Without "
      "options: full passes forever, rate-limited. Exit 0 = parity, 1 = mismatches, 8 = some "
      "rows kept changing (inconclusive).");
  struct Options {
    bool once = false, dirty_only = false, repair = false, json = false;
    std::string table;
  };
  auto options = std::make_shared<Options>();
  auto* once = sub->add_flag("--once", options->once, "one full pass, then exit");
  auto* dirty = sub->add_flag("--dirty-only", options->dirty_only,
                              "re-check only the rows changed since they were last verified");
  auto* repair = sub->add_flag(
      "--repair", options->repair,
      "re-copy the rows recorded as mismatches from the source; exit 0 = all repaired (or "
      "none open), 8 = some left (still changing, or in a table without a key)");
  once->excludes(dirty)->excludes(repair);
  dirty->excludes(repair);
  sub->add_option("--table", options->table, "only this table (schema.table)");
  sub->add_flag("--json", options->json,
                "print the result as one JSON object on stdout (with --once, --dirty-only or "
                "--repair)");
  return {sub, [options](const Config& config) {
            verify::Request request;
            request.mode = options->once         ? verify::Mode::kOnce
                           : options->dirty_only ? verify::Mode::kDirtyOnly
                           : options->repair     ? verify::Mode::kRepair
                                                 : verify::Mode::kContinuous;
            if (options->json && request.mode == verify::Mode::kContinuous) {
              throw Error(ErrorKind::kUsage,
                          "--json needs --once, --dirty-only or --repair (continuous verify "
                          "reports through its log)");
            }
            if (!options->table.empty()) request.table = options->table;
            const verify::Outcome outcome = verify::run_verify(config, request);
            if (options->json) {
              std::cout << boost::json::serialize(outcome.to_json()) << std::endl;
            } else if (request.mode != verify::Mode::kContinuous) {
              std::cout << outcome.summary() << std::endl;
            }
            return static_cast<int>(outcome.exit_code());
          }};
}

}  // namespace switchyard::cli
