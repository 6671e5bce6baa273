#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <iostream>

#include "cli/commands.h"
#include "service/client.h"
#include "verify/run_verify.h"

namespace switchyard::cli {
namespace {

// A serve runs this stream: its verify, not a second one beside it.
int verify_through_service(const service::Client& client, const verify::Request& request,
                           bool json) {
  if (request.mode == verify::Mode::kContinuous) {
    throw Error(ErrorKind::kPrecondition,
                "serve at " + client.url() +
                    " runs continuous verify of this stream already (GET /api/v1/status shows "
                    "it); verify --once asks it for a pass");
  }
  std::string target =
      request.mode == verify::Mode::kRepair ? "/api/v1/repair?" : "/api/v1/verify?";
  if (request.mode == verify::Mode::kDirtyOnly) target += "dirty_only=true&";
  if (request.table) {
    target += "table=" + boost::urls::encode(*request.table, boost::urls::unreserved_chars);
  }
  const service::ClientAnswer answer = client.post(target);
  const auto* body = answer.body.if_object();
  const auto* error = body ? body->if_contains("error") : nullptr;
  const std::string why = error && error->is_string() ? std::string(error->as_string()) : "";
  if (answer.status == 401) throw Error(ErrorKind::kAuth, "serve refused the token: " + why);
  if (answer.status == 409 || answer.status == 412) throw Error(ErrorKind::kPrecondition, why);
  if (answer.status != 202 || !body) {
    throw Error(ErrorKind::kInternal, "serve at " + client.url() + ": HTTP " +
                                          std::to_string(answer.status) + ": " + why);
  }
  const std::string run_id(body->at("run_id").as_string());
  const boost::json::value done = client.wait_for_run(run_id);
  const auto& run = done.as_object();
  const std::string state(run.at("state").as_string());
  const auto& result = run.at("result");
  if (state == "failed") {
    throw Error(ErrorKind::kInternal, "verify run " + run_id + " failed in serve: " +
                                          std::string(result.at("error").as_string()));
  }
  if (json) {
    std::cout << boost::json::serialize(result) << std::endl;
  } else if (const auto* summary = result.as_object().if_contains("summary")) {
    std::cout << summary->as_string().c_str() << std::endl;
  }
  if (state == "completed") return 0;
  return state == "mismatch" ? static_cast<int>(ExitCode::kMismatch)
                             : static_cast<int>(ExitCode::kInconclusive);
}

}  // namespace

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
            if (const auto client = service::Client::find(config)) {
              return verify_through_service(*client, request, options->json);
            }
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
