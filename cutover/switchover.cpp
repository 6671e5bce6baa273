#include "cutover/switchover.h"

#include <algorithm>
#include <cstdio>
#include <thread>

#include "common/failpoint.h"
#include "common/log.h"
#include "common/units.h"
#include "control/control_schema.h"
#include "cutover/fence.h"
#include "cutover/journal.h"
#include "cutover/parity_gate.h"
#include "cutover/preflight.h"
#include "cutover/router.h"
#include "cutover/sequences.h"
#include "drivers/pg/sql.h"
#include "replicator/apply_loop.h"
#include "replicator/source_slot.h"
#include "verify/verifier.h"

namespace switchyard::cutover {
namespace {

using std::chrono::milliseconds;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// How much of the freeze budget is kept back for rolling back: the steps
// must finish by the budget minus this, so that unfence + RESUME still fit.
milliseconds rollback_reserve(milliseconds budget) {
  return std::min(budget / 4, milliseconds(250));
}

// One cutover or failback, from the old primary to the new.
class Switchover {
 public:
  Switchover(const Config& config, Operation operation, milliseconds budget)
      : operation_(operation),
        current_(operation == Operation::kCutover ? config : config.reversed()),
        budget_(budget),
        home_(config.target.conninfo, config.target.name, pg::Mode::kNormal, "cutover"),
        from_(current_.source.conninfo, old_role(), pg::Mode::kNormal, "cutover"),
        to_(current_.target.conninfo, new_role(), pg::Mode::kNormal, "cutover"),
        router_(make_router(config)),
        journal_(home_, config.name) {}

  // What the configuration calls the old and the new primary.
  const std::string& old_role() const { return current_.source.name; }
  const std::string& new_role() const { return current_.target.name; }
  Primary new_primary() const {
    return operation_ == Operation::kCutover ? Primary::kTarget : Primary::kSource;
  }
  Primary old_primary() const {
    return operation_ == Operation::kCutover ? Primary::kSource : Primary::kTarget;
  }
  control::Direction new_direction() const {
    return operation_ == Operation::kCutover ? control::Direction::kReverse
                                             : control::Direction::kForward;
  }

  // ---- the run ------------------------------------------------------

  ExitCode run(bool dry_run) {
    check_direction();
    if (dry_run) {
      const PreflightFacts facts = run_preflight(current_, operation_, from_, to_, *router_);
      print_plan(facts);
      return ExitCode::kOk;
    }
    journal_.begin_run(operation_, budget_);
    spdlog::info("{} (run {}): {} -> {}, freeze budget {}", to_string(operation_),
                 journal_.run_id(), old_role(), new_role(),
                 format_duration(static_cast<double>(budget_.count()) / 1000.0));
    try {
      preflight_and_prepare();
    } catch (const Error& error) {
      journal_.failed(Step::kPreflight, error.what());
      journal_.finish("refused", std::nullopt, error.what());
      throw;
    }
    if (!freeze_and_prepare_switch()) {
      throw Error(ErrorKind::kRolledBack, std::string(to_string(operation_)) +
                                              " rolled back: " + rollback_cause_ + "; the " +
                                              old_role() + " is still the primary");
    }
    switch_primary();
    post_checks();
    journal_.finish("completed", std::nullopt, {});
    spdlog::info("{} complete: the {} is the primary; writes were frozen for {:.1f} ms",
                 to_string(operation_), new_role(), freeze_ms_);
    std::printf("%s: %s is the primary, %s fenced; writes frozen %.1f ms (budget %s)\n",
                to_string(operation_), new_role().c_str(), old_role().c_str(), freeze_ms_,
                format_duration(static_cast<double>(budget_.count()) / 1000.0).c_str());
    std::fflush(stdout);
    return ExitCode::kOk;
  }

  // ---- recovery of a run a killed process left ----------------------

