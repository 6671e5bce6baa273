// The cutover state machine: the steps of a cutover (or a failback, the
// same steps in the other direction), their order, which of them run with
// writes frozen, and what an interrupted run needs: completing or rolling
// back. Pure logic over journal entries, so every transition is unit-tested;
// switchover.cpp carries the steps out.
//
//   1 preflight        checks only; nothing changes
//   2 freeze           router PAUSE; fence the old primary         ┐
//   3 drain            the stream applies everything to the marker │
//   4 parity gate      dirty-only verify                           │ writes
//   5 sequences        read with the fence, set beside 3 and 4     │ frozen,
//   6 reverse stream   slot + publication on the new primary       │ within the
//   7 router           router to the new primary, proven by the    │ freeze
//                      router itself (pgbouncer: SHOW DATABASES)   │ budget
//   8 switch           ── point of no return ── unfence the new    │
//                      primary, RESUME                             ┘
//   9 post-checks      the stream follows; the old slot is dropped
//
// Before step 8 starts, any failure or the budget running out rolls back:
// router back to the old primary, unfence the old primary, RESUME there,
// drop the new slot; the stream keeps its direction. The router is switched
// and proven before the point of no return because a router that did not
// take the switch leaves clients on the fenced old primary: that must still
// be a rollback, not a success. Once step 8 has started (journaled durably
// first), the run can only go forward: re-running completes it.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace switchyard::cutover {

enum class Operation { kCutover, kFailback };
const char* to_string(Operation operation);
std::optional<Operation> operation_from_string(const std::string& text);

enum class Step {
  kPreflight = 1,
  kFreeze = 2,
  kDrain = 3,
  kParityGate = 4,
  kSequences = 5,
  kReverseStream = 6,
  kRouter = 7,
  kSwitch = 8,
  kPostChecks = 9,
};
inline constexpr Step kFirstStep = Step::kPreflight;
inline constexpr Step kLastStep = Step::kPostChecks;
inline constexpr Step kPointOfNoReturn = Step::kSwitch;

const char* to_string(Step step);
std::optional<Step> step_from_number(int number);
// By the name the journal keeps: a run journaled by a release that numbered
// the steps otherwise is still read right.
std::optional<Step> step_from_name(const std::string& name);
// Steps 2-8: between PAUSE and RESUME.
bool inside_freeze(Step step);
std::optional<Step> next(Step step);

enum class StepState { kStarted, kDone, kFailed };
const char* to_string(StepState state);
std::optional<StepState> step_state_from_string(const std::string& text);

// One journal row, as recovery needs it.
struct JournalEntry {
  Step step;
  StepState state;
};

// What to do about a run that is still marked running (its process died).
struct Recovery {
  enum class Action {
    kNothing,   // no step ever started
    kRollBack,  // it stopped before the point of no return
    kComplete,  // it passed the point of no return: finish from `resume_at`
  };
  Action action = Action::kNothing;
  Step resume_at = Step::kSwitch;  // kComplete: the first step to (re)run
  // kRollBack: what the interrupted run may have changed, to undo.
  bool unfence_and_resume = false;  // it reached the freeze
  bool drop_new_slot = false;       // created in step 1: any run rolled back
  bool route_back = false;          // it reached the freeze: point the router at the old primary
};

Recovery plan_recovery(const std::vector<JournalEntry>& entries);

}  // namespace switchyard::cutover
