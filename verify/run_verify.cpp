#include "verify/run_verify.h"

#include <chrono>
#include <ctime>
#include <functional>
#include <thread>

#include "common/backoff.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/shutdown.h"
#include "common/units.h"
#include "control/control_schema.h"
#include "verify/large_objects.h"
#include "verify/legacy_sides.h"

namespace switchyard::verify {
namespace {

using Clock = std::chrono::steady_clock;

// `target` names the receiving side, as the configuration does.
void log_table(const TableReport& report, const std::string& target) {
  const double mb = static_cast<double>(report.bytes) / (1 << 20);
  spdlog::info(
      "{}: {} rows compared ({} on the {}) in {} chunks, {:.1f} MB/s; {} re-checked, "
      "{} mismatches, {} in flight; {}",
      report.table, report.source_rows, report.target_rows, target, report.chunks,
      report.seconds > 0 ? mb / report.seconds : 0.0, report.rechecked, report.mismatches.size(),
      report.in_flight.size(), format_duration(report.seconds));
}

// The pass's figures for /metrics.
void count_table(const TableReport& report) {
  metrics::VerifyMetrics& verify = metrics::verify();
  verify.rows_compared.Increment(static_cast<double>(report.source_rows));
  if (report.whole_table && report.completed && report.mismatches.empty() &&
      report.in_flight.empty()) {
    verify.last_clean_pass.Add({{"table", report.table}})
        .Set(static_cast<double>(std::time(nullptr)));
  }
}

// Chunks by state and open mismatches, as the receiving side's control
// schema holds them after a pass, for /metrics.
void publish_findings(const Config& config) {
  pg::Connection home(config.target.conninfo, config.target.name, pg::Mode::kNormal, "verify");
  pg::Result rows = home.exec(
      "SELECT s.status, (SELECT count(*) FROM switchyard.verify_chunks c "
      "                  WHERE c.stream = $1 AND c.status = s.status), "
      "       (SELECT count(*) FROM switchyard.mismatches m "
      "        WHERE m.stream = $1 AND m.resolved_at IS NULL) "
      "FROM (VALUES ('clean'), ('mismatch'), ('in_flight')) s (status)",
      {config.name});
  metrics::VerifyMetrics& verify = metrics::verify();
  for (int row = 0; row < rows.rows(); ++row) {
    verify.chunks.Add({{"state", rows.str(row, 0)}}).Set(static_cast<double>(rows.int64(row, 1)));
    verify.mismatches_open.Set(static_cast<double>(rows.int64(row, 2)));
  }
}

boost::json::object finding_json(const Finding& finding, bool with_kind) {
  boost::json::object item;
  item["table"] = finding.table;
  item["key"] = finding.key_json;
  if (with_kind) item["kind"] = to_string(finding.kind);
  return item;
}

const char* mode_name(Mode mode) {
  switch (mode) {
    case Mode::kContinuous:
      return "continuous";
    case Mode::kOnce:
      return "full";
    case Mode::kDirtyOnly:
      return "dirty-only";
    case Mode::kRepair:
      return "repair";
  }
  return "?";
}

}  // namespace

size_t Outcome::mismatches() const {
  size_t count = 0;
  for (const auto& table : tables) count += table.mismatches.size();
  return count;
}

size_t Outcome::in_flight() const {
  size_t count = 0;
  for (const auto& table : tables) count += table.in_flight.size();
  for (const auto& repair : repairs) count += repair.unsettled + repair.skipped;
  return count;
}

ExitCode Outcome::exit_code() const {
  if (mismatches() > 0) return ExitCode::kMismatch;
  if (in_flight() > 0) return ExitCode::kInconclusive;
  return ExitCode::kOk;
}

boost::json::object Outcome::to_json() const {
  boost::json::object out;
  out["stream"] = stream;
  out["mode"] = mode_name(mode);
  const ExitCode code = exit_code();
  out["status"] = code == ExitCode::kOk         ? "parity"
                  : code == ExitCode::kMismatch ? "mismatch"
                                                : "inconclusive";
  uint64_t rows = 0;
  boost::json::array table_list, mismatch_list, in_flight_list, repair_list;
  for (const auto& table : tables) {
    boost::json::object item;
    item["table"] = table.table;
    item["rows_compared"] = table.source_rows;
    item["target_rows"] = table.target_rows;
    item["chunks"] = table.chunks;
    item["rechecked"] = table.rechecked;
    item["mismatches"] = table.mismatches.size();
    item["in_flight"] = table.in_flight.size();
    item["milliseconds"] = static_cast<int64_t>(table.seconds * 1000);
    table_list.push_back(std::move(item));
    rows += table.source_rows;
    for (const auto& finding : table.mismatches)
      mismatch_list.push_back(finding_json(finding, true));
    for (const auto& finding : table.in_flight)
      in_flight_list.push_back(finding_json(finding, false));
  }
  for (const auto& repair : repairs) {
    boost::json::object item;
    item["table"] = repair.table;
    item["repaired"] = repair.repaired;
    item["unsettled"] = repair.unsettled;
    item["skipped"] = repair.skipped;
    repair_list.push_back(std::move(item));
  }
  out["milliseconds"] = static_cast<int64_t>(seconds * 1000);
  if (mode == Mode::kRepair) {
    // A repair compares nothing: it re-reads the recorded mismatches.
    size_t repaired = 0;
    for (const auto& repair : repairs) repaired += repair.repaired;
    out["repaired"] = repaired;
    out["repairs"] = std::move(repair_list);
    out["left"] = in_flight();
    return out;
  }
  out["rows_compared"] = rows;
  out["tables"] = std::move(table_list);
  out["mismatches"] = std::move(mismatch_list);
  out["in_flight"] = std::move(in_flight_list);
  return out;
}

std::string Outcome::summary() const {
  auto count = [](size_t n, const char* noun) {
    return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
  };
  const std::string took = " in " + format_duration(seconds);
  if (mode == Mode::kRepair) {
    size_t repaired = 0, unsettled = 0, skipped = 0, repair_tables = 0;
    for (const auto& repair : repairs) {
      repaired += repair.repaired;
      unsettled += repair.unsettled;
      skipped += repair.skipped;
      if (repair.repaired + repair.unsettled + repair.skipped > 0) ++repair_tables;
    }
    if (repaired + unsettled + skipped == 0) return "repair: no open mismatches to repair";
    std::string line = "repair: " + count(repaired, "row") + " repaired in " +
                       count(repair_tables, "table") + took;
    if (unsettled > 0) {
      line += "; " + std::to_string(unsettled) +
              " kept changing or the stream lagged (run verify --repair again)";
    }
    if (skipped > 0) {
      line += "; " + std::to_string(skipped) +
              " in tables without a key, which rows cannot address (re-copy those tables)";
    }
    return line;
  }
  uint64_t rows = 0;
  size_t with_mismatches = 0;
  for (const auto& table : tables) {
    rows += table.source_rows;
    if (!table.mismatches.empty()) ++with_mismatches;
  }
  const std::string compared =
      count(tables.size(), "table") + ", " + count(rows, "row") + " compared" + took;
  switch (exit_code()) {
    case ExitCode::kOk:
      return "parity: " + compared;
    case ExitCode::kMismatch:
      return "mismatch: " + count(mismatches(), "row") + " differ in " +
             count(with_mismatches, "table") + " (" + compared +
             "); the log names them; verify --repair re-copies them";
    default:
      return "inconclusive: " + count(in_flight(), "row") +
             " not settled: still changing, or not applied yet (" + compared +
             "); the log says why; verify --dirty-only settles them";
  }
}

namespace {

// The two databases, as the source's engine has them read.
std::unique_ptr<Sides> make_sides(const Config& config) {
  if (config.source.odbc()) return std::make_unique<LegacySides>(config);
  return std::make_unique<PostgresSides>(config);
}

// Repairs the recorded mismatches of an ODBC legacy's tables.
std::vector<RepairReport> repair_legacy(const Config& config,
                                        const std::optional<std::string>& table) {
  auto owned = std::make_unique<LegacySides>(config);
  LegacySides& sides = *owned;
  Verifier verifier(config, std::move(owned));
  const auto open = store::open_mismatches(sides.control(), config.name);
  std::vector<RepairReport> reports;
  for (const TablePlan& plan : verifier.plan_tables(table)) {
    std::vector<KeyText> keys;
    for (const auto& mismatch : open) {
      if (mismatch.schema == plan.schema && mismatch.name == plan.name) {
        keys.push_back(mismatch.key);
      }
    }
    if (!keys.empty()) reports.push_back(sides.repair(plan, keys));
  }
  if (reports.empty()) {
    spdlog::info("no open mismatches{} to repair", table ? " in " + *table : "");
  }
  return reports;
}

// Passes over `plans` until the request is done: once, or (continuous)
// until a stop is requested.
// `turned_round`, if set, is asked between continuous passes: true ends
// them (the stream changed direction).
void run_passes(const Config& config, const Request& request, Verifier& verifier, Outcome& outcome,
                const std::function<bool()>& turned_round = {}) {
  const std::vector<TablePlan> plans = verifier.plan_tables(request.table);
  for (int pass = 1; !stop_requested(); ++pass) {
    outcome.tables.clear();
    for (const auto& plan : plans) {
      if (stop_requested() || verifier.abandoned()) break;
      TableReport report = request.mode == Mode::kDirtyOnly
                               ? verifier.dirty_pass(plan)
                               : verifier.full_pass(plan, /*rate_limited=*/true);
      log_table(report, config.target.name);
      count_table(report);
      outcome.tables.push_back(std::move(report));
    }
    if (verifier.abandoned()) return;
    publish_findings(config);
    // Large objects are compared by object, beside the tables (verify/large_objects.h).
    if (!request.table && request.mode != Mode::kDirtyOnly && !config.source.odbc() &&
        !stop_requested()) {
      outcome.tables.push_back(verify_large_objects(config));
    }
    if (request.mode != Mode::kContinuous) return;
    uint64_t rows = 0, rechecked = 0;
    for (const auto& table : outcome.tables) {
      rows += table.source_rows;
      rechecked += table.rechecked;
    }
    spdlog::info(
        "verify pass {} done: {} tables, {} rows, {} re-checked by position, {} "
        "mismatches, {} in flight; next pass in {}",
        pass, outcome.tables.size(), rows, rechecked, outcome.mismatches(), outcome.in_flight(),
        format_duration(config.verify.pass_interval.count() / 1000.0));
    if (!sleep_unless_stopped(config.verify.pass_interval)) return;
    if (turned_round && turned_round()) return;
  }
}

// After a cutover the stream runs target -> source: verify compares that
// way round, so positions, origin and findings are the reverse stream's.
control::Direction stream_direction(pg::Connection& home, const std::string& stream) {
  if (!control::read_stream(home, stream)) return control::Direction::kForward;
  return control::read_direction(home, stream);
}

control::Direction stream_direction(const Config& original) {
  pg::Connection home(original.target.conninfo, original.target.name);
  return stream_direction(home, original.name);
}

Config in_direction(const Config& original, control::Direction direction) {
  if (direction == control::Direction::kForward) return original;
  spdlog::info("{} is the primary since a cutover: comparing it with {}", original.target.name,
               original.source.name);
  return original.reversed();
}

}  // namespace

Outcome run_verify(const Config& original, const Request& request) {
  control::Direction direction = stream_direction(original);
  Config config = in_direction(original, direction);
  const auto started = Clock::now();
  Outcome outcome;
  outcome.mode = request.mode;
  outcome.stream = config.name;
  if (request.mode == Mode::kRepair && config.source.odbc()) {
    outcome.repairs = repair_legacy(config, request.table);
  } else if (request.mode == Mode::kRepair) {
    auto sides = std::make_unique<PostgresSides>(config);
    PostgresSides& postgres = *sides;
    Verifier verifier(config, std::move(sides));
    outcome.repairs = repair_mismatches(config, verifier, postgres, request.table);
    if (!request.table) outcome.repairs.push_back(repair_large_objects(config));
  } else if (request.mode != Mode::kContinuous) {
    Verifier verifier(config, make_sides(config));
    run_passes(config, request, verifier, outcome);
  } else {
    // Continuous verify runs for weeks: a lost connection or a restarting
    // server costs a reconnect, not the process.
    Backoff backoff(std::chrono::milliseconds(500), config.stream.reconnect_max);
    bool turned_before = false;
    while (!stop_requested()) {
      try {
        // A cutover or failback turns the comparison round: it ends the
        // pass under way, and the next one compares the other way.
        pg::Connection home(original.target.conninfo, original.target.name, pg::Mode::kNormal,
                            "verify");
        direction = stream_direction(home, original.name);
        config = in_direction(original, direction);
        Verifier verifier(config, make_sides(config));
        const auto turned = [&] { return stream_direction(home, original.name) != direction; };
        verifier.abandon_when(turned);
        // A cutover that is preparing compares what changed itself (round
        // after round, then with writes frozen): the pass waits for it.
        verifier.yield_while([&verifier, &config] {
          return control::read_exact_marks_request(verifier.sides().control(), config.name)
              .requested;
        });
        if (turned_before) {
          // The stream of the new direction starts a moment after the
          // switch: compared before it runs, every changed row would look
          // stranded.
          for (int waited = 0; waited < 120 && !verifier.sides().stream_running(); ++waited) {
            if (!sleep_unless_stopped(std::chrono::milliseconds(500))) break;
          }
        }
        backoff.reset();
        run_passes(config, request, verifier, outcome, turned);
        turned_before = true;  // run_passes returns early only when the stream turned round
      } catch (const Error& error) {
        if (!error.retryable() || stop_requested()) throw;
        const auto delay = backoff.next_delay();
        spdlog::warn("{}; reconnecting in {} ms", error.what(), delay.count());
        if (!sleep_unless_stopped(delay)) break;
      }
    }
  }
  outcome.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return outcome;
}

}  // namespace switchyard::verify
