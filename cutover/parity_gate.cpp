#include "cutover/parity_gate.h"

#include <algorithm>
#include <functional>
#include <future>
#include <thread>

#include "common/error.h"
#include "common/log.h"
#include "common/units.h"
#include "control/control_schema.h"
#include "control/large_objects.h"
#include "cutover/keyless_proof.h"

namespace switchyard::cutover {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
namespace lo = control::large_objects;

// Converging stops when no more than this many keys wait: the gate then
// reads them in one round trip per side (verify reads 5000 keys at a time).
constexpr uint64_t kFewKeys = 500;
// Beside the freeze, the pause after a round that found nothing marked.
constexpr auto kIdleRoundPause = std::chrono::milliseconds(10);
// Rounds stop after this long whatever is left: a table changing faster
// than it can be compared leaves its rows to the gate (and its budget).
constexpr auto kConvergeAtMost = std::chrono::seconds(60);
// Long enough for any preflight; a killed run's request lapses after it.
constexpr std::chrono::seconds kExactMarksFor{600};

bool marked(const std::vector<verify::store::MarkCount>& marks, const verify::TablePlan& plan) {
  return std::any_of(marks.begin(), marks.end(), [&](const auto& mark) {
    return mark.schema == plan.schema && mark.name == plan.name;
  });
}

// A mismatch found before the freeze refuses the cutover.
void refuse_mismatches(const verify::TableReport& report) {
  if (!report.mismatches.empty()) {
    const auto& first = report.mismatches.front();
    throw Error(ErrorKind::kPrecondition, "verify: " + std::to_string(report.mismatches.size()) +
                                              " mismatches in " + report.table + " (e.g. key " +
                                              boost::json::serialize(first.key_json) +
                                              "); run verify --repair, then try again");
  }
}

// What is left of the freeze budget; Error(kTimeout) when nothing is.
milliseconds time_left(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) throw Error(ErrorKind::kTimeout, "parity gate: no time left");
  return left;
}

// The statement that holds a session's statements to `left`.
std::string statement_timeout(milliseconds left) {
  return "SET statement_timeout = " + std::to_string(left.count());
}

}  // namespace

ParityGate::ParityGate(const Config& current) : config_(current) {
  auto sides = std::make_unique<verify::PostgresSides>(config_);
  sides_ = sides.get();
  verifier_ = std::make_unique<verify::Verifier>(config_, std::move(sides));
  plans_ = verifier_->plan_tables(std::nullopt);
  for (const auto& plan : plans_) {
    if (!plan.keyless()) keyed_.push_back(&plan);
  }
  keyless_ = std::make_unique<KeylessProof>(*sides_, config_);
  lo_source_ = std::make_unique<pg::Connection>(config_.source.conninfo, config_.source.name,
                                                pg::Mode::kNormal, "cutover");
  lo_target_ = std::make_unique<pg::Connection>(config_.target.conninfo, config_.target.name,
                                                pg::Mode::kNormal, "cutover");
}

ParityGate::~ParityGate() {
  release();
}

void ParityGate::release() noexcept {
  if (!requested_) return;
  try {
    control::release_exact_marks(sides_->control(), config_.name);
    requested_ = false;
  } catch (const std::exception& error) {
    spdlog::warn("could not release the exact-marks request (it lapses by itself): {}",
                 error.what());
  }
}

verify::TableReport ParityGate::compare(const verify::TablePlan& plan) {
  // By key however many: a full pass of a large table in every round would
  // let an insert-heavy table outrun the rounds.
  verify::TableReport report = verifier_->dirty_pass(plan, /*by_key_always=*/true);
  refuse_mismatches(report);
  return report;
}

