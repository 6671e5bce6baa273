// cutover/state_machine: the step order, names, the freeze window, and what
// recovery does with the journal a killed run left behind.

#include <catch2/catch.hpp>

#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cutover/state_machine.h"

using namespace switchyard::cutover;

namespace {

constexpr Step kAllSteps[] = {Step::kPreflight,  Step::kFreeze,    Step::kDrain,
                              Step::kParityGate, Step::kSequences, Step::kReverseStream,
                              Step::kRouter,     Step::kSwitch,    Step::kPostChecks};
constexpr StepState kAllStates[] = {StepState::kStarted, StepState::kDone, StepState::kFailed};

// A journal: every step up to (not including) `last` done, then `last` in
// `state`; the rows recovery reads for a run that died there.
std::vector<JournalEntry> journal_up_to(Step last, StepState state) {
  std::vector<JournalEntry> entries;
  for (Step step : kAllSteps) {
    if (step == last) {
      entries.push_back({step, state});
      break;
    }
    entries.push_back({step, StepState::kDone});
  }
  return entries;
}

const char* action_name(Recovery::Action action) {
  switch (action) {
    case Recovery::Action::kNothing:
      return "nothing";
    case Recovery::Action::kRollBack:
      return "roll back";
    case Recovery::Action::kComplete:
      return "complete";
  }
  return "?";
}

void require_roll_back(const Recovery& recovery, bool unfence_and_resume, bool drop_new_slot,
                       bool route_back = false) {
  CAPTURE(action_name(recovery.action));
  REQUIRE(recovery.action == Recovery::Action::kRollBack);
  CHECK(recovery.unfence_and_resume == unfence_and_resume);
  CHECK(recovery.drop_new_slot == drop_new_slot);
  CHECK(recovery.route_back == route_back);
}

void require_complete(const Recovery& recovery, Step resume_at) {
  CAPTURE(action_name(recovery.action));
  REQUIRE(recovery.action == Recovery::Action::kComplete);
  CHECK(to_string(recovery.resume_at) == std::string(to_string(resume_at)));
  // Nothing to undo once the switch has started.
  CHECK_FALSE(recovery.unfence_and_resume);
  CHECK_FALSE(recovery.drop_new_slot);
  CHECK_FALSE(recovery.route_back);
}

}  // namespace

// ---- names and order --------------------------------------------------------

TEST_CASE("Operations have fixed names that read back to the same operation", "[cutover]") {
  CHECK(std::string(to_string(Operation::kCutover)) == "cutover");
  CHECK(std::string(to_string(Operation::kFailback)) == "failback");
  for (Operation operation : {Operation::kCutover, Operation::kFailback}) {
    const auto parsed = operation_from_string(to_string(operation));
    REQUIRE(parsed.has_value());
    CHECK(*parsed == operation);
  }
  for (const char* text : {"", "Cutover", "CUTOVER", "cutover ", "fail back", "rollback"}) {
    CAPTURE(text);
    CHECK_FALSE(operation_from_string(text).has_value());
  }
}

TEST_CASE("Step states have fixed names that read back to the same state", "[cutover]") {
  CHECK(std::string(to_string(StepState::kStarted)) == "started");
  CHECK(std::string(to_string(StepState::kDone)) == "done");
  CHECK(std::string(to_string(StepState::kFailed)) == "failed");
  for (StepState state : {StepState::kStarted, StepState::kDone, StepState::kFailed}) {
    const auto parsed = step_state_from_string(to_string(state));
    REQUIRE(parsed.has_value());
    CHECK(*parsed == state);
  }
  for (const char* text : {"", "Done", "running", "fail", "started\n"}) {
    CAPTURE(text);
    CHECK_FALSE(step_state_from_string(text).has_value());
  }
}

TEST_CASE("Steps are named as the journal and the plan print them, numbered 1 to 9", "[cutover]") {
  const std::vector<std::pair<int, std::string>> expected{
      {1, "preflight"},      {2, "freeze"}, {3, "drain"},  {4, "parity gate"}, {5, "sequences"},
      {6, "reverse stream"}, {7, "router"}, {8, "switch"}, {9, "post-checks"}};
  for (const auto& [number, name] : expected) {
    CAPTURE(number);
    const auto step = step_from_number(number);
    REQUIRE(step.has_value());
    CHECK(static_cast<int>(*step) == number);
    CHECK(to_string(*step) == name);
  }
  CHECK(static_cast<int>(kFirstStep) == 1);
  CHECK(static_cast<int>(kLastStep) == 9);
  CHECK(kPointOfNoReturn == Step::kSwitch);
}

