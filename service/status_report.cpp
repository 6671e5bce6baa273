#include "service/status_report.h"

#include <cmath>

#include "drivers/pg/connection.h"

namespace switchyard::service {
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
    verify["marked_keys"] = table.marked_keys;
    verify["marked_whole"] = table.marked_whole;
    item["verify"] = verify;
    tables.push_back(std::move(item));
  }
  out["tables"] = tables;
  return out;
}

boost::json::object to_json(const control::large_objects::SyncState& objects) {
  boost::json::object out;
  out["objects"] = objects.objects;
  out["bytes"] = objects.bytes;
  out["synced_at"] = objects.synced_at ? boost::json::value(*objects.synced_at) : nullptr;
  out["checked_at"] = objects.checked_at ? boost::json::value(*objects.checked_at) : nullptr;
  return out;
}

}  // namespace

boost::json::object to_json(const cutover::RunReport& run) {
  boost::json::object out;
  out["run_id"] = run.run_id;
  out["operation"] = run.operation;
  out["state"] = run.state;
  out["started_at"] = run.started_at;
  out["finished_at"] = run.finished_at;
  out["detail"] = run.detail;
  out["requested_by"] =
      run.requested_by.empty() ? boost::json::value(nullptr) : boost::json::value(run.requested_by);
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

StatusReport collect_report(const Config& config) {
  StatusSessions sessions(config);
  return collect_report(config, sessions);
}

StatusReport collect_report(const Config& config, StatusSessions& sessions) {
  StatusReport report;
  report.stream = collect_status(config, sessions);
  // The journal lives on the target; the large objects' last sync is kept
  // by the receiving side.
  report.last_switch = cutover::last_run(sessions.target(), config.name);
  pg::Connection& receiving =
      report.stream.direction == "forward" ? sessions.target() : sessions.source();
  report.large_objects = control::large_objects::read_state(receiving, config.name);
  return report;
}

boost::json::object to_json(const StatusReport& report) {
  boost::json::object out = to_json(report.stream);
  out["last_switch"] =
      report.last_switch ? boost::json::value(to_json(*report.last_switch)) : nullptr;
  out["large_objects"] =
      report.large_objects ? boost::json::value(to_json(*report.large_objects)) : nullptr;
  return out;
}

}  // namespace switchyard::service