  void recover(const RunRecord& run) {
    journal_.adopt_run(run);
    const Recovery plan = plan_recovery(run.entries);
    if (plan.action == Recovery::Action::kComplete) {
      spdlog::warn("{} run {} was interrupted after the point of no return; completing it",
                   to_string(operation_), run.run_id);
      if (plan.resume_at <= Step::kSwitch) {
        // Proven at step 7 already; pointing it again costs one RELOAD, and
        // a run journaled by a release that moved the router after the
        // point of no return needs it.
        router_->switch_to(new_primary(), Clock::now() + std::max(budget_, milliseconds(2000)));
        switch_primary();
      }
      post_checks();
      journal_.finish("completed", std::nullopt, "completed by a later run after an interruption");
      return;
    }
    spdlog::warn("{} run {} was interrupted before the point of no return; rolling it back",
                 to_string(operation_), run.run_id);
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    // Before anything resumes: clients come back to the old primary.
    if (plan.route_back) router_->switch_back(old_primary(), deadline);
    if (plan.unfence_and_resume) {
      unfence(from_, deadline);
      router_->resume(deadline);
    }
    if (plan.drop_new_slot) drop_new_slot();
    journal_.finish("rolled_back", std::nullopt,
                    "interrupted (the process died); rolled back by a later run");
  }

 private:
  void check_direction() {
    const auto direction = control::read_direction(home_, current_.name);
    const auto expected = operation_ == Operation::kCutover ? control::Direction::kForward
                                                            : control::Direction::kReverse;
    if (direction != expected) {
      throw Error(ErrorKind::kPrecondition,
                  operation_ == Operation::kCutover
                      ? "the target is already the primary (cut over earlier); run failback to "
                        "move back"
                      : "the source is the primary (no cutover to fail back from)");
    }
  }

  // A step between journal rows, timed.
  template <typename Work>
  void step(Step which, Work&& work) {
    current_step_ = which;
    journal_.started(which, /*durable=*/which == Step::kFreeze || which == Step::kRouter);
    const std::string detail = work();
    journal_.done(which, detail);
    spdlog::info("  {} {}: {}", static_cast<int>(which), to_string(which),
                 detail.empty() ? "done" : detail);
    crash_point("after", which);
  }

  // Test crash points (common/failpoint.h): "cutover:after:3" and so on.
  void crash_point(const char* where, Step which) const {
    failpoint(std::string(to_string(operation_)) + ":" + where + ":" +
              std::to_string(static_cast<int>(which)));
  }

  void preflight_and_prepare() {
    step(Step::kPreflight, [&] {
      facts_ = run_preflight(current_, operation_, from_, to_, *router_);
      prepare();
      return "lag " + format_bytes(static_cast<double>(facts_.lag_bytes)) + ", " +
             std::to_string(facts_.tables.size()) + " tables, " +
             std::to_string(facts_.sequences.size()) + " sequences; pre-gate " +
             std::to_string(convergence_.rows_compared) + " changed rows equal in " +
             std::to_string(convergence_.rounds) + " rounds, " +
             std::to_string(convergence_.keys_left) + " keys left for the gate" + keyless_proven() +
             (convergence_.slowest_keyless.empty()
                  ? std::string()
                  : "; " + convergence_.slowest_keyless + " (no key) compared whole in " +
                        format_duration(convergence_.slowest_keyless_seconds) +
                        ", as the gate will again");
    });
  }

  std::string keyless_proven() const {
    std::string detail;
    for (const auto& table : convergence_.keyless_proven) {
      detail += (detail.empty() ? "; no key, proven by the stream's row log: " : ", ") + table;
    }
    return detail;
  }

