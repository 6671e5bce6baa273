#include "cutover/switchover.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <future>
#include <thread>

#include "common/failpoint.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/units.h"
#include "control/advisory_lock.h"
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

// How much of the freeze budget is kept back for rolling back: the steps
// must finish by the budget minus this, so that unfence + RESUME still fit.
milliseconds rollback_reserve(milliseconds budget) {
  return std::min(budget / 4, milliseconds(250));
}

// Waits for a task started beside the freeze, whatever its outcome: on the
// way out of a failed freeze its error is not the cause, only logged.
template <typename T>
void join_quietly(std::future<T>& task, const char* what) noexcept {
  if (!task.valid()) return;
  try {
    task.get();
  } catch (const std::exception& error) {
    spdlog::debug("{}: {}", what, error.what());
  }
}

// How long creating the new direction's slot may wait for the transactions
// running on the new primary, and the round after it may take (before the
// freeze).
constexpr std::chrono::seconds kSlotWaitAtMost{60};

// Before the freeze, the stream is given the time to come close to live:
// whatever it is behind when writes stop, the drain applies with clients
// waiting. A marker's trip through a stream that keeps up takes at most
// one batch (100 ms while a cutover prepares, replicator/apply_loop.cpp);
// a stream that lost ground to the preflight's comparisons takes longer.
// Trips are repeated until one is that quick, for kSettleAtMost at most;
// after that the freeze goes ahead, bounded by its budget as ever.
constexpr milliseconds kSettledTrip{150};
constexpr std::chrono::seconds kSettleAtMost{10};

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

  // A dry run: the preflight and the plan; nothing is journaled or changed.
  Plan preflight_only() {
    check_direction();
    Plan plan = make_plan(run_preflight(current_, operation_, from_, to_, *router_));
    log_refusals(plan.facts);
    return plan;
  }

  // Step 1, journaled: the run begins. Throws Refused (the run journaled
  // as refused) when the preflight refuses.
  void begin(const std::string& requested_by) {
    check_direction();
    journal_.begin_run(operation_, budget_, requested_by);
    spdlog::info("{} (run {}): {} -> {}, freeze budget {}{}", to_string(operation_),
                 journal_.run_id(), old_role(), new_role(),
                 format_duration(static_cast<double>(budget_.count()) / 1000.0),
                 requested_by.empty() ? "" : ", asked by " + requested_by);
    try {
      preflight_and_prepare();
    } catch (const Error& error) {
      if (slot_created_) {
        try {
          drop_new_slot();
          slot_created_ = false;
        } catch (const std::exception& drop_error) {
          spdlog::warn("could not drop the new direction's slot (the next run does): {}",
                       drop_error.what());
        }
      }
      journal_.failed(Step::kPreflight, error.what());
      journal_.finish("refused", std::nullopt, error.what());
      metrics::switch_run(to_string(operation_), "refused");
      throw;
    }
  }

  // Steps 2-9. Returns the freeze in ms; throws Error(kRolledBack).
  double finish() {
    if (!freeze_and_prepare_switch()) {
      if (gate_) gate_->clear_compared();  // clients resumed on the old primary
      metrics::switch_run(to_string(operation_), "rolled_back");
      throw Error(ErrorKind::kRolledBack, std::string(to_string(operation_)) +
                                              " rolled back: " + rollback_cause_ + "; the " +
                                              old_role() + " is still the primary");
    }
    switch_primary();
    // Clients write again: what need not happen inside the freeze follows.
    try {
      journal_.hold_to(milliseconds(0));
    } catch (const Error& error) {
      spdlog::warn("journal session: {}", error.what());
    }
    if (gate_) gate_->clear_compared();
    metrics::write_freeze(freeze_ms_ / 1000.0);
    post_checks();
    journal_.finish("completed", std::nullopt, {});
    metrics::switch_run(to_string(operation_), "completed");
    spdlog::info("{} complete: the {} is the primary; writes were frozen for {:.1f} ms",
                 to_string(operation_), new_role(), freeze_ms_);
    return freeze_ms_;
  }

  int64_t run_id() const { return journal_.run_id(); }
  const Plan& plan() const { return plan_; }

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
    // Durable before the router freezes: from there a run that dies is
    // rolled back by the next one, which resumes the router and points it
    // at the old primary again (cutover/state_machine.h).
    journal_.started(which, /*durable=*/which == Step::kFreeze);
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
      plan_ = make_plan(run_preflight(current_, operation_, from_, to_, *router_));
      log_refusals(plan_.facts);
      if (const Check* refusal = plan_.facts.refusal()) throw Refused(refusal->reason, plan_);
      prepare();
      return "lag " + format_bytes(static_cast<double>(plan_.facts.lag_bytes)) + ", " +
             std::to_string(plan_.facts.tables.size()) + " tables, " +
             std::to_string(plan_.facts.sequences.size()) + " sequences; pre-gate " +
             std::to_string(convergence_.rows_compared) + " changed rows equal in " +
             std::to_string(convergence_.rounds) + " rounds, " +
             std::to_string(convergence_.keys_left) + " keys left for the gate" + keyless_proven() +
             (convergence_.slowest_keyless.empty()
                  ? std::string()
                  : "; " + convergence_.slowest_keyless + " (no key) compared whole in " +
                        format_duration(convergence_.slowest_keyless_seconds) +
                        ", as the gate will again") +
             settle_detail_;
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
    sequence_setter_ = std::make_unique<pg::Connection>(current_.target.conninfo, new_role(),
                                                        pg::Mode::kNormal, "cutover");
    const std::string upstream_id = source_system_id(*replication_);
    from_.exec("BEGIN");
    try {
      control::ensure_schema(from_);
      control::insert_stream(from_, next.name, upstream_id);
      control::set_phase(from_, next.name, control::kStreaming);
      for (auto table : plan_.facts.tables) {
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
    for (const auto& table : plan_.facts.tables) {
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
    // Last, so that the new direction has little of the stream's own
    // writes to skip after the switch (a slot created before seconds of
    // rounds left the new stream decoding them while clients wrote); one
    // more round takes what changed while it waited.
    create_new_stream();
    convergence_.rows_compared += gate_->narrow(Clock::now() + kSlotWaitAtMost);
    // Last of all, so that the freeze starts with the stream as close to
    // live as it gets: the rows changed meanwhile (a trip's worth) are
    // compared beside the router's freeze.
    settle_stream();
    convergence_.keys_left = gate_->marked_now().keys;
    gate_->warm_up();
  }

  // A marker the stream applies like any write (replicator/apply_loop.h).
  Marker marker(const std::string& what) const {
    return Marker{kDrainMarkerPrefix, what + " " + std::to_string(journal_.run_id())};
  }

  // ... written on the old primary.
  Lsn emit_marker(const std::string& what, Clock::time_point deadline) {
    const std::string sql = "SELECT " + emit_expression(marker(what));
    return *Lsn::parse(from_.exec_until(sql, deadline).get(0, 0));
  }

  // How far the new primary has applied the old one's writes (committed,
  // not necessarily flushed).
  Lsn applied() {
    return control::origin_progress(to_, current_.origin_name(), false).value_or(Lsn{});
  }

  // See kSettledTrip: markers until one's trip through the stream is quick.
  void settle_stream() {
    const auto started = Clock::now();
    const auto give_up = started + kSettleAtMost;
    double trip_ms = 0;
    for (int trips = 1;; ++trips) {
      const auto sent = Clock::now();
      const Lsn marker = emit_marker("settle", give_up);
      while (applied() < marker && Clock::now() < give_up) {
        std::this_thread::sleep_for(milliseconds(2));
      }
      trip_ms = ms_since(sent);
      if (trip_ms <= static_cast<double>(kSettledTrip.count())) {
        settle_detail_ = "; the stream within " + format_duration(trip_ms / 1000.0) + " of live (" +
                         std::to_string(trips) + (trips == 1 ? " marker" : " markers") + " in " +
                         format_duration(ms_since(started) / 1000.0) + ")";
        return;
      }
      if (Clock::now() >= give_up) break;
    }
    settle_detail_ = "; the stream still " + format_duration(trip_ms / 1000.0) + " behind after " +
                     format_duration(ms_since(started) / 1000.0);
    spdlog::warn(
        "the stream did not come within {} of live in {}: freezing anyway (its last marker "
        "took {})",
        format_duration(static_cast<double>(kSettledTrip.count()) / 1000.0),
        format_duration(static_cast<double>(kSettleAtMost.count())),
        format_duration(trip_ms / 1000.0));
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
        journal_.hold_to(limit);
      } catch (const Error& error) {
        spdlog::warn("journal session: {}", error.what());
      }
    };
    journal_timeout(budget_);
    // Clients wait on every round trip from here: the journal's rows go
    // out without waiting for their answers, but for the durable ones.
    journal_.answer_later(true);
    try {
      step(Step::kFreeze, [&] {
        // While the router waits for the transactions still running, the
        // gate's sessions compare what is marked, round after round (the
        // last one ending beside the fence and the drain; joined in step 4).
        narrowing_again_ = true;
        narrowing_ = std::async(std::launch::async,
                                [this] { return gate_->narrow(deadline_, &narrowing_again_); });
        // The fence's catalog write too, its transaction left open: after
        // the router has frozen, only its commit is left (fence.h). Should
        // the freeze fail, this future waits for it on the way out, and
        // roll_back() abandons it.
        auto fence_ready = std::async(std::launch::async, [this] {
          const auto started = Clock::now();
          ready_fence(from_, deadline_);
          return ms_since(started);
        });
        const auto pause_started = Clock::now();
        router_->freeze(deadline_);
        froze_ = true;
        // The round under way ends its read while the fence commits and the
        // stream drains, rather than keeping the gate waiting for it.
        narrowing_again_ = false;
        const double pause_ms = ms_since(pause_started);
        // From here the fence counts: waiting for its write, if PAUSE was quicker.
        const auto fence_started = Clock::now();
        const double ready_ms = fence_ready.get();
        const Marker drain_marker = marker("drain");
        const FenceResult fenced_off =
            fence(from_, deadline_, {&drain_marker, sequences_expression(plan_.facts.schemas)});
        drain_marker_ = fenced_off.marker;
        set_sequences_beside(fenced_off.read);
        in_budget();
        char detail[256];
        std::snprintf(detail, sizeof detail,
                      "router frozen in %.1f ms; %s fenced, %d sessions ended, in %.1f ms "
                      "(its default set in %.1f ms while the router froze)%s",
                      pause_ms, old_role().c_str(), fenced_off.terminated, ms_since(fence_started),
                      ready_ms, drain_marker_ ? "; the drain's marker written with it" : "");
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
        const auto waited_from = Clock::now();
        const int count = sequences_set_.get();
        const double waited_ms = ms_since(waited_from);
        // A failback's drain, flushed on the new primary beside the gate.
        std::string flushed;
        if (drain_flushed_.valid()) {
          const auto flush_from = Clock::now();
          drained_to_ = drain_flushed_.get();
          char line[128];
          std::snprintf(line, sizeof line, "; the drain flushed on the %s to %s (waited %.1f ms)",
                        new_role().c_str(), drained_to_.to_string().c_str(), ms_since(flush_from));
          flushed = line;
        }
        in_budget();
        char waited[64];
        std::snprintf(waited, sizeof waited, "%.1f ms", waited_ms);
        return std::to_string(count) + " set (+" +
               std::to_string(current_.cutover.sequence_margin) + "), read " + sequences_read_how_ +
               ", set beside the drain and the gate (waited " + waited + " for them)" + flushed;
      });
      step(Step::kReverseStream, [&] {
        // Created before the freeze (create_new_stream()): journaled here,
        // where a run that rolls back or dies has it dropped.
        return "slot " + current_.reversed().slot_name() + " on the " + new_role() + " at " +
               new_slot_start_ + " (created before the freeze)";
      });
      step(Step::kRouter, [&] {
        // Set first: a RELOAD that fails after the file was rewritten
        // still leaves a file to put back.
        routed_ = true;
        const std::string proof = router_->switch_to(new_primary(), deadline_);
        in_budget();
        return std::string("applications -> ") + new_role() + ": " + proof;
      });
      // Every journal row of the freeze written (an error rolls back).
      journal_.answer_later(false);
    } catch (const std::exception& error) {
      // Whatever went wrong inside the freeze, the way out is the same;
      // the gate's sessions, and the new primary's, are idle before
      // anything else touches them.
      join_narrowing();
      join_quietly(drain_flushed_, "the drain's flush");  // roll_back() may use its session
      try {
        journal_.answer_later(false);
      } catch (const Error& journal_error) {  // clients wait: roll back regardless
        spdlog::error("journal: {}", journal_error.what());
      }
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
    return true;  // the journal's timeout is lifted after the switch
  }

  // Step 3: a marker on the frozen old primary; once the new primary's
  // origin has passed it, every write before the freeze is applied.
  void drain() {
    // Written by the fence when it ended no session (one round trip less).
    const Lsn marker = drain_marker_ ? *drain_marker_ : emit_marker("drain", deadline_);
    for (;;) {
      // Watched without flushing (asking for the flushed progress forces a
      // WAL flush on the new primary each time, beside the stream catching
      // up); once past the marker, asked once more flushed, so that what
      // the drain promises survives a crash of the new primary. Not in a
      // cutover: there the point of no return commits durably on the new
      // primary itself, flushing everything the stream applied before it,
      // before any client writes there. In a failback the flush runs on
      // the new primary's own session beside the gate (which reads on
      // sessions of its own), and is joined before the router moves.
      const Lsn progress = applied();
      if (progress >= marker) {
        drained_to_ = progress;
        if (operation_ == Operation::kFailback) {
          drain_flushed_ = std::async(std::launch::async, [this, marker] {
            const Lsn flushed =
                control::origin_progress(to_, current_.origin_name(), true).value_or(Lsn{});
            if (flushed < marker) {
              throw Error(ErrorKind::kInternal, "drain: the flushed progress " +
                                                    flushed.to_string() + " is behind the marker " +
                                                    marker.to_string() + " the stream had applied");
            }
            return flushed;
          });
        }
        return;
      }
      if (Clock::now() > deadline_) {
        throw Error(ErrorKind::kTimeout,
                    "drain: the " + std::string(new_role()) + " did not apply the " + old_role() +
                        "'s last writes in time (applied " + progress.to_string() + ", marker " +
                        marker.to_string() + "); is replicate running?");
      }
      std::this_thread::sleep_for(milliseconds(1));
    }
  }

  // Step 5's work, started as soon as the old primary is fenced: no value
  // can be drawn there after the read. The values are set on a session of
  // their own while the drain and the gate run on theirs; a run that rolls
  // back leaves them set on a primary that never took over, harmlessly
  // ahead of the replica's rows. `read`: the values as the fence's own
  // statement read them, when it ended no session.
  void set_sequences_beside(const std::optional<std::string>& read) {
    std::vector<SequenceValue> sequences;
    if (read) {
      sequences = parse_sequences(*read);
      sequences_read_how_ = "with the fence";
    } else {
      // Ended sessions are gone once fence() returns.
      sequences = read_sequences(from_, plan_.facts.schemas, deadline_);
      sequences_read_how_ = "after the fence";
    }
    sequences_set_ = std::async(std::launch::async, [this, sequences = std::move(sequences)] {
      return set_sequences(*sequence_setter_, sequences, current_.cutover.sequence_margin,
                           deadline_);
    });
  }

  // Step 4: the rows changed since the pre-gate, compared with writes
  // stopped. Any difference is real now, and stops the cutover.
  std::string parity_gate() {
    // The round beside the freeze finishes the read it is in (told to stop
    // when PAUSE returned); what that costs is part of the gate's time.
    const auto joined_from = Clock::now();
    narrowing_.get();  // its error, if any, is the gate's
    const double joined_ms = ms_since(joined_from);
    return gate_->run_frozen(deadline_, joined_ms);
  }

  // The rounds step 2 started, stopped and finished.
  void join_narrowing() noexcept {
    narrowing_again_ = false;
    join_quietly(narrowing_, "the round beside the freeze");
  }

  // The slot the new direction streams from (journaled as step 6), created
  // before the freeze: creating a logical slot waits for every transaction
  // running on the new primary to end (an autovacuum's ANALYZE, the
  // stream's open batch) and for its snapshot record to be flushed, which
  // took 200 ms with clients waiting (the WAL writer's delay: nothing else
  // flushed the new primary's WAL inside the freeze).
  // Every write the new primary takes after the switch is after its start;
  // what it commits between the two is the stream's own (the old primary's
  // writes, applied under the origin both directions share), which the new
  // direction's apply loop skips (ApplyLoop::on_origin).
  void create_new_stream() {
    const Config next = current_.reversed();
    const auto deadline = Clock::now() + kSlotWaitAtMost;
    pg::Result created;
    try {
      created =
          replication_->exec_until("CREATE_REPLICATION_SLOT " + pg::quote_ident(next.slot_name()) +
                                       " LOGICAL pgoutput NOEXPORT_SNAPSHOT",
                                   deadline);
    } catch (const Error& error) {
      if (error.kind() != ErrorKind::kTimeout) throw;
      throw Error(ErrorKind::kPrecondition,
                  "creating slot " + next.slot_name() + " on the " + new_role() + " waited " +
                      format_duration(static_cast<double>(kSlotWaitAtMost.count())) +
                      " for the transactions running there to end; end the long ones (see "
                      "pg_stat_activity) and try again");
    }
    slot_created_ = true;
    new_slot_start_ = created.str(0, 1);
    // The receiving side has everything before the slot's start.
    from_.exec("SELECT pg_catalog.pg_replication_origin_advance(" +
               pg::quote_literal(next.origin_name()) + ", " + pg::quote_literal(new_slot_start_) +
               "::pg_lsn)");
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
    // A fence made ready beside the router's freeze and never committed.
    abandon_fence(from_);
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
  // A cutover's new primary is the journal's home: its unfence commits with
  // the point of no return (one round trip and one disk flush less with
  // clients frozen, and never one without the other). A failback's follows
  // it, on the new primary's own session.
  void switch_primary() {
    const bool home_is_new = operation_ == Operation::kCutover;
    journal_.pass_point_of_no_return(new_direction(), home_is_new ? unfence_sql(to_) : "");
    crash_point("in", Step::kSwitch);
    const auto deadline = Clock::now() + std::max(budget_, milliseconds(2000));
    const auto started = Clock::now();
    if (!home_is_new) unfence(to_, deadline);
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

  Plan make_plan(PreflightFacts facts) {
    Plan plan;
    plan.operation = operation_;
    plan.old_primary = old_role();
    plan.new_primary = new_role();
    plan.router = router_->describe();
    plan.freeze_budget = budget_;
    plan.rolls_back_after = budget_ - rollback_reserve(budget_);
    pg::Result last = home_.exec(
        "SELECT operation, freeze_ms FROM switchyard.switch_runs "
        "WHERE stream = $1 AND state = 'completed' AND freeze_ms IS NOT NULL "
        "ORDER BY run_id DESC LIMIT 1",
        {current_.name});
    if (last.rows() > 0) {
      plan.last_operation = last.str(0, 0);
      plan.last_freeze_ms = std::stod(last.str(0, 1));
    }
    plan.facts = std::move(facts);
    return plan;
  }

  // The first refusal becomes the error; the others are logged before it.
  static void log_refusals(const PreflightFacts& facts) {
    const Check* first = facts.refusal();
    for (const Check& check : facts.checks) {
      if (!check.passed && &check != first) spdlog::error("preflight: {}", check.reason);
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

  Plan plan_;
  std::unique_ptr<ParityGate> gate_;
  // Step 2's rounds beside the freeze, going on while narrowing_again_
  // holds (declared after gate_ and the flag: joined before either goes).
  std::atomic<bool> narrowing_again_{false};
  std::future<uint64_t> narrowing_;
  ParityGate::Convergence convergence_;
  std::unique_ptr<pg::Connection> replication_;      // to the new primary, for its slot
  std::unique_ptr<pg::Connection> sequence_setter_;  // to the new primary, for step 5
  // Step 5 under way beside the drain and the gate (declared after its
  // session: joined before it goes).
  std::future<int> sequences_set_;
  std::string sequences_read_how_;

  Step current_step_ = Step::kPreflight;
  Clock::time_point freeze_started_{};
  Clock::time_point deadline_{};
  bool froze_ = false;
  bool slot_created_ = false;
  std::string new_slot_start_;       // the new direction's slot: where it starts
  std::optional<Lsn> drain_marker_;  // written by the fence, if it was
  std::string settle_detail_;        // how close to live the stream came before the freeze
  bool routed_ = false;              // step 7 began: the router may point at the new primary
  Lsn drained_to_;
  std::future<Lsn> drain_flushed_;  // a failback's flushed progress, asked beside the gate
  double freeze_ms_ = 0;
  std::string rollback_cause_;  // why the freeze was rolled back
};

}  // namespace

std::string Plan::to_text() const {
  std::string text = std::string(to_string(operation)) +
                     " plan (dry run): " + (refused() ? "preflight REFUSED" : "preflight passed") +
                     "; nothing was changed\n";
  text += "  old primary  " + old_primary + ", new primary " + new_primary + "\n";
  text += "  router       " + router + "\n";
  text += "  lag          " + format_bytes(static_cast<double>(facts.lag_bytes)) + "; " +
          std::to_string(facts.tables.size()) + " tables, " +
          std::to_string(facts.sequences.size()) + " sequences; " +
          std::to_string(facts.dirty_key_rows) + " dirty-key rows to pre-check\n";
  text += "  freeze       at most " + format_duration(freeze_budget.count() / 1000.0) +
          " (rolls back by itself past " + format_duration(rolls_back_after.count() / 1000.0) +
          ")\n";
  if (last_freeze_ms) {
    char ms[32];
    std::snprintf(ms, sizeof ms, "%.1f", *last_freeze_ms);
    text += "  expected     about " + std::string(ms) + " ms (the last " + last_operation +
            " froze writes that long)\n";
  }
  text += "  checks\n";
  auto padded = [](std::string word, size_t width) {
    if (word.size() < width) word.append(width - word.size(), ' ');
    return word;
  };
  for (const Check& check : facts.checks) {
    // Whole, however long: a router's description names a file.
    text += "    " + padded(check.passed ? "ok" : "FAIL", 4) + " " + padded(check.name, 22) + " " +
            check.measured + "  (" + check.threshold + ")\n";
    if (!check.passed) text += "         " + check.reason + "\n";
  }
  text += "  steps\n";
  for (Step which = kFirstStep;; which = *next(which)) {
    char line[80];
    std::snprintf(line, sizeof line, "    %d %-15s%s\n", static_cast<int>(which), to_string(which),
                  inside_freeze(which) ? " (writes frozen)" : "");
    text += line;
    if (which == kLastStep) break;
  }
  return text;
}

boost::json::object Plan::to_json() const {
  boost::json::object out;
  out["operation"] = to_string(operation);
  out["preflight"] = refused() ? "refused" : "passed";
  out["old_primary"] = old_primary;
  out["new_primary"] = new_primary;
  out["router"] = router;
  out["lag_bytes"] = facts.lag_bytes;
  out["tables"] = facts.tables.size();
  out["sequences"] = facts.sequences.size();
  out["dirty_key_rows"] = facts.dirty_key_rows;
  out["freeze_budget_ms"] = freeze_budget.count();
  out["rolls_back_after_ms"] = rolls_back_after.count();
  out["last_freeze_ms"] = last_freeze_ms ? boost::json::value(*last_freeze_ms) : nullptr;
  boost::json::array checks;
  for (const Check& check : facts.checks) {
    boost::json::object item{{"name", check.name},
                             {"passed", check.passed},
                             {"measured", check.measured},
                             {"threshold", check.threshold}};
    item["reason"] = check.passed ? boost::json::value(nullptr) : boost::json::value(check.reason);
    checks.push_back(std::move(item));
  }
  out["checks"] = std::move(checks);
  boost::json::array steps;
  for (Step which = kFirstStep;; which = *next(which)) {
    steps.push_back(boost::json::object{{"step_no", static_cast<int>(which)},
                                        {"step", to_string(which)},
                                        {"writes_frozen", inside_freeze(which)}});
    if (which == kLastStep) break;
  }
  out["steps"] = std::move(steps);
  out["text"] = to_text();  // as --dry-run prints it
  return out;
}

struct SwitchRun::Impl {
  std::unique_ptr<pg::Connection> lock;  // holds the switch lock for the run
  std::unique_ptr<Switchover> switchover;
  Plan plan;
  int64_t run_id = 0;
  bool dry_run = false;
  bool settled = false;  // an interrupted run of this operation, now completed
};

namespace {

const std::string kNotInitialised = "is not initialised; run replicate first";

// A connection to the target holding the stream's switch lock. Throws
// AlreadyRunning when another process holds it, Error(kPrecondition) when
// the stream is not set up.
std::unique_ptr<pg::Connection> take_switch_lock(const Config& config) {
  auto home = std::make_unique<pg::Connection>(config.target.conninfo, config.target.name,
                                               pg::Mode::kNormal, "cutover-lock");
  if (!control::schema_exists(*home) || !control::read_stream(*home, config.name)) {
    throw Error(ErrorKind::kPrecondition,
                "target: stream '" + config.name + "' " + kNotInitialised);
  }
  // One switch at a time: a second one would take the first for
  // interrupted and settle it under its feet.
  const std::string name = "switchyard switch " + config.name;
  if (!control::try_advisory_lock(*home, name)) {
    pg::Result running = home->exec(
        "SELECT max(run_id) FROM switchyard.switch_runs WHERE stream = $1 AND state = 'running'",
        {config.name});
    const std::string run = running.is_null(0, 0) ? "" : " (run " + running.str(0, 0) + ")";
    throw AlreadyRunning("a cutover or failback of stream '" + config.name +
                         "' is already running" + run + control::advisory_lock_holder(*home, name) +
                         "; wait for it to end (switchyard status shows its steps)");
  }
  control::ensure_schema(*home);  // the journal tables of this release
  return home;
}

// Settles the run a killed process left marked running, if any, in its own
// direction: rolled back, or completed past the point of no return. The
// switch lock is held on `home`.
std::optional<std::pair<RunRecord, Recovery>> settle(const Config& config, pg::Connection& home,
                                                     milliseconds budget) {
  Journal probe(home, config.name);
  auto run = probe.interrupted_run();
  if (!run) return std::nullopt;
  Switchover interrupted(config, run->operation, budget);
  interrupted.recover(*run);
  return std::make_pair(*run, plan_recovery(run->entries));
}

}  // namespace

std::optional<int64_t> settle_interrupted(const Config& config) {
  std::unique_ptr<pg::Connection> home;
  try {
    home = take_switch_lock(config);
  } catch (const AlreadyRunning&) {
    return std::nullopt;  // its holder settles what there is
  } catch (const Error& error) {
    const std::string what = error.what();
    if (what.find(kNotInitialised) != std::string::npos) return std::nullopt;
    throw;
  }
  const auto settled = settle(config, *home, config.cutover.freeze_budget);
  if (!settled) return std::nullopt;
  return settled->first.run_id;
}

SwitchRun::SwitchRun(const Config& config, const SwitchOptions& options)
    : impl_(std::make_unique<Impl>()) {
  const milliseconds budget = options.freeze_budget.value_or(config.cutover.freeze_budget);
  impl_->dry_run = options.dry_run;
  impl_->plan.operation = options.operation;
  impl_->lock = take_switch_lock(config);
  if (options.dry_run) {
    if (auto run = Journal(*impl_->lock, config.name).interrupted_run()) {
      throw Error(ErrorKind::kPrecondition,
                  std::string(to_string(run->operation)) + " run " + std::to_string(run->run_id) +
                      " was interrupted; run the command without --dry-run to settle it");
    }
  } else if (const auto settled = settle(config, *impl_->lock, budget)) {
    // The interrupted run was this one and is now complete: nothing more.
    const auto& [run, recovery] = *settled;
    if (run.operation == options.operation && recovery.action == Recovery::Action::kComplete) {
      impl_->settled = true;
      impl_->run_id = run.run_id;
      return;
    }
  }
  impl_->switchover = std::make_unique<Switchover>(config, options.operation, budget);
  if (options.dry_run) {
    impl_->plan = impl_->switchover->preflight_only();
    if (const Check* refusal = impl_->plan.facts.refusal()) {
      throw Refused(refusal->reason, impl_->plan);
    }
    return;
  }
  impl_->switchover->begin(options.requested_by);
  impl_->run_id = impl_->switchover->run_id();
  impl_->plan = impl_->switchover->plan();
}

SwitchRun::~SwitchRun() = default;

const Plan& SwitchRun::plan() const {
  return impl_->plan;
}

int64_t SwitchRun::run_id() const {
  return impl_->run_id;
}

double SwitchRun::run() {
  if (impl_->dry_run) throw Error(ErrorKind::kInternal, "SwitchRun::run() on a dry run");
  if (impl_->settled) return 0;
  return impl_->switchover->finish();
}

ExitCode run_switch(const Config& config, const SwitchOptions& options) {
  std::unique_ptr<SwitchRun> run;
  try {
    run = std::make_unique<SwitchRun>(config, options);
  } catch (const Refused& refused) {
    if (options.dry_run) {
      std::fputs(refused.plan().to_text().c_str(), stdout);
      std::fflush(stdout);
    }
    throw;
  }
  if (options.dry_run) {
    std::fputs(run->plan().to_text().c_str(), stdout);
    std::fflush(stdout);
    return ExitCode::kOk;
  }
  const double freeze_ms = run->run();
  const Plan& plan = run->plan();
  if (plan.old_primary.empty()) {
    std::printf("%s: run %lld, interrupted, was completed\n", to_string(options.operation),
                static_cast<long long>(run->run_id()));
  } else {
    std::printf("%s: %s is the primary, %s fenced; writes frozen %.1f ms (budget %s)\n",
                to_string(options.operation), plan.new_primary.c_str(), plan.old_primary.c_str(),
                freeze_ms, format_duration(plan.freeze_budget.count() / 1000.0).c_str());
  }
  std::fflush(stdout);
  return ExitCode::kOk;
}

}  // namespace switchyard::cutover