TEST_CASE("step_from_number rejects numbers outside 1 to 9", "[cutover]") {
  const int number = GENERATE(0, 10, -1, 100);
  CAPTURE(number);
  CHECK_FALSE(step_from_number(number).has_value());
}

TEST_CASE("Steps read back from their journal names; other names are not steps", "[cutover]") {
  for (Step step : kAllSteps) {
    CAPTURE(to_string(step));
    const auto parsed = step_from_name(to_string(step));
    REQUIRE(parsed.has_value());
    CHECK(*parsed == step);
  }
  for (const char* text : {"", "Switch", "router ", "parity_gate", "7", "?"}) {
    CAPTURE(text);
    CHECK_FALSE(step_from_name(text).has_value());
  }
}

TEST_CASE("Exactly steps 2 to 8 run with writes frozen", "[cutover]") {
  for (Step step : kAllSteps) {
    const int number = static_cast<int>(step);
    CAPTURE(number);
    CHECK(inside_freeze(step) == (number >= 2 && number <= 8));
  }
  CHECK_FALSE(inside_freeze(Step::kPreflight));
  CHECK(inside_freeze(Step::kFreeze));
  CHECK(inside_freeze(Step::kRouter));
  CHECK(inside_freeze(Step::kSwitch));
  CHECK_FALSE(inside_freeze(Step::kPostChecks));
}

TEST_CASE("The router is switched and proven before the point of no return", "[cutover]") {
  CHECK(static_cast<int>(Step::kRouter) < static_cast<int>(kPointOfNoReturn));
  CHECK(static_cast<int>(Step::kReverseStream) < static_cast<int>(Step::kRouter));
}

