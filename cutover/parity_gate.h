// The cutover's parity gate (step 4), and the work before the freeze that
// keeps it small.
//
// The gate compares, with writes frozen and the stream drained, every row
// the stream changed since it was last verified: no difference can then be
// "in flight", so any difference stops the cutover. Its cost must follow the
// changes of the last moments, never the size of a table, since clients are
// waiting. Three things keep it so:
//
//  - converge(), before the freeze, asks the apply loop for exact marks
//    (every changed key, never a whole table; control::request_exact_marks)
//    and compares the changed rows round after round, while writes still
//    flow, until few are left or they stop shrinking;
//  - rows that verify left in flight (hot rows) are marked dirty again, so
//    they reach the gate, where they cannot change any more;
//  - every round, and the gate, reads the marked rows of all tables at once
//    (verify's dirty_round: one snapshot per side, a round trip per read),
//    so a round costs little more than its rows and the freeze follows a
//    short last round; the gate's marks are cleared after the freeze
//    (clear_compared());
//  - run_frozen() compares by key only. A table without a key cannot be
//    probed by row: converge() proves it equal by digests and the stream's
//    log of the rows it wrote (cutover/keyless_proof.h), and run_frozen()
//    only checks that the log still covers every change. Where that proof
//    fails (replicate not running, a TRUNCATE, a real difference), the
//    table is compared whole, in converge() and again inside the freeze,
//    against the time left in the budget; converge() reports how long it
//    took (measured while writes flow, so it errs long; the budget decides,
//    rolling back if it runs out). A keyed table marked whole (a TRUNCATE)
//    is compared whole inside the freeze too.
//
// Large objects are not streamed (control/large_objects.h): converge()
// syncs them against the new primary's actual objects, and run_frozen()
// syncs what changed since (nothing, as a rule: one statistics query tells)
// and proves that both sides hold the same objects with the same owners.
//
// Owns a Verifier (three connections); not thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/config.h"
#include "cutover/keyless_proof.h"
#include "verify/verifier.h"

namespace switchyard::cutover {

class ParityGate {
 public:
  // `current` is the stream in its present direction (its target is the
  // new primary).
  explicit ParityGate(const Config& current);
  ~ParityGate();
  ParityGate(const ParityGate&) = delete;
  ParityGate& operator=(const ParityGate&) = delete;

  struct Convergence {
    int rounds = 0;
    uint64_t rows_compared = 0;
    uint64_t keys_left = 0;     // marked by key, for the gate
    int whole_tables_left = 0;  // tables with a key marked as a whole, for the gate
    // A table without a key not proven by the stream's log is compared
    // whole, by the gate too: how long that took here, unfrozen, for the
    // slowest one.
    double slowest_keyless_seconds = 0;
    std::string slowest_keyless;
    // Tables without a key proven equal by the stream's row log.
    std::vector<std::string> keyless_proven;
  };
  static constexpr int kMaxRounds = 8;
  // Before the freeze, at most `max_rounds` rounds. Throws
  // Error(kPrecondition) on a mismatch.
  Convergence converge(int max_rounds);

  // Rounds without re-checks over the rows marked by key so far, so that
  // the gate after the drain reads only what changed in the last moments:
  // once before the freeze, after the new direction's slot is created, and
  // as the freeze begins, round after round while `again` holds (the
  // router waits for the transactions still running, pgbouncer's PAUSE,
  // and the stream applies what they and the moments before them wrote).
  // A row that differs is left marked for the gate. Runs on the gate's own
  // sessions; returns the rows found equal. Throws Error(kTimeout) past
  // `deadline`.
  uint64_t narrow(std::chrono::steady_clock::time_point deadline,
                  const std::atomic<bool>* again = nullptr);
  // What is marked now, for the gate: keys, and tables with a key marked
  // as a whole.
  struct Marked {
    uint64_t keys = 0;
    int whole_tables = 0;
  };
  Marked marked_now();

  // Last before the freeze: runs the statements the gate makes first inside
  // it once, so that its sessions have the catalogs they read cached (a
  // cold session's first such statement took 37 ms of a quiet freeze).
  void warm_up();

  // Inside the freeze, by `deadline`. Throws Error(kPrecondition) naming
  // the first table that differs, Error(kTimeout) when time runs out.
  // Returns "N changed rows equal" (and how many tables were compared
  // whole, if any).
  // `round_wait_ms`: how long the caller waited for the last round beside
  // the freeze to stop, reported with the step's other waits.
  std::string run_frozen(std::chrono::steady_clock::time_point deadline, double round_wait_ms);

  // After the freeze, whatever its outcome: clears the marks run_frozen()
  // proved equal (outside the freeze: clients wait on nothing it does).
  // A failure only leaves them for verify to compare again.
  void clear_compared() noexcept;

  // Lets the apply loop mark whole tables again. Harmless if never asked.
  void release() noexcept;

 private:
  verify::TableReport compare(const verify::TablePlan& plan);
  // The tables without a key proven before the freeze, with the expression
  // telling whether each proof still holds (KeylessProof::still_holds());
  // every other table in `others`.
  struct RowLogChecks {
    std::vector<const verify::TablePlan*> tables;
    std::vector<std::string> checks;
    std::vector<const verify::TablePlan*> others;
  };
  RowLogChecks row_log_checks() const;
  // Every statement on the gate's sessions ends by `deadline`.
  void hold_sessions_to(std::chrono::steady_clock::time_point deadline);
  std::string large_objects_frozen(std::chrono::steady_clock::time_point deadline);

  Config config_;  // the Verifier keeps a reference: the re-check timeout is set per phase
  std::unique_ptr<verify::Verifier> verifier_;
  verify::PostgresSides* sides_ = nullptr;  // the verifier's
  std::vector<verify::TablePlan> plans_;
  std::vector<const verify::TablePlan*> keyed_;  // of plans_, the tables with a key
  uint64_t narrowed_ = 0;                        // rows narrow() found equal
  bool requested_ = false;
  bool keyless_compared_ = false;  // by an earlier converge()
  std::unique_ptr<KeylessProof> keyless_;
  std::set<std::string> proven_keyless_;                 // by display name
  std::vector<verify::store::DirtyRow> compared_marks_;  // by run_frozen(), to clear
  // Large objects: their own sessions (named switchyard-*, so the fence
  // leaves them), and whether converge() has compared with the target.
  std::unique_ptr<pg::Connection> lo_source_, lo_target_;
  bool lo_against_target_done_ = false;
};

}  // namespace switchyard::cutover