  // Everything that can be made ready before writes stop, so the freeze
  // holds only what must happen inside it.
  void prepare() {
    // Compare what changed, round after round, so that the gate inside the
    // freeze has only the last moments' changes. First, so that a mismatch
    // refuses before anything is created for the new direction.
    gate_ = std::make_unique<ParityGate>(current_);
    convergence_ = gate_->converge(ParityGate::kMaxRounds);
    // The new direction's receiving side: control schema, stream, tables
    // and origin on the old primary; publication on the new one.
    const Config next = current_.reversed();
    replication_ = std::make_unique<pg::Connection>(current_.target.conninfo, new_role(),
                                                    pg::Mode::kReplication, "cutover");
    const std::string upstream_id = source_system_id(*replication_);
    from_.exec("BEGIN");
    try {
      control::ensure_schema(from_);
      control::insert_stream(from_, next.name, upstream_id);
      control::set_phase(from_, next.name, control::kStreaming);
      for (auto table : facts_.tables) {
        table.created_by_switchyard = false;
        table.post_data_done = true;
        control::upsert_table(from_, next.name, table);
      }
      control::ensure_origin(from_, next.origin_name());
      from_.exec("COMMIT");
    } catch (...) {
      if (from_.ok()) from_.exec("ROLLBACK");
      throw;
    }
    std::vector<SourceTable> published;
    for (const auto& table : facts_.tables) {
      SourceTable source_table;
      source_table.schema = table.schema;
      source_table.name = table.name;
      published.push_back(std::move(source_table));
    }
    publish_tables(to_, next.publication_name(), published);
    if (find_slot(to_, next.slot_name())) drop_slot(to_, next.slot_name());
    // Again, for what changed meanwhile, round after round until few keys
    // are left (a loader keeps adding them while a round compares): the
    // freeze follows at once, and every key left is compared inside it.
    const ParityGate::Convergence last = gate_->converge(ParityGate::kMaxRounds);
    convergence_.rounds += last.rounds;
    convergence_.rows_compared += last.rows_compared;
    convergence_.keys_left = last.keys_left;
  }

  // What made a step inside the freeze fail, for the journal and the one
  // line the operator reads: a deadline names the budget and the step; the
  // statement involved goes to the debug log only.
  std::string failure_cause(const std::exception& error) const {
    const auto* failure = dynamic_cast<const Error*>(&error);
    if (failure && !failure->query().empty()) {
      spdlog::debug("step {} ({}): the failing statement: {}", static_cast<int>(current_step_),
                    to_string(current_step_), failure->query());
    }
    const std::string what = error.what();
    if (!failure || failure->kind() != ErrorKind::kTimeout ||
        what.rfind("the freeze budget", 0) == 0) {
      return what;
    }
    return "the freeze budget (" + format_duration(budget_.count() / 1000.0) +
           ") ran out in step " + std::to_string(static_cast<int>(current_step_)) + " (" +
           to_string(current_step_) + "): " + what;
  }

  // Steps 2-7. Returns false after rolling back.
  bool freeze_and_prepare_switch() {
    freeze_started_ = Clock::now();
    const auto budget_end = freeze_started_ + budget_;
    deadline_ = budget_end - rollback_reserve(budget_);
    auto in_budget = [&] {
      if (Clock::now() > deadline_) {
        throw Error(ErrorKind::kTimeout,
                    "the freeze budget (" + format_duration(budget_.count() / 1000.0) +
                        ") ran out in step " + std::to_string(static_cast<int>(current_step_)) +
                        " (" + to_string(current_step_) + ")");
      }
    };
    // The journal's writes inside the freeze are held to the budget too: a
    // control schema that stalls must not keep clients queued past it.
    auto journal_timeout = [&](std::chrono::milliseconds limit) {
      try {
        home_.exec("SET statement_timeout = " + std::to_string(limit.count()));
      } catch (const Error& error) {
        spdlog::warn("journal session: {}", error.what());
      }
    };
    journal_timeout(budget_);
    try {
      step(Step::kFreeze, [&] {
        const auto pause_started = Clock::now();
        router_->freeze(deadline_);
        froze_ = true;
        const double pause_ms = ms_since(pause_started);
        const auto fence_started = Clock::now();
        const FenceResult fenced_off = fence(from_, deadline_);
        in_budget();
        char detail[160];
        std::snprintf(detail, sizeof detail,
                      "router frozen in %.1f ms; %s fenced, %d sessions ended, in %.1f ms",
                      pause_ms, old_role().c_str(), fenced_off.terminated, ms_since(fence_started));
        return std::string(detail);
      });
      step(Step::kDrain, [&] {
        drain();
        in_budget();
        return std::string("applied up to ") + drained_to_.to_string();
      });
      step(Step::kParityGate, [&] {
        const std::string result = parity_gate();
        in_budget();
        return result;
      });
      step(Step::kSequences, [&] {
        // Read now, with the old primary fenced: no value can be drawn there
        // after this read.
        const auto sequences = read_sequences(from_, facts_.schemas, deadline_);
        const int count =
            set_sequences(to_, sequences, current_.cutover.sequence_margin, deadline_);
        in_budget();
        return std::to_string(count) + " set (+" +
               std::to_string(current_.cutover.sequence_margin) + ")";
      });
      step(Step::kReverseStream, [&] {
        const std::string result = create_new_stream();
        in_budget();
        return result;
      });
      step(Step::kRouter, [&] {
        // Set first: a RELOAD that fails after the file was rewritten
        // still leaves a file to put back.
        routed_ = true;
        const std::string proof = router_->switch_to(new_primary(), deadline_);
        in_budget();
        return std::string("applications -> ") + new_role() + ": " + proof;
      });
    } catch (const std::exception& error) {
      // Whatever went wrong inside the freeze, the way out is the same.
      journal_timeout(milliseconds(0));
      const std::string cause = failure_cause(error);
      try {
        journal_.failed(current_step_, cause);
      } catch (const Error& journal_error) {  // clients wait: roll back regardless
        spdlog::error("journal: {}", journal_error.what());
      }
      rollback_cause_ = cause;
      roll_back(cause);
      return false;
    }
    journal_timeout(milliseconds(0));
    return true;
  }

