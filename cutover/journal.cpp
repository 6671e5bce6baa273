#include "cutover/journal.h"

#include "common/error.h"
#include "drivers/pg/sql.h"

namespace switchyard::cutover {
namespace {

// Records one step's start: a new row, or one more attempt of a step that
// an interrupted run had started.
constexpr const char* kStarted =
    "INSERT INTO switchyard.switch_journal (run_id, operation, step_no, step, state, started_at) "
    "VALUES ($1, $2, $3, $4, 'started', pg_catalog.clock_timestamp()) "
    "ON CONFLICT (run_id, step_no) DO UPDATE SET state = 'started', step = excluded.step, "
    "  attempts = switch_journal.attempts + 1, started_at = excluded.started_at, "
    "  finished_at = NULL, duration_ms = NULL, detail = NULL";

constexpr const char* kFinished =
    "UPDATE switchyard.switch_journal SET state = $3, finished_at = pg_catalog.clock_timestamp(), "
    "  duration_ms = $4, detail = NULLIF($5, '') "
    "WHERE run_id = $1 AND step_no = $2";

std::string step_no(Step step) {
  return std::to_string(static_cast<int>(step));
}

}  // namespace

namespace {

// The run `run_id` of `stream`, or its latest when run_id is 0.
std::optional<RunReport> read_run(pg::Connection& home, const std::string& stream, int64_t run_id) {
  if (home.exec("SELECT pg_catalog.to_regclass('switchyard.switch_runs')").is_null(0, 0)) {
    return std::nullopt;
  }
  pg::Result runs = home.exec(
      "SELECT run_id, operation, state, started_at::text, coalesce(finished_at::text, ''), "
      "       coalesce(detail, ''), freeze_ms, freeze_budget_ms, coalesce(requested_by, '') "
      "FROM switchyard.switch_runs WHERE stream = $1 AND ($2::bigint = 0 OR run_id = $2::bigint) "
      "ORDER BY run_id DESC LIMIT 1",
      {stream, std::to_string(run_id)});
  if (runs.rows() == 0) return std::nullopt;
  RunReport report;
  report.run_id = runs.int64(0, 0);
  report.operation = runs.str(0, 1);
  report.state = runs.str(0, 2);
  report.started_at = runs.str(0, 3);
  report.finished_at = runs.str(0, 4);
  report.detail = runs.str(0, 5);
  if (!runs.is_null(0, 6)) report.freeze_ms = std::stod(runs.str(0, 6));
  report.freeze_budget_ms = std::stod(runs.str(0, 7));
  report.requested_by = runs.str(0, 8);
  pg::Result steps = home.exec(
      "SELECT step_no, step, state, attempts, duration_ms, coalesce(detail, '') "
      "FROM switchyard.switch_journal WHERE run_id = $1 ORDER BY step_no",
      {std::to_string(report.run_id)});
  for (int row = 0; row < steps.rows(); ++row) {
    RunReport::StepRow step;
    step.step_no = static_cast<int>(steps.int64(row, 0));
    step.step = steps.str(row, 1);
    step.state = steps.str(row, 2);
    step.attempts = static_cast<int>(steps.int64(row, 3));
    if (!steps.is_null(row, 4)) step.duration_ms = std::stod(steps.str(row, 4));
    step.detail = steps.str(row, 5);
    report.steps.push_back(std::move(step));
  }
  return report;
}

}  // namespace

std::optional<RunReport> last_run(pg::Connection& home, const std::string& stream) {
  return read_run(home, stream, 0);
}

std::optional<RunReport> find_run(pg::Connection& home, const std::string& stream, int64_t run_id) {
  if (run_id <= 0) return std::nullopt;
  return read_run(home, stream, run_id);
}

Journal::Journal(pg::Connection& home, std::string stream)
    : home_(home), stream_(std::move(stream)) {
  home_.exec("SET synchronous_commit = off");
}

std::optional<RunRecord> Journal::interrupted_run() {
  settle();
  pg::Result runs = home_.exec(
      "SELECT run_id, operation, state FROM switchyard.switch_runs "
      "WHERE stream = $1 AND state = 'running' ORDER BY run_id DESC LIMIT 1",
      {stream_});
  if (runs.rows() == 0) return std::nullopt;
  RunRecord run;
  run.run_id = runs.int64(0, 0);
  run.operation = operation_from_string(runs.str(0, 1)).value_or(Operation::kCutover);
  run.state = runs.str(0, 2);
  pg::Result steps = home_.exec(
      "SELECT step_no, state, step FROM switchyard.switch_journal WHERE run_id = $1 "
      "ORDER BY step_no",
      {std::to_string(run.run_id)});
  for (int row = 0; row < steps.rows(); ++row) {
    // By name first: before the router step existed, 7 was the switch.
    auto step = step_from_name(steps.str(row, 2));
    if (!step) step = step_from_number(static_cast<int>(steps.int64(row, 0)));
    auto state = step_state_from_string(steps.str(row, 1));
    if (step && state) run.entries.push_back({*step, *state});
  }
  return run;
}

void Journal::begin_run(Operation operation, std::chrono::milliseconds freeze_budget,
                        const std::string& requested_by) {
  settle();
  operation_ = operation;
  run_id_ = home_
                .exec(
                    "INSERT INTO switchyard.switch_runs (stream, operation, state, "
                    "freeze_budget_ms, requested_by) VALUES ($1, $2, 'running', $3, "
                    "NULLIF($4, '')) RETURNING run_id",
                    {stream_, std::string(to_string(operation)),
                     std::to_string(freeze_budget.count()), requested_by})
                .int64(0, 0);
}

void Journal::adopt_run(const RunRecord& run) {
  run_id_ = run.run_id;
  operation_ = run.operation;
}

void Journal::settle() {
  if (!awaiting_) return;
  awaiting_ = false;
  home_.receive();
}

void Journal::write(const char* sql, const pg::Params& params, bool may_wait) {
  settle();
  if (!answer_later_ || !may_wait) {
    home_.exec(sql, params);
    return;
  }
  home_.send(sql, params);
  awaiting_ = true;
}

void Journal::answer_later(bool later) {
  if (!later) settle();
  answer_later_ = later;
}

void Journal::hold_to(std::chrono::milliseconds limit) {
  settle();
  home_.exec("SET statement_timeout = " + std::to_string(limit.count()));
}

void Journal::started(Step step, bool durable) {
  const pg::Params params{std::to_string(run_id_), std::string(to_string(operation_)),
                          step_no(step), std::string(to_string(step))};
  if (durable) {
    // One round trip: the flush is what takes time here.
    settle();
    durably("BEGIN; SET LOCAL synchronous_commit = on; " + started_sql(step) + "; COMMIT");
  } else {
    write(kStarted, params, /*may_wait=*/true);
  }
  step_started_ = std::chrono::steady_clock::now();
}

void Journal::done(Step step, const std::string& detail) {
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - step_started_)
          .count();
  write(kFinished,
        {std::to_string(run_id_), step_no(step), std::string("done"), std::to_string(ms), detail},
        /*may_wait=*/true);
}

