#include <pwd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <cstdio>

#include "cli/commands.h"
#include "common/units.h"
#include "cutover/switchover.h"
#include "service/client.h"

namespace switchyard::cli {
namespace {

// A serve runs this stream: the switch runs there (never a second copy of
// it beside the service), this process asks for it and follows it.
int switch_through_service(const service::Client& client, const cutover::SwitchOptions& request) {
  const std::string operation = cutover::to_string(request.operation);
  std::string target = "/api/v1/" + operation + "?dry_run=" + (request.dry_run ? "true" : "false");
  if (request.freeze_budget) {
    target += "&freeze_budget=" + std::to_string(request.freeze_budget->count()) + "ms";
  }
  spdlog::info("serve runs stream at {}: asking it for the {}", client.url(), operation);
  const service::ClientAnswer answer = client.post(target);
  const boost::json::object* body = answer.body.if_object();
  auto text = [&](const boost::json::object* object, const char* key) {
    const auto* value = object ? object->if_contains(key) : nullptr;
    return value && value->is_string() ? std::string(value->as_string()) : std::string();
  };
  const boost::json::object* plan = nullptr;
  if (body) {
    if (const auto* inner = body->if_contains("plan"); inner && inner->is_object()) {
      plan = &inner->as_object();
    } else if (body->contains("checks")) {
      plan = body;
    }
  }
  if (request.dry_run && plan) std::fputs(text(plan, "text").c_str(), stdout);
  switch (answer.status) {
    case 200:
      return 0;
    case 202:
      break;
    case 401:
      throw Error(ErrorKind::kAuth,
                  "serve at " + client.url() + " refused the token: " + text(body, "error"));
    case 409:
    case 412:
      throw Error(ErrorKind::kPrecondition, text(body, "error"));
    default:
      throw Error(answer.status == 503 ? ErrorKind::kConnection : ErrorKind::kInternal,
                  "serve at " + client.url() + ": HTTP " + std::to_string(answer.status) + ": " +
                      text(body, "error"));
  }
  const std::string run_id = text(body, "run_id");
  spdlog::info("{} run {} started in serve; following it", operation, run_id);
  const boost::json::value done = client.wait_for_run(run_id);
  const boost::json::object& run = done.as_object();
  const std::string state = text(&run, "state");
  const auto* result = run.if_contains("result");
  const boost::json::object* outcome =
      result && result->is_object() ? &result->as_object() : nullptr;
  if (state == "completed") {
    const auto* freeze = outcome ? outcome->if_contains("freeze_ms") : nullptr;
    std::printf("%s: run %s completed in serve; writes frozen %.1f ms\n", operation.c_str(),
                run_id.c_str(), freeze && freeze->is_number() ? freeze->to_number<double>() : 0.0);
    return 0;
  }
  throw Error(state == "rolled_back" ? ErrorKind::kRolledBack : ErrorKind::kInternal,
              operation + " run " + run_id + " " + state + " in serve: " + text(outcome, "error"));
}

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
            if (const auto client = service::Client::find(config)) {
              return switch_through_service(*client, request);
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