  // Step 3: a marker on the frozen old primary; once the new primary's
  // origin has passed it, every write before the freeze is applied.
  void drain() {
    const std::string marker_sql =
        "SELECT pg_catalog.pg_logical_emit_message(true, " + pg::quote_literal(kDrainMarkerPrefix) +
        ", " + pg::quote_literal("drain " + std::to_string(journal_.run_id())) + ")::text";
    const Lsn marker = *Lsn::parse(from_.exec_until(marker_sql, deadline_).get(0, 0));
    for (;;) {
      const Lsn applied =
          control::origin_progress(to_, current_.origin_name(), true).value_or(Lsn{});
      if (applied >= marker) {
        drained_to_ = applied;
        return;
      }
      if (Clock::now() > deadline_) {
        throw Error(ErrorKind::kTimeout,
                    "drain: the " + std::string(new_role()) + " did not apply the " + old_role() +
                        "'s last writes in time (applied " + applied.to_string() + ", marker " +
                        marker.to_string() + "); is replicate running?");
      }
      std::this_thread::sleep_for(milliseconds(1));
    }
  }

  // Step 4: the rows changed since the pre-gate, compared with writes
  // stopped. Any difference is real now, and stops the cutover.
  std::string parity_gate() { return gate_->run_frozen(deadline_); }

  // Step 6: the slot the new direction streams from, created now: every
  // write the new primary takes after the switch is after its start.
  std::string create_new_stream() {
    const Config next = current_.reversed();
    pg::Result created =
        replication_->exec_until("CREATE_REPLICATION_SLOT " + pg::quote_ident(next.slot_name()) +
                                     " LOGICAL pgoutput NOEXPORT_SNAPSHOT",
                                 deadline_);
    slot_created_ = true;
    const std::string start = created.str(0, 1);
    // The receiving side has everything before the slot's start.
    from_.exec_until("SELECT pg_catalog.pg_replication_origin_advance(" +
                         pg::quote_literal(next.origin_name()) + ", " + pg::quote_literal(start) +
                         "::pg_lsn)",
                     deadline_);
    return "slot " + next.slot_name() + " on the " + new_role() + " at " + start;
  }

