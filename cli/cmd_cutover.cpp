#include <pwd.h>
#include <unistd.h>

#include "cli/commands.h"
#include "common/units.h"
#include "cutover/switchover.h"

namespace switchyard::cli {
namespace {

// Who runs the command, for the journal: "cli (postgres)".
std::string who_asks() {
  const passwd* user = getpwuid(geteuid());
  return "cli (" + (user ? std::string(user->pw_name) : std::to_string(geteuid())) + ")";
}

Command add_switch(CLI::App& app, cutover::Operation operation, const std::string& help) {
  CLI::App* sub = app.add_subcommand(cutover::to_string(operation), help);
  struct Options {
    bool dry_run = false;
    std::string freeze_budget;
  };
  auto options = std::make_shared<Options>();
  sub->add_flag("--dry-run", options->dry_run,
                "run the preflight checks and print the plan; change nothing");
  sub->add_option("--freeze-budget", options->freeze_budget,
                  "longest write freeze before rolling back (e.g. 800ms, 2s; default "
                  "cutover.freeze_budget)");
  return {sub, [options, operation](const Config& config) {
            cutover::SwitchOptions request;
            request.operation = operation;
            request.dry_run = options->dry_run;
            request.requested_by = who_asks();
            if (!options->freeze_budget.empty()) {
              request.freeze_budget = parse_duration(options->freeze_budget);
              if (!request.freeze_budget || request.freeze_budget->count() <= 0) {
                throw Error(ErrorKind::kUsage,
                            "--freeze-budget: '" + options->freeze_budget +
                                "' is not a positive duration with its unit (e.g. 800ms, 2s)");
              }
            }
            return static_cast<int>(cutover::run_switch(config, request));
          }};
}

}  // namespace

Command add_cutover(CLI::App& app) {
  return add_switch(app, cutover::Operation::kCutover,
                    "Make the target the primary: freeze writes at the router, drain, verify "
                    "the changed rows, sync sequences, start the reverse stream, switch the "
                    "router and prove it took the switch, resume. Rolls back by itself "
                    "within the freeze budget if any step fails. Exit 0 = done, 5 = refused by "
                    "preflight (nothing changed), 9 = rolled back.");
}

Command add_failback(CLI::App& app) {
  return add_switch(app, cutover::Operation::kFailback,
                    "Make the source the primary again, over the reverse stream; the same "
                    "steps as cutover. Afterwards the forward stream runs again.");
}

}  // namespace switchyard::cli