ParityGate::Convergence ParityGate::converge(int max_rounds) {
  pg::Connection& control = sides_->control();
  if (!requested_) {
    control::request_exact_marks(control, config_.name, kExactMarksFor);
    requested_ = true;
  }
  // Large objects first, so that the last round of rows is the last thing
  // before the freeze: the first time against the new primary's actual
  // objects (which also rebuilds the record a reverse stream left stale),
  // then what changed since. The freeze is left with the last moments'
  // changes.
  lo::SyncOptions options;
  options.against_target = !lo_against_target_done_;
  const lo::SyncReport objects = lo::sync(*lo_source_, *lo_target_, config_.name, options);
  lo_against_target_done_ = true;
  spdlog::info("parity gate: {} before the freeze, in {}", objects.summary(),
               format_duration(objects.seconds));
  Convergence result;
  uint64_t previous_left = UINT64_MAX;
  const auto give_up_at = Clock::now() + kConvergeAtMost;
  while (result.rounds < max_rounds && Clock::now() < give_up_at) {
    ++result.rounds;
    // A table without a key, once: proven by the stream's row log, which
    // covers every later change (cutover/keyless_proof.h), or else compared
    // whole, as the gate will again. Every such table, marked or not: a
    // change in the last moments would otherwise leave a whole table to the
    // freeze.
    if (result.rounds == 1 && !keyless_compared_) {
      const auto marks = verify::store::count_marks(control, config_.name);
      for (const auto& plan : plans_) {
        if (!plan.keyless()) continue;
        if (keyless_->prove(plan)) {
          proven_keyless_.insert(plan.display);
          continue;
        }
        if (!marked(marks, plan)) continue;
        const verify::TableReport report = compare(plan);
        result.rows_compared += report.source_rows;
        if (report.seconds > result.slowest_keyless_seconds) {
          result.slowest_keyless_seconds = report.seconds;
          result.slowest_keyless = plan.display;
        }
      }
    }
    // A row that differs is re-checked in the first round only (a real
    // mismatch refuses the cutover before anything freezes); later rounds
    // carry such rows (hot ones, as a rule) to the next, and the last to the
    // gate, where they cannot change. A round that waited for hot rows would
    // let a loader's keys pile up for the freeze.
    verify::Verifier::RoundOptions round;
    round.recheck = result.rounds == 1;
    // Every table with a key in each round: one snapshot per side for all.
    for (const verify::TableReport& report : verifier_->dirty_round(keyed_, round).reports) {
      refuse_mismatches(report);
      result.rows_compared +=
          report.source_rows - std::min<uint64_t>(report.source_rows, report.in_flight.size());
    }
    const Marked left = marked_now();
    result.keys_left = left.keys;
    result.whole_tables_left = left.whole_tables;
    // A whole-table mark written before the apply loop saw the request is
    // gone after one more round; rows changing faster than a round
    // compares them never get fewer, and the gate takes them as they are.
    if (result.whole_tables_left == 0 &&
        (result.keys_left <= kFewKeys || result.keys_left >= previous_left)) {
      break;
    }
    previous_left = result.keys_left;
  }
  keyless_compared_ = true;
  result.keyless_proven.assign(proven_keyless_.begin(), proven_keyless_.end());
  return result;
}

void ParityGate::hold_sessions_to(Clock::time_point deadline) {
  const std::string timeout = statement_timeout(time_left(deadline));
  auto source = std::async(std::launch::async, [&] { sides_->source().exec(timeout); });
  auto target = std::async(std::launch::async, [&] { sides_->target().exec(timeout); });
  sides_->control().exec(timeout);
  source.get();
  target.get();
}

uint64_t ParityGate::narrow(Clock::time_point deadline, const std::atomic<bool>* again) {
  hold_sessions_to(deadline);
  verify::Verifier::RoundOptions options;
  options.recheck = false;
  options.by_key_only = true;
  options.go_on = again;
  uint64_t equal = 0;
  do {
    uint64_t read = 0;
    for (const verify::TableReport& report : verifier_->dirty_round(keyed_, options).reports) {
      read += report.source_rows;
      equal += report.source_rows - std::min<uint64_t>(report.source_rows, report.in_flight.size());
    }
    // Nothing marked: the stream has not committed what came before yet
    // (it does at least every 100 ms while a cutover prepares). Asking
    // again at once would only take the cores the transactions PAUSE
    // waits for need: with few changes, a 1 ms loop doubled PAUSE.
    if (read == 0 && again && again->load()) std::this_thread::sleep_for(kIdleRoundPause);
  } while (again && again->load() && Clock::now() < deadline);
  narrowed_ = equal;
  return equal;
}