  // Before the point of no return: undo, within the budget, in the order
  // that never lets a client write to a half-fenced primary.
  void roll_back(const std::string& cause) {
    const auto rollback_started = Clock::now();
    const auto deadline = freeze_started_ + budget_ + milliseconds(500);
    std::vector<std::string> problems;
    auto attempt = [&](const std::string& what, auto&& action) {
      try {
        action();
        return true;
      } catch (const std::exception& error) {
        problems.push_back(what + ": " + error.what());
        return false;
      }
    };
    // Clients are still paused: they must find the router pointing at the
    // old primary again before anything resumes them.
    const bool routed_back =
        !routed_ || attempt("router back to the " + std::string(old_role()),
                            [&] { router_->switch_back(old_primary(), deadline); });
    if (froze_) {
      attempt("unfence", [&] {
        if (!from_.ok()) {
          from_ =
              pg::Connection(current_.source.conninfo, old_role(), pg::Mode::kNormal, "cutover");
        }
        unfence(from_, deadline);
      });
      if (routed_back) {
        attempt("resume", [&] { router_->resume(deadline); });
      } else {
        // Resuming could send writes to the new primary while the stream
        // still runs towards it.
        problems.push_back(std::string("clients left frozen: point the router at the ") +
                           old_role() + ", then resume it");
      }
    }
    freeze_ms_ = ms_since(freeze_started_);
    if (slot_created_) attempt("drop the new slot", [&] { drop_new_slot(); });
    std::string detail = "rolled back after: " + cause + " (freeze " +
                         std::to_string(static_cast<int>(freeze_ms_)) + " ms, rollback " +
                         std::to_string(static_cast<int>(ms_since(rollback_started))) + " ms)";
    for (const auto& problem : problems) detail += "; " + problem;
    journal_.finish("rolled_back", freeze_ms_, detail);
    spdlog::error("{} rolled back: {}", to_string(operation_), detail);
    spdlog::error("the {} is still the primary; the stream continues {}", old_role(),
                  control::to_string(new_direction() == control::Direction::kReverse
                                         ? control::Direction::kForward
                                         : control::Direction::kReverse));
  }

  void drop_new_slot() {
    replication_.reset();
    const Config next = current_.reversed();
    if (find_slot(to_, next.slot_name())) drop_slot(to_, next.slot_name());
  }

  // Step 8, past the point of no return: the new primary takes writes. The
  // router already sends clients to it (step 7, proven); they are let go.
  void switch_primary() {
    journal_.pass_point_of_no_return(new_direction());
    crash_point("in", Step::kSwitch);
    const auto deadline = Clock::now() + std::max(budget_, milliseconds(2000));
    const auto started = Clock::now();
    unfence(to_, deadline);
    router_->resume(deadline);
    if (freeze_started_ != Clock::time_point{}) freeze_ms_ = ms_since(freeze_started_);
    journal_.done(Step::kSwitch, std::string(new_role()) + " unfenced, router resumed (" +
                                     std::to_string(static_cast<int>(ms_since(started))) +
                                     " ms); writes frozen " +
                                     std::to_string(static_cast<int>(freeze_ms_)) + " ms");
    if (freeze_ms_ > 0) journal_.record_freeze(freeze_ms_);
    spdlog::info("  8 switch: the {} is the primary (writes frozen {:.1f} ms)", new_role(),
                 freeze_ms_);
    crash_point("after", Step::kSwitch);
  }