TEST_CASE("next() walks the steps 1 to 9 in order and ends after post-checks", "[cutover]") {
  std::vector<int> walked;
  std::optional<Step> step = kFirstStep;
  while (step) {
    walked.push_back(static_cast<int>(*step));
    REQUIRE(walked.size() <= 9);
    step = next(*step);
  }
  CHECK(walked == std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK_FALSE(next(Step::kPostChecks).has_value());
  REQUIRE(next(Step::kReverseStream).has_value());
  CHECK(*next(Step::kReverseStream) == Step::kRouter);
  REQUIRE(next(Step::kRouter).has_value());
  CHECK(*next(Step::kRouter) == Step::kSwitch);
}

// ---- recovery ----------------------------------------------------------------

TEST_CASE("Recovery of a run with no journal rows does nothing", "[cutover][recovery]") {
  const Recovery recovery = plan_recovery({});
  CHECK(recovery.action == Recovery::Action::kNothing);
  CHECK_FALSE(recovery.unfence_and_resume);
  CHECK_FALSE(recovery.drop_new_slot);
  CHECK_FALSE(recovery.route_back);
}

TEST_CASE("A run that died in preflight rolls back, dropping the slot it may have created",
          "[cutover][recovery]") {
  // The new direction's slot is created before the preflight's last
  // rounds; nothing is fenced yet.
  SECTION("preflight started") {
    require_roll_back(plan_recovery({{Step::kPreflight, StepState::kStarted}}), false, true);
  }
  SECTION("preflight done") {
    require_roll_back(plan_recovery({{Step::kPreflight, StepState::kDone}}), false, true);
  }
}

TEST_CASE("A run that reached the freeze rolls back by routing back, unfencing and resuming",
          "[cutover][recovery]") {
  // The router step's journal row is not flushed before the router is
  // touched: from the freeze on, the router is pointed back regardless.
  SECTION("freeze started") {
    require_roll_back(plan_recovery(journal_up_to(Step::kFreeze, StepState::kStarted)), true, true,
                      true);
  }
  SECTION("freeze failed") {
    // The router may have paused before the fence failed: undo both.
    require_roll_back(plan_recovery(journal_up_to(Step::kFreeze, StepState::kFailed)), true, true,
                      true);
  }
  SECTION("freeze done, drain started") {
    require_roll_back(plan_recovery(journal_up_to(Step::kDrain, StepState::kStarted)), true, true,
                      true);
  }
  SECTION("sequences done") {
    require_roll_back(plan_recovery(journal_up_to(Step::kSequences, StepState::kDone)), true, true,
                      true);
  }
}

TEST_CASE("A run that failed at the parity gate rolls back, unfencing", "[cutover][recovery]") {
  require_roll_back(plan_recovery(journal_up_to(Step::kParityGate, StepState::kFailed)), true, true,
                    true);
}

TEST_CASE("A run that reached the reverse stream step drops the new slot", "[cutover][recovery]") {
  const StepState state = GENERATE(StepState::kStarted, StepState::kDone, StepState::kFailed);
  CAPTURE(to_string(state));
  require_roll_back(plan_recovery(journal_up_to(Step::kReverseStream, state)), true, true, true);
}

TEST_CASE("A run that reached the router step points the router back at the old primary",
          "[cutover][recovery]") {
  // Started: the file may be rewritten and reloaded; done: it was, and
  // proven; failed: the proof failed and the rollback may not have run.
  const StepState state = GENERATE(StepState::kStarted, StepState::kDone, StepState::kFailed);
  CAPTURE(to_string(state));
  require_roll_back(plan_recovery(journal_up_to(Step::kRouter, state)), true, true, true);
}

TEST_CASE("A run past the point of no return is completed from the switch or the post-checks",
          "[cutover][recovery]") {
  SECTION("router done, switch not started: still before the point of no return") {
    std::vector<JournalEntry> entries = journal_up_to(Step::kRouter, StepState::kDone);
    require_roll_back(plan_recovery(entries), true, true, true);
  }
  SECTION("switch started: redo the switch") {
    require_complete(plan_recovery(journal_up_to(Step::kSwitch, StepState::kStarted)),
                     Step::kSwitch);
  }
  SECTION("switch done, post-checks not started") {
    require_complete(plan_recovery(journal_up_to(Step::kSwitch, StepState::kDone)),
                     Step::kPostChecks);
  }
  SECTION("switch done, post-checks started") {
    require_complete(plan_recovery(journal_up_to(Step::kPostChecks, StepState::kStarted)),
                     Step::kPostChecks);
  }
  SECTION("switch done, post-checks done: re-running the post-checks is harmless") {
    require_complete(plan_recovery(journal_up_to(Step::kPostChecks, StepState::kDone)),
                     Step::kPostChecks);
  }
}

TEST_CASE("Recovery does not depend on the order of the journal rows", "[cutover][recovery]") {
  // interrupted_run() reads rows back in whatever order the query gives.
  std::vector<JournalEntry> entries = journal_up_to(Step::kPostChecks, StepState::kStarted);
  std::vector<JournalEntry> reversed(entries.rbegin(), entries.rend());
  require_complete(plan_recovery(reversed), Step::kPostChecks);

  entries = journal_up_to(Step::kReverseStream, StepState::kStarted);
  reversed.assign(entries.rbegin(), entries.rend());
  require_roll_back(plan_recovery(reversed), true, true, true);

  entries = journal_up_to(Step::kRouter, StepState::kFailed);
  reversed.assign(entries.rbegin(), entries.rend());
  require_roll_back(plan_recovery(reversed), true, true, true);
}

TEST_CASE("Every step and state a run can die in has one plan: undo what it reached, or complete",
          "[cutover][recovery]") {
  // The whole table, written out independently of plan_recovery: before
  // the switch, undo exactly what the run reached; from it on, go forward.
  for (Step last : kAllSteps) {
    for (StepState state : kAllStates) {
      CAPTURE(to_string(last), to_string(state));
      const Recovery recovery = plan_recovery(journal_up_to(last, state));
      const int reached = static_cast<int>(last);
      if (reached < 8) {
        require_roll_back(recovery, /*unfence_and_resume=*/reached >= 2,
                          /*drop_new_slot=*/true, /*route_back=*/reached >= 2);
      } else if (last == Step::kSwitch && state != StepState::kDone) {
        require_complete(recovery, Step::kSwitch);
      } else {
        require_complete(recovery, Step::kPostChecks);
      }
    }
  }
}
