// The cutover journal: one switchyard.switch_runs row per cutover or
// failback, and one switchyard.switch_journal row per step, written before
// the step runs (started) and after it (done or failed, with its duration).
// Both live in the target's control schema (docs/control-schema.md), which
// is what `status` reads and what a re-run recovers from.
//
// Journal writes are asynchronous commits (a step's journal row costs no
// disk flush inside the freeze) except the one that passes the point of no
// return, which commits durably together with the new stream direction.
// Inside the freeze the journal does not wait for its answers either
// (answer_later()): a row is sent and the step goes on; the answer is
// collected before the next write, so an error still stops the run there.
// A row sent whole is written by the server even if the process dies.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "control/control_schema.h"
#include "cutover/state_machine.h"
#include "drivers/pg/connection.h"

namespace switchyard::cutover {

struct RunRecord {
  int64_t run_id = 0;
  Operation operation = Operation::kCutover;
  std::string state;  // running, completed, rolled_back
  std::vector<JournalEntry> entries;
};

// A run of a stream as `status` and the service show it.
struct RunReport {
  struct StepRow {
    int step_no = 0;
    std::string step, state, detail;
    int attempts = 1;
    std::optional<double> duration_ms;
  };
  int64_t run_id = 0;
  std::string operation, state, started_at, finished_at, detail;
  std::string requested_by;  // "" when not recorded
  std::optional<double> freeze_ms;
  double freeze_budget_ms = 0;
  std::vector<StepRow> steps;
};
// The latest run of a stream.
std::optional<RunReport> last_run(pg::Connection& home, const std::string& stream);
// Run `run_id` of a stream, if it is one of its runs.
std::optional<RunReport> find_run(pg::Connection& home, const std::string& stream, int64_t run_id);

class Journal {
 public:
  // `home` is the target's control-schema session; it must stay open.
  Journal(pg::Connection& home, std::string stream);

  // The run of this stream still marked running, if any (its process died).
  std::optional<RunRecord> interrupted_run();

  // `requested_by`: who asked ("" when unknown).
  void begin_run(Operation operation, std::chrono::milliseconds freeze_budget,
                 const std::string& requested_by);
  // Continue a run found by interrupted_run().
  void adopt_run(const RunRecord& run);
  int64_t run_id() const { return run_id_; }

  // `durable`: commit with a disk flush (the start of the freeze, so that a
  // crash of the target server itself cannot hide that a freeze began, and
  // with it that the router may point elsewhere).
  void started(Step step, bool durable = false);
  void done(Step step, const std::string& detail = {});
  void failed(Step step, const std::string& detail);
  // Step 8 (the switch) starts, and the stream's direction flips, in one
  // durable commit, with `also` (statements for the same transaction, on
  // the journal's database) if given.
  void pass_point_of_no_return(control::Direction new_direction, const std::string& also = {});

  // From now on, step rows that need no disk flush are sent without
  // waiting for their answers (false: collect the last answer, and wait
  // again). For the freeze, where clients wait on every round trip.
  void answer_later(bool later);
  // A statement timeout for the journal's own writes (0: none).
  void hold_to(std::chrono::milliseconds limit);
  // How long writes were frozen, recorded as soon as RESUME is done.
  void record_freeze(double freeze_ms);

  // Ends the run: completed or rolled_back; freeze_ms if known.
  void finish(const std::string& state, std::optional<double> freeze_ms, const std::string& detail);

 private:
  // Runs "BEGIN; ...; COMMIT" in one round trip; rolls back on an error.
  void durably(const std::string& transaction);
  // kStarted for `step`, with literals, to run with other statements.
  std::string started_sql(Step step) const;
  // Runs a write now, or sends it if answers may come later.
  void write(const char* sql, const pg::Params& params, bool may_wait);
  // Collects the answer to a write sent earlier; throws its error.
  void settle();

  pg::Connection& home_;
  std::string stream_;
  int64_t run_id_ = 0;
  Operation operation_ = Operation::kCutover;
  std::chrono::steady_clock::time_point step_started_{};
  bool answer_later_ = false;
  bool awaiting_ = false;  // a write was sent, its answer not collected
};

}  // namespace switchyard::cutover
