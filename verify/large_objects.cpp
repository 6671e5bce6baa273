#include "verify/large_objects.h"

#include <chrono>
#include <set>
#include <thread>

#include "common/log.h"
#include "common/units.h"
#include "control/control_schema.h"
#include "control/large_objects.h"

namespace switchyard::verify {
namespace {

namespace lo = control::large_objects;
using Clock = std::chrono::steady_clock;

constexpr auto kRecheckEvery = std::chrono::milliseconds(500);

const lo::Object* find(const lo::Objects& objects, uint32_t oid) {
  const auto found = objects.find(oid);
  return found == objects.end() ? nullptr : &found->second;
}

MismatchKind kind_of(const lo::Object* source, const lo::Object* target) {
  if (!target) return MismatchKind::kMissing;
  if (!source) return MismatchKind::kExtra;
  return MismatchKind::kDifferent;
}

Finding finding_for(uint32_t oid, MismatchKind kind) {
  Finding finding;
  finding.table = lo::kDisplayName;
  finding.key = {std::to_string(oid)};
  finding.key_json["oid"] = static_cast<int64_t>(oid);
  finding.kind = kind;
  return finding;
}

// `side` names the receiving side, as the configuration does.
void log_mismatch(uint32_t oid, const lo::Object* source, const lo::Object* target,
                  const std::string& side) {
  if (!target) {
    spdlog::warn("large object {} is missing on the {}", oid, side);
  } else if (!source) {
    spdlog::warn("large object {} exists only on the {}", oid, side);
  } else {
    spdlog::warn("large object {} differs on the {} ({})", oid, side,
                 source->md5 != target->md5 ? "content" : "owner");
  }
}

void record_mismatch(pg::Connection& control, const std::string& stream, const Finding& finding) {
  control.exec(
      "INSERT INTO switchyard.mismatches (stream, schema_name, table_name, key, key_json, kind) "
      "VALUES ($1, $2, $3, $4, $5, $6) "
      "ON CONFLICT (stream, schema_name, table_name, key) DO UPDATE SET "
      "kind = EXCLUDED.kind, last_seen = now(), "
      "first_seen = CASE WHEN mismatches.resolved_at IS NULL THEN mismatches.first_seen "
      "                  ELSE now() END, "
      "resolved_at = NULL, resolution = NULL",
      {stream, std::string(lo::kSchemaName), std::string(lo::kTableName),
       control::text_array_literal(finding.key), boost::json::serialize(finding.key_json),
       std::string(to_string(finding.kind))});
}

// Open large-object mismatches not in `seen` are settled with `resolution`.
void resolve_others(pg::Connection& control, const std::string& stream,
                    const std::vector<std::string>& seen, const std::string& resolution) {
  control.exec(
      "UPDATE switchyard.mismatches SET resolved_at = now(), resolution = $4 "
      "WHERE stream = $1 AND schema_name = $2 AND table_name = $3 AND resolved_at IS NULL "
      "AND NOT (key[1] = ANY($5::text[]))",
      {stream, std::string(lo::kSchemaName), std::string(lo::kTableName), resolution,
       control::text_array_literal(seen)});
}

}  // namespace

TableReport verify_large_objects(const Config& config) {
  const auto started = Clock::now();
  TableReport report;
  report.table = lo::kDisplayName;
  report.chunks = 1;
  pg::Connection source(config.source.conninfo, config.source.name, pg::Mode::kNormal, "verify");
  pg::Connection target(config.target.conninfo, config.target.name, pg::Mode::kNormal, "verify");
  lo::check_readable(source);
  lo::check_readable(target);

  lo::Objects source_objects = lo::read_objects(source, true);
  lo::TargetView view = lo::read_target(target, config.name);
  report.source_rows = source_objects.size();
  report.target_rows = view.actual.size();
  for (const auto& [oid, object] : source_objects) report.bytes += object.size;
  for (const auto& [oid, object] : view.actual) report.bytes += object.size;

  std::vector<uint32_t> in_flight;
  std::vector<std::string> seen;
  auto settle = [&](uint32_t oid, lo::Verdict verdict) {
    const lo::Object* in_source = find(source_objects, oid);
    const lo::Object* in_target = find(view.actual, oid);
    if (verdict == lo::Verdict::kInFlight) {
      in_flight.push_back(oid);
    } else if (verdict == lo::Verdict::kMismatch) {
      log_mismatch(oid, in_source, in_target, target.role());
      report.mismatches.push_back(finding_for(oid, kind_of(in_source, in_target)));
      seen.push_back(std::to_string(oid));
    }
  };
  for (const auto& difference : lo::compare(source_objects, view.actual)) {
    const uint32_t oid = difference.oid;
    settle(oid, lo::classify(find(source_objects, oid), find(view.actual, oid),
                             find(view.records.objects, oid), view.records.synced));
  }
  // Differences the sync has not carried yet: read again until they settle.
  report.rechecked = in_flight.size();
  const auto give_up = Clock::now() + config.verify.recheck_timeout;
  while (!in_flight.empty() && Clock::now() < give_up) {
    std::this_thread::sleep_for(kRecheckEvery);
    std::vector<uint32_t> again;
    again.swap(in_flight);
    source_objects = lo::read_objects(source, true, &again);
    view = lo::read_target(target, config.name, &again);
    for (uint32_t oid : again) {
      settle(oid, lo::classify(find(source_objects, oid), find(view.actual, oid),
                               find(view.records.objects, oid), view.records.synced));
    }
  }
  for (uint32_t oid : in_flight) {
    report.in_flight.push_back(finding_for(oid, MismatchKind::kDifferent));
    seen.push_back(std::to_string(oid));  // neither proven equal nor different
  }

  if (control::schema_exists(target)) {
    for (const auto& finding : report.mismatches) record_mismatch(target, config.name, finding);
    resolve_others(target, config.name, seen, "verified equal");
  }
  report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  spdlog::info(
      "{}: {} large objects compared ({} on the {}, {}), {} re-checked, {} mismatches, {} "
      "in flight; {}",
      report.table, report.source_rows, report.target_rows, target.role(),
      format_bytes(static_cast<double>(report.bytes)), report.rechecked, report.mismatches.size(),
      report.in_flight.size(), format_duration(report.seconds));
  return report;
}

RepairReport repair_large_objects(const Config& config) {
  RepairReport report;
  report.table = lo::kDisplayName;
  pg::Connection source(config.source.conninfo, config.source.name, pg::Mode::kNormal, "verify");
  pg::Connection target(config.target.conninfo, config.target.name, pg::Mode::kNormal, "verify");
  lo::SyncOptions options;
  options.force = true;
  options.against_target = true;
  const lo::SyncReport sync = lo::sync(source, target, config.name, options);
  for (uint32_t oid : sync.changed) spdlog::info("repaired large object {}", oid);
  report.repaired = sync.changed.size();
  resolve_others(target, config.name, {}, "repaired");
  spdlog::info("{}: {}", report.table, sync.summary());
  return report;
}

}  // namespace switchyard::verify
