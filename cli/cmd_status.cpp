#include <boost/json.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "common/units.h"
#include "control/large_objects.h"
#include "cutover/journal.h"
#include "replicator/status.h"

namespace switchyard::cli {
namespace {

boost::json::value lsn_json(const std::optional<Lsn>& lsn) {
  if (!lsn) return nullptr;
  return boost::json::string(lsn->to_string());
}

boost::json::object to_json(const StreamStatus& status) {
  boost::json::object out;
  out["name"] = status.name;
  out["direction"] = status.direction;
  out["state"] = status.state;
  out["source_lsn"] = lsn_json(status.source_lsn);
  out["applied_lsn"] = lsn_json(status.applied_lsn);
  out["source_engine"] = status.source_engine;
  out["lag_bytes"] = status.lag_bytes ? boost::json::value(*status.lag_bytes) : nullptr;
  out["lag_changes"] = status.lag_changes ? boost::json::value(*status.lag_changes) : nullptr;
  out["changelog_rows"] =
      status.changelog_rows ? boost::json::value(*status.changelog_rows) : nullptr;
  // Integer milliseconds: Boost.JSON writes doubles as 9.2308E-2.
  out["lag_milliseconds"] =
      status.lag_seconds
          ? boost::json::value(static_cast<int64_t>(std::llround(*status.lag_seconds * 1000)))
          : nullptr;
  out["lag_reported_at"] =
      status.reported_at ? boost::json::value(*status.reported_at) : boost::json::value(nullptr);
  boost::json::object slot;
  slot["exists"] = status.slot_exists;
  slot["active"] = status.slot_active;
  slot["confirmed_flush_lsn"] = lsn_json(status.slot_confirmed_flush);
  out["slot"] = slot;
  boost::json::array tables;
  for (const auto& table : status.tables) {
    boost::json::object item;
    item["name"] = table.name;
    item["created_by_switchyard"] = table.created_by_switchyard;
    item["rows_copied"] = table.rows_copied ? boost::json::value(*table.rows_copied) : nullptr;
    item["copied_at"] =
        table.copied_at ? boost::json::value(*table.copied_at) : boost::json::value(nullptr);
    boost::json::object verify;
    verify["status"] = table.verify_status ? boost::json::value(*table.verify_status)
                                           : boost::json::value(nullptr);
    verify["finished_at"] =
        table.verified_at ? boost::json::value(*table.verified_at) : boost::json::value(nullptr);
    verify["open_mismatches"] = table.open_mismatches;
    verify["dirty_keys"] = table.dirty_keys;
    item["verify"] = verify;
    tables.push_back(std::move(item));
  }
  out["tables"] = tables;
  return out;
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
      std::printf("  %-40s verify %s%s%s, %lld open mismatches, %lld dirty keys\n", "",
                  table.verify_status->c_str(), table.verified_at ? " at " : "",
                  table.verified_at.value_or("").c_str(),
                  static_cast<long long>(table.open_mismatches),
                  static_cast<long long>(table.dirty_keys));
    }
  }
}

boost::json::object to_json(const control::large_objects::SyncState& objects) {
  boost::json::object out;
  out["objects"] = objects.objects;
  out["bytes"] = objects.bytes;
  out["synced_at"] = objects.synced_at ? boost::json::value(*objects.synced_at) : nullptr;
  out["checked_at"] = objects.checked_at ? boost::json::value(*objects.checked_at) : nullptr;
  return out;
}

void print_text(const control::large_objects::SyncState& objects) {
  std::printf("large objects %lld, last synced %s (checked %s), %s\n",
              static_cast<long long>(objects.objects), objects.synced_at.value_or("-").c_str(),
              objects.checked_at.value_or("-").c_str(),
              format_bytes(static_cast<double>(objects.bytes)).c_str());
}

boost::json::object to_json(const cutover::RunReport& run) {
  boost::json::object out;
  out["run_id"] = run.run_id;
  out["operation"] = run.operation;
  out["state"] = run.state;
  out["started_at"] = run.started_at;
  out["finished_at"] = run.finished_at;
  out["detail"] = run.detail;
  // Whole milliseconds, like lag_milliseconds: plain decimals in JSON.
  auto whole_ms = [](const std::optional<double>& ms) {
    return ms ? boost::json::value(static_cast<int64_t>(std::llround(*ms)))
              : boost::json::value(nullptr);
  };
  out["freeze_ms"] = whole_ms(run.freeze_ms);
  out["freeze_budget_ms"] = whole_ms(run.freeze_budget_ms);
  boost::json::array steps;
  for (const auto& step : run.steps) {
    boost::json::object item;
    item["step_no"] = step.step_no;
    item["step"] = step.step;
    item["state"] = step.state;
    item["attempts"] = step.attempts;
    item["duration_ms"] = whole_ms(step.duration_ms);
    item["detail"] = step.detail;
    steps.push_back(std::move(item));
  }
  out["steps"] = steps;
  return out;
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

}  // namespace

Command add_status(CLI::App& app) {
  CLI::App* sub =
      app.add_subcommand("status", "Show source and applied positions, lag, state and tables.");
  auto json = std::make_shared<bool>(false);
  sub->add_flag("--json", *json, "print one JSON object");
  return {sub, [json](const Config& config) {
            const StreamStatus status = collect_status(config);
            std::optional<cutover::RunReport> run;
            {
              pg::Connection home(config.target.conninfo, config.target.name);
              run = cutover::last_run(home, config.name);
            }
            // Large objects: the last sync pass, kept by the receiving side.
            std::optional<control::large_objects::SyncState> objects;
            {
              const bool forward = status.direction == "forward";
              pg::Connection receiving(forward ? config.target.conninfo : config.source.conninfo,
                                       forward ? config.target.name : config.source.name);
              objects = control::large_objects::read_state(receiving, config.name);
            }
            if (*json) {
              boost::json::object out = to_json(status);
              out["last_switch"] = run ? boost::json::value(to_json(*run)) : nullptr;
              out["large_objects"] = objects ? boost::json::value(to_json(*objects)) : nullptr;
              std::cout << boost::json::serialize(out) << std::endl;
            } else {
              print_text(status, config);
              if (objects) print_text(*objects);
              if (run) print_text(*run);
            }
            return 0;
          }};
}

}  // namespace switchyard::cli