void Journal::failed(Step step, const std::string& detail) {
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - step_started_)
          .count();
  write(kFinished,
        {std::to_string(run_id_), step_no(step), std::string("failed"), std::to_string(ms), detail},
        /*may_wait=*/false);
}

void Journal::pass_point_of_no_return(control::Direction new_direction, const std::string& also) {
  settle();
  // One round trip (clients are still frozen): a failure in any statement
  // rolls back the whole string, which runs as one transaction.
  durably("BEGIN; SET LOCAL synchronous_commit = on; " + started_sql(kPointOfNoReturn) + "; " +
          control::set_direction_sql(stream_, new_direction) + "; " +
          (also.empty() ? std::string() : also + "; ") + "COMMIT");
  step_started_ = std::chrono::steady_clock::now();
}

void Journal::durably(const std::string& transaction) {
  try {
    home_.exec(transaction);
  } catch (...) {
    // A statement that failed left the transaction block open, aborted.
    if (home_.ok()) home_.exec("ROLLBACK");
    throw;
  }
}

std::string Journal::started_sql(Step step) const {
  std::string insert = kStarted;
  const std::string values[] = {std::to_string(run_id_), std::string(to_string(operation_)),
                                step_no(step), std::string(to_string(step))};
  for (size_t i = std::size(values); i > 0; --i) {
    const std::string placeholder = "$" + std::to_string(i);
    insert.replace(insert.find(placeholder), placeholder.size(), pg::quote_literal(values[i - 1]));
  }
  return insert;
}

void Journal::record_freeze(double freeze_ms) {
  settle();
  home_.exec("UPDATE switchyard.switch_runs SET freeze_ms = $2 WHERE run_id = $1",
             {std::to_string(run_id_), std::to_string(freeze_ms)});
}

void Journal::finish(const std::string& state, std::optional<double> freeze_ms,
                     const std::string& detail) {
  settle();
  std::optional<std::string> freeze;
  if (freeze_ms) freeze = std::to_string(*freeze_ms);
  home_.exec(
      "UPDATE switchyard.switch_runs SET state = $2, freeze_ms = COALESCE($3::float8, freeze_ms), "
      "finished_at = pg_catalog.clock_timestamp(), detail = NULLIF($4, '') WHERE run_id = $1",
      {std::to_string(run_id_), state, freeze, detail});
}

}  // namespace switchyard::cutover