  // Step 9: the stream follows the new direction; the old direction's
  // slot, which nothing will read again, is dropped so it holds no WAL.
  void post_checks() {
    journal_.started(Step::kPostChecks);
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    std::string detail;
    bool old_released = false;
    while (Clock::now() < deadline) {
      auto slot = find_slot(from_, current_.slot_name());
      if (!slot || !slot->active) {
        old_released = true;
        break;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    if (old_released) {
      if (find_slot(from_, current_.slot_name())) drop_slot(from_, current_.slot_name());
      detail = "old slot dropped on the " + std::string(old_role());
    } else {
      detail = "old slot still in use on the " + std::string(old_role()) + ", left in place";
      spdlog::warn("{}", detail);
    }
    const Config next = current_.reversed();
    bool streaming = false;
    while (Clock::now() < deadline) {
      auto slot = find_slot(to_, next.slot_name());
      if (slot && slot->active) {
        streaming = true;
        break;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    if (streaming) {
      detail += "; replicate streams " + std::string(new_role()) + " -> " + old_role();
    } else {
      detail += "; nothing streams the new direction yet: start `switchyard replicate`";
      spdlog::warn("no replicate streams {} -> {} yet; start `switchyard replicate`", new_role(),
                   old_role());
    }
    if (!fenced(from_)) {
      throw Error(ErrorKind::kInternal,
                  std::string(old_role()) + " is not fenced after the switch");
    }
    if (fenced(to_)) {
      throw Error(ErrorKind::kInternal,
                  std::string(new_role()) + " is still fenced after the switch");
    }
    journal_.done(Step::kPostChecks, detail);
    spdlog::info("  9 post-checks: {}", detail);
    crash_point("after", Step::kPostChecks);
  }

  void print_plan(const PreflightFacts& facts) {
    std::printf("%s plan (dry run): preflight passed; nothing was changed\n",
                to_string(operation_));
    std::printf("  old primary  %s, new primary %s\n", old_role().c_str(), new_role().c_str());
    std::printf("  router       %s\n", router_->describe().c_str());
    std::printf("  lag          %s; %zu tables, %zu sequences; %llu dirty-key rows to pre-check\n",
                format_bytes(static_cast<double>(facts.lag_bytes)).c_str(), facts.tables.size(),
                facts.sequences.size(), static_cast<unsigned long long>(facts.dirty_key_rows));
    std::printf("  freeze       at most %s (rolls back by itself past %s)\n",
                format_duration(budget_.count() / 1000.0).c_str(),
                format_duration((budget_ - rollback_reserve(budget_)).count() / 1000.0).c_str());
    pg::Result last = home_.exec(
        "SELECT operation, round(freeze_ms::numeric, 1) FROM switchyard.switch_runs "
        "WHERE stream = $1 AND state = 'completed' AND freeze_ms IS NOT NULL "
        "ORDER BY run_id DESC LIMIT 1",
        {current_.name});
    if (last.rows() > 0) {
      std::printf("  expected     about %s ms (the last %s froze writes that long)\n",
                  last.str(0, 1).c_str(), last.str(0, 0).c_str());
    }
    for (Step which = kFirstStep;; which = *next(which)) {
      std::printf("  %d %-15s%s\n", static_cast<int>(which), to_string(which),
                  inside_freeze(which) ? " (writes frozen)" : "");
      if (which == kLastStep) break;
    }
  }

  Operation operation_;
  Config current_;  // the stream as it runs now: source = old primary
  milliseconds budget_;
  pg::Connection home_;
  pg::Connection from_;
  pg::Connection to_;
  std::unique_ptr<Router> router_;
  Journal journal_;

  PreflightFacts facts_;
  std::unique_ptr<ParityGate> gate_;
  ParityGate::Convergence convergence_;
  std::unique_ptr<pg::Connection> replication_;  // to the new primary, for its slot

  Step current_step_ = Step::kPreflight;
  Clock::time_point freeze_started_{};
  Clock::time_point deadline_{};
  bool froze_ = false;
  bool slot_created_ = false;
  bool routed_ = false;  // step 7 began: the router may point at the new primary
  Lsn drained_to_;
  double freeze_ms_ = 0;
  std::string rollback_cause_;  // why the freeze was rolled back
};

}  // namespace

ExitCode run_switch(const Config& config, const SwitchOptions& options) {
  const milliseconds budget = options.freeze_budget.value_or(config.cutover.freeze_budget);
  {
    // A run a killed process left behind is settled first, in its own
    // direction, whatever this command asks for.
    pg::Connection home(config.target.conninfo, config.target.name, pg::Mode::kNormal, "cutover");
    if (!control::schema_exists(home) || !control::read_stream(home, config.name)) {
      throw Error(ErrorKind::kPrecondition,
                  "target: stream '" + config.name + "' is not initialised; run replicate first");
    }
    control::ensure_schema(home);  // the journal tables of this release
    Journal probe(home, config.name);
    if (auto run = probe.interrupted_run()) {
      if (options.dry_run) {
        throw Error(ErrorKind::kPrecondition,
                    std::string(to_string(run->operation)) + " run " + std::to_string(run->run_id) +
                        " was interrupted; run the command without --dry-run to settle it");
      }
      Switchover interrupted(config, run->operation, budget);
      interrupted.recover(*run);
      const auto settled = plan_recovery(run->entries);
      if (run->operation == options.operation && settled.action == Recovery::Action::kComplete) {
        return ExitCode::kOk;  // the interrupted run was this one, now complete
      }
    }
  }
  Switchover switchover(config, options.operation, budget);
  return switchover.run(options.dry_run);
}

}  // namespace switchyard::cutover
