#include "cutover/state_machine.h"

#include <algorithm>

namespace switchyard::cutover {

const char* to_string(Operation operation) {
  return operation == Operation::kCutover ? "cutover" : "failback";
}

std::optional<Operation> operation_from_string(const std::string& text) {
  if (text == "cutover") return Operation::kCutover;
  if (text == "failback") return Operation::kFailback;
  return std::nullopt;
}

const char* to_string(Step step) {
  switch (step) {
    case Step::kPreflight:
      return "preflight";
    case Step::kFreeze:
      return "freeze";
    case Step::kDrain:
      return "drain";
    case Step::kParityGate:
      return "parity gate";
    case Step::kSequences:
      return "sequences";
    case Step::kReverseStream:
      return "reverse stream";
    case Step::kRouter:
      return "router";
    case Step::kSwitch:
      return "switch";
    case Step::kPostChecks:
      return "post-checks";
  }
  return "?";
}

std::optional<Step> step_from_number(int number) {
  if (number < static_cast<int>(kFirstStep) || number > static_cast<int>(kLastStep)) {
    return std::nullopt;
  }
  return static_cast<Step>(number);
}

std::optional<Step> step_from_name(const std::string& name) {
  for (int number = static_cast<int>(kFirstStep); number <= static_cast<int>(kLastStep); ++number) {
    const Step step = static_cast<Step>(number);
    if (name == to_string(step)) return step;
  }
  return std::nullopt;
}

bool inside_freeze(Step step) {
  return step >= Step::kFreeze && step <= Step::kSwitch;
}

std::optional<Step> next(Step step) {
  return step_from_number(static_cast<int>(step) + 1);
}

const char* to_string(StepState state) {
  switch (state) {
    case StepState::kStarted:
      return "started";
    case StepState::kDone:
      return "done";
    case StepState::kFailed:
      return "failed";
  }
  return "?";
}

std::optional<StepState> step_state_from_string(const std::string& text) {
  if (text == "started") return StepState::kStarted;
  if (text == "done") return StepState::kDone;
  if (text == "failed") return StepState::kFailed;
  return std::nullopt;
}

Recovery plan_recovery(const std::vector<JournalEntry>& entries) {
  Recovery recovery;
  if (entries.empty()) return recovery;
  auto reached = [&](Step step) {
    return std::any_of(entries.begin(), entries.end(),
                       [step](const JournalEntry& entry) { return entry.step == step; });
  };
  if (reached(kPointOfNoReturn)) {
    // Past the point of no return: redo the first step not done. The
    // switch and the post-checks are idempotent, so one that was under way
    // when the process died is simply run again.
    recovery.action = Recovery::Action::kComplete;
    recovery.resume_at = kPointOfNoReturn;
    for (Step step = kPointOfNoReturn;; step = *next(step)) {
      const bool done = std::any_of(entries.begin(), entries.end(), [step](const auto& entry) {
        return entry.step == step && entry.state == StepState::kDone;
      });
      recovery.resume_at = step;
      if (!done || step == kLastStep) break;
    }
    return recovery;
  }
  recovery.action = Recovery::Action::kRollBack;
  recovery.unfence_and_resume = reached(Step::kFreeze);
  // The new direction's slot is created in step 1, before its last rounds
  // (journaled as step 6): any run that rolls back may have one.
  recovery.drop_new_slot = true;
  // From the freeze on, the router may have been switched: the journal's
  // row for the router step goes out without waiting for the disk (one
  // flush less with clients frozen), so a run that died may have rewritten
  // the file without a trace. Pointing the router at the primary it
  // already uses is harmless.
  recovery.route_back = reached(Step::kFreeze);
  return recovery;
}

}  // namespace switchyard::cutover
