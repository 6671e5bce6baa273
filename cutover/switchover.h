// cutover and failback: the journaled, crash-safe switch of the primary.
//
// A cutover moves the primary from the source (the legacy) to the target;
// a failback moves it back. Both are one procedure (state_machine.h) run in
// opposite directions:
//
//                cutover                       failback
//   old primary  source                        target
//   new primary  target                        source
//   stream       forward -> reverse            reverse -> forward
//
// run_switch() first settles any run a killed process left behind (rolling
// it back, or completing it past the point of no return), then runs the
// steps. A running `switchyard replicate` is required: it drains the old
// direction and, told by the direction in the control schema, streams the
// new one without a restart.
// Only one switch of a stream runs at a time: a run holds an advisory lock
// on the target (control/advisory_lock.h) from before it settles an
// interrupted run to its end; another is refused (AlreadyRunning).
#pragma once

#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/error.h"
#include "cutover/preflight.h"
#include "cutover/state_machine.h"

namespace switchyard::cutover {

struct SwitchOptions {
  Operation operation = Operation::kCutover;
  bool dry_run = false;                                    // preflight and the plan only
  std::optional<std::chrono::milliseconds> freeze_budget;  // overrides cutover.freeze_budget
  std::string requested_by;  // who asked, kept with the run: "cli (user)", an API token's name
};

// What a run will do and what its preflight found: a dry run's answer, and
// a refusal's.
struct Plan {
  Operation operation = Operation::kCutover;
  std::string old_primary, new_primary, router;
  std::chrono::milliseconds freeze_budget{0};
  std::chrono::milliseconds rolls_back_after{0};  // the budget less what a rollback needs
  std::optional<double> last_freeze_ms;           // the last completed run's freeze
  std::string last_operation;                     // ... and what that run was
  PreflightFacts facts;

  bool refused() const { return facts.refusal() != nullptr; }
  std::string to_text() const;  // what `--dry-run` prints
  boost::json::object to_json() const;
};

// The preflight refused: nothing was changed. Carries the plan with every
// check, for whoever asked.
class Refused : public Error {
 public:
  Refused(const std::string& message, Plan plan)
      : Error(ErrorKind::kPrecondition, message), plan_(std::move(plan)) {}
  const Plan& plan() const { return plan_; }

 private:
  Plan plan_;
};

// Another cutover or failback of this stream is running.
class AlreadyRunning : public Error {
 public:
  explicit AlreadyRunning(const std::string& message) : Error(ErrorKind::kPrecondition, message) {}
};

// One cutover or failback, in two halves, so that a service can answer
// whoever asked between them: the constructor takes the lock, settles an
// interrupted run, and runs step 1 (the preflight, and the preparation
// before the freeze); run() does steps 2-9.
class SwitchRun {
 public:
  // Throws AlreadyRunning, Refused (journaled as refused, unless a dry
  // run), or Error(kPrecondition) (the stream is not set up, or already
  // runs the other way).
  SwitchRun(const Config& config, const SwitchOptions& options);
  ~SwitchRun();
  SwitchRun(const SwitchRun&) = delete;
  SwitchRun& operator=(const SwitchRun&) = delete;

  const Plan& plan() const;
  // The journal's run id (0 for a dry run).
  int64_t run_id() const;

  // Steps 2-9. Returns how long writes were frozen, in ms. Throws
  // Error(kRolledBack) when a step inside the freeze failed or the budget
  // ran out (rolled back: the old primary is still the primary). Not for a
  // dry run.
  double run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Settles a run that a killed process left half-done (rolled back, or
// completed past the point of no return), as a new run would first.
// Returns its id; nullopt when there was none, the stream is not set up,
// or another process runs a switch (it settles).
std::optional<int64_t> settle_interrupted(const Config& config);

// The CLI's cutover and failback: a SwitchRun, its plan printed for a dry
// run, its outcome in one line. Returns kOk (completed, or the plan
// printed); throws as SwitchRun does, and Error(kRolledBack).
ExitCode run_switch(const Config& config, const SwitchOptions& options);

}  // namespace switchyard::cutover