ParityGate::Marked ParityGate::marked_now() {
  Marked marked;
  for (const auto& mark : verify::store::count_marks(sides_->control(), config_.name)) {
    marked.keys += mark.keys;
    // A keyless table is always marked whole: it has no key to mark by.
    const bool keyless = std::any_of(plans_.begin(), plans_.end(), [&](const auto& plan) {
      return plan.keyless() && plan.schema == mark.schema && plan.name == mark.name;
    });
    if (mark.whole_table && !keyless) ++marked.whole_tables;
  }
  return marked;
}

// With writes frozen: sync what changed since converge() (the stamp tells
// whether anything did), then prove that both sides hold the same objects
// with the same owners, and the record agrees (a catalog read, no bytes).
std::string ParityGate::large_objects_frozen(Clock::time_point deadline) {
  const std::string timeout = statement_timeout(time_left(deadline));
  lo_source_->exec(timeout);
  lo_target_->exec(timeout);
  lo::SyncOptions options;
  options.deadline = deadline;
  const lo::SyncReport synced = lo::sync(*lo_source_, *lo_target_, config_.name, options);
  const lo::Objects source = lo::read_objects(*lo_source_, false);
  const lo::Objects target = lo::read_objects(*lo_target_, false);
  lo::Objects recorded_owners = lo::read_records(*lo_target_, config_.name).objects;
  for (auto& [oid, object] : recorded_owners) object.md5.clear();
  const lo::Objects& recorded = recorded_owners;
  for (const auto* other : {&target, &recorded}) {
    const auto differences = lo::compare(source, *other);
    if (!differences.empty()) {
      throw Error(ErrorKind::kPrecondition,
                  "parity gate: large object " + std::to_string(differences.front().oid) +
                      " differs with writes frozen (" + lo::to_string(differences.front().kind) +
                      (other == &target ? "" : " in the record") + ")");
    }
  }
  for (pg::Connection* side : {lo_source_.get(), lo_target_.get()}) {
    side->exec("SET statement_timeout = 0");
  }
  std::string detail = std::to_string(source.size()) + " large objects equal";
  if (synced.digested) {
    detail += " (" + std::to_string(synced.copied + synced.owners + synced.unlinked) +
              " synced in the freeze)";
  }
  return detail;
}

ParityGate::RowLogChecks ParityGate::row_log_checks() const {
  RowLogChecks logs;
  for (const auto& plan : plans_) {
    std::optional<std::string> check;
    if (plan.keyless() && proven_keyless_.count(plan.display)) check = keyless_->still_holds(plan);
    if (check) {
      logs.tables.push_back(&plan);
      logs.checks.push_back(std::move(*check));
    } else {
      logs.others.push_back(&plan);
    }
  }
  return logs;
}

void ParityGate::warm_up() {
  sides_->warm_applied_visible(row_log_checks().checks);
}

