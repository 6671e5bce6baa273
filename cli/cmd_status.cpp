#include <boost/json.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "common/units.h"
#include "service/client.h"
#include "service/status_report.h"

namespace switchyard::cli {
namespace {

// What waits for verify's next dirty-only pass (or the cutover's gate).
std::string waiting_changes(const TableStatus& table) {
  if (table.marked_whole) return "changed as a whole (next pass compares it in full)";
  return counted(static_cast<uint64_t>(table.marked_keys), "changed key") + " marked";
}

// The databases by the configuration's names, whichever way the stream runs.
void print_text(const StreamStatus& status, const Config& config) {
  const bool changelog = status.changelog_rows.has_value();
  auto lsn = [&](const std::optional<Lsn>& value) {
    if (!value) return std::string("-");
    // A changelog position is the next sequence to read.
    return changelog ? "changelog sequence " + std::to_string(value->value) : value->to_string();
  };
  const bool forward = status.direction == "forward";
  const std::string& upstream = forward ? config.source.name : config.target.name;
  const std::string& downstream = forward ? config.target.name : config.source.name;
  std::printf("stream       %s\n", status.name.c_str());
  std::printf("direction    %s (%s -> %s; %s is the primary)\n", forward ? "forward" : "reverse",
              upstream.c_str(), downstream.c_str(), upstream.c_str());
  std::printf("state        %s\n", status.state.c_str());
  std::printf("upstream     %s at %s\n", upstream.c_str(), lsn(status.source_lsn).c_str());
  std::printf("applied      %s\n", lsn(status.applied_lsn).c_str());
  if (changelog) {
    std::printf("lag          %s",
                status.lag_changes ? counted(*status.lag_changes, "change").c_str() : "-");
  } else {
    std::printf("lag          %s",
                status.lag_bytes ? format_bytes(*status.lag_bytes).c_str() : "-");
  }
  if (status.lag_seconds) {
    std::printf(", %s (reported %s)", format_duration(*status.lag_seconds).c_str(),
                status.reported_at.value_or("?").c_str());
  }
  if (changelog) {
    std::printf("\nchangelog    %s on the %s (%s), %s\n",
                counted(*status.changelog_rows, "row").c_str(), upstream.c_str(),
                status.source_engine.c_str(),
                status.slot_active ? "replicate running" : "no replicate");
  } else {
    std::printf("\nslot         %s\n",
                !status.slot_exists ? "missing" : (status.slot_active ? "active" : "inactive"));
  }
  std::printf("tables       %zu\n", status.tables.size());
  for (const auto& table : status.tables) {
    std::printf("  %-40s %12s rows copied%s\n", table.name.c_str(),
                table.rows_copied ? std::to_string(*table.rows_copied).c_str() : "-",
                table.created_by_switchyard ? "" : "  (pre-existing on target)");
    if (table.verify_status) {
      std::printf("  %-40s verify %s%s%s, %lld open mismatches, %s\n", "",
                  table.verify_status->c_str(), table.verified_at ? " at " : "",
                  table.verified_at.value_or("").c_str(),
                  static_cast<long long>(table.open_mismatches), waiting_changes(table).c_str());
    }
  }
}

void print_text(const control::large_objects::SyncState& objects) {
  std::printf("large objects %lld, last synced %s (checked %s), %s\n",
              static_cast<long long>(objects.objects), objects.synced_at.value_or("-").c_str(),
              objects.checked_at.value_or("-").c_str(),
              format_bytes(static_cast<double>(objects.bytes)).c_str());
}

// Where the last cutover or failback got to, step by step: after a crash
// this says where it stopped (re-running the command settles it).
void print_text(const cutover::RunReport& run) {
  std::printf("last switch  %s run %lld: %s", run.operation.c_str(),
              static_cast<long long>(run.run_id), run.state.c_str());
  if (run.freeze_ms) std::printf(", writes frozen %.1f ms", *run.freeze_ms);
  std::printf(" (budget %.0f ms), started %s\n", run.freeze_budget_ms, run.started_at.c_str());
  if (run.state == "running") {
    std::printf("  %-40s (interrupted or in progress: run the same command again to settle it)\n",
                "");
  }
  for (const auto& step : run.steps) {
    char duration[32] = "-";
    if (step.duration_ms) std::snprintf(duration, sizeof duration, "%.1f ms", *step.duration_ms);
    std::printf("  %d %-15s %-8s %10s  %s\n", step.step_no, step.step.c_str(), step.state.c_str(),
                duration, step.detail.c_str());
  }
  if (!run.detail.empty()) std::printf("  %s\n", run.detail.c_str());
}

// "service      serve at http://127.0.0.1:8474 (pid 4242): stream running,
// verify running; run: none"
void print_service(const boost::json::object& serving) {
  std::string jobs;
  for (const auto& [name, job] : serving.at("jobs").as_object()) {
    jobs += (jobs.empty() ? "" : ", ") + std::string(name) + " " +
            std::string(job.as_object().at("state").as_string());
  }
  std::string run = "none";
  if (const auto& current = serving.at("run"); current.is_object()) {
    const auto& object = current.as_object();
    run = std::string(object.at("kind").as_string()) + " " +
          std::string(object.at("run_id").as_string()) + " " +
          std::string(object.at("state").as_string());
  }
  std::printf("service      serve at %s (pid %lld): %s; run: %s\n",
              std::string(serving.at("url").as_string()).c_str(),
              static_cast<long long>(serving.at("pid").to_number<int64_t>()), jobs.c_str(),
              run.c_str());
}

}  // namespace

Command add_status(CLI::App& app) {
  CLI::App* sub =
      app.add_subcommand("status", "Show source and applied positions, lag, state and tables.");
  auto json = std::make_shared<bool>(false);
  sub->add_flag("--json", *json, "print one JSON object");
  return {sub, [json](const Config& config) {
            const service::StatusReport report = service::collect_report(config);
            // A serve of this stream: its jobs and run, from memory.
            std::optional<boost::json::value> serving;
            if (const auto client = service::Client::find(config)) {
              const service::ClientAnswer answer = client->get("/api/v1/service");
              if (answer.status == 200) {
                serving = answer.body;
                serving->as_object()["url"] = client->url();
              }
            }
            if (*json) {
              boost::json::object out = service::to_json(report);
              out["service"] = serving ? *serving : boost::json::value(nullptr);
              std::cout << boost::json::serialize(out) << std::endl;
            } else {
              print_text(report.stream, config);
              if (serving) print_service(serving->as_object());
              if (report.large_objects) print_text(*report.large_objects);
              if (report.last_switch) print_text(*report.last_switch);
            }
            return 0;
          }};
}

}  // namespace switchyard::cli
