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
#pragma once

#include <chrono>
#include <optional>

#include "common/config.h"
#include "common/error.h"
#include "cutover/state_machine.h"

namespace switchyard::cutover {

struct SwitchOptions {
  Operation operation = Operation::kCutover;
  bool dry_run = false;                                    // preflight and the plan only
  std::optional<std::chrono::milliseconds> freeze_budget;  // overrides cutover.freeze_budget
};

// Returns the exit code: kOk (completed, or the plan printed), kRolledBack
// (a step inside the freeze failed or the budget ran out: nothing changed).
// Preflight refusals throw Error(kPrecondition) before anything changes.
ExitCode run_switch(const Config& config, const SwitchOptions& options);

}  // namespace switchyard::cutover