std::string ParityGate::run_frozen(Clock::time_point deadline, double round_wait_ms) {
  const milliseconds left = time_left(deadline);
  // Large objects on their own sessions, beside the rows.
  auto objects = std::async(std::launch::async, [this, deadline] {
    const auto objects_started = Clock::now();
    return large_objects_frozen(deadline) + " in " +
           format_duration(std::chrono::duration<double>(Clock::now() - objects_started).count());
  });
  // Every wait inside the gate is held to the time left: statements, and
  // the re-check's wait for the target (already drained, so it is short).
  config_.verify.recheck_timeout = left;
  // The drain saw the last apply transaction's position; its rows and
  // marks must also be visible before the marks are read. The control
  // session's timeout goes in the first round trip of that wait, the two
  // sides' beside it, and the row logs of the tables without a key proven
  // before the freeze are read in the statement that finds the apply
  // visible (a round trip less).
  RowLogChecks logs = row_log_checks();
  std::vector<const verify::TablePlan*>& plans = logs.others;
  const std::string timeout = statement_timeout(left);
  auto source_timeout = std::async(std::launch::async, [&] { sides_->source().exec(timeout); });
  auto target_timeout = std::async(std::launch::async, [&] { sides_->target().exec(timeout); });
  const auto visible_started = Clock::now();
  const auto visible = sides_->wait_applied_visible(deadline, timeout, logs.checks);
  const double visible_ms = ms_since(visible_started);
  const auto timeouts_started = Clock::now();
  source_timeout.get();
  target_timeout.get();
  const double timeouts_ms = ms_since(timeouts_started);
  std::vector<std::string> proven;
  for (size_t logged_idx = 0; logged_idx < logs.tables.size(); ++logged_idx) {
    if (visible.values[logged_idx] == "t") {
      proven.push_back(logs.tables[logged_idx]->display);
    } else {
      plans.push_back(logs.tables[logged_idx]);  // compared whole, as if never proven
    }
  }

  // Every marked row of every table, in one snapshot per side; the marks
  // proven equal are cleared after the freeze (clear_compared()).
  verify::Verifier::RoundOptions options;
  options.keep_marks = true;
  verify::Verifier::Round round = verifier_->dirty_round(plans, options);
  compared_marks_ = std::move(round.marks_to_clear);
  uint64_t rows = 0;
  std::vector<std::string> whole;
  std::vector<std::pair<uint64_t, std::string>> largest;
  for (const verify::TableReport& report : round.reports) {
    if (!report.mismatches.empty() || !report.in_flight.empty()) {
      const auto& finding =
          report.mismatches.empty() ? report.in_flight.front() : report.mismatches.front();
      throw Error(ErrorKind::kPrecondition,
                  "parity gate: " + report.table + " differs with writes frozen (" +
                      std::to_string(report.mismatches.size() + report.in_flight.size()) +
                      " rows, e.g. key " + boost::json::serialize(finding.key_json) + ")");
    }
    rows += report.source_rows;
    largest.emplace_back(report.source_rows, report.table);
    if (report.whole_table) whole.push_back(report.table);
  }
  if (Clock::now() > deadline) {
    throw Error(ErrorKind::kTimeout, "parity gate: the freeze budget ran out comparing rows");
  }

  // What the gate read, the largest tables first: what a DBA looks at when
  // the freeze ran long.
  std::sort(largest.begin(), largest.end(), std::greater<>());
  std::string detail = std::to_string(rows) + " changed rows equal";
  for (size_t i = 0; i < largest.size() && i < 3; ++i) {
    detail += (i ? ", " : " (") + largest[i].second + " " + std::to_string(largest[i].first);
  }
  if (!largest.empty()) detail += largest.size() > 3 ? ", ...)" : ")";
  detail += ", " + std::to_string(round.reads) + " reads per side in " +
            format_duration(round.read_seconds);
  // Where the rest of the step went, for a DBA whose freeze ran long.
  char before[256];
  std::snprintf(before, sizeof before,
                " after %.1f ms waiting for the round beside the freeze to stop, %.1f waiting "
                "for the last apply (%d statements, the row logs read with it), %.1f more for "
                "the sides' timeouts, %.1f reading the marks",
                round_wait_ms, visible_ms, visible.polls, timeouts_ms, round.marks_seconds * 1000);
  detail += before;
  if (narrowed_ > 0) {
    detail += " (and " + std::to_string(narrowed_) + " found equal while the router froze)";
  }
  const auto objects_wait_started = Clock::now();
  detail += "; " + objects.get();
  const double objects_wait_ms = ms_since(objects_wait_started);
  if (objects_wait_ms >= 0.1) {
    char waited[64];
    std::snprintf(waited, sizeof waited, " (waited %.1f ms for them)", objects_wait_ms);
    detail += waited;
  }
  if (!proven.empty()) {
    detail += "; proven by the stream's row log (no key):";
    for (const auto& table : proven) detail += " " + table;
  }
  if (!whole.empty()) {
    detail += "; compared whole (no key to mark by):";
    for (const auto& table : whole) detail += " " + table;
  }
  return detail;
}

void ParityGate::clear_compared() noexcept {
  if (compared_marks_.empty()) return;
  try {
    pg::Connection& control = sides_->control();
    control.exec("SET statement_timeout = 0");
    pg::Transaction transaction(control);
    verify::store::clear_dirty(control, compared_marks_);
    transaction.commit();
    compared_marks_.clear();
  } catch (const std::exception& error) {
    spdlog::warn(
        "could not clear the marks the parity gate compared (verify compares them again): {}",
        error.what());
  }
}

}  // namespace switchyard::cutover
