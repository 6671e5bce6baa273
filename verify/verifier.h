// The verifier: full passes over a table in key-range chunks, and
// dirty-only passes over the keys the apply loop changed.
//
// Full pass, per chunk: take the chunk's upper bound from the source (a
// key value for integer keys, the key N rows on otherwise), read the range
// on both sides at once through the chunk hasher, compare the digests.
// Equal: the chunk is clean at the source position it was read at.
// Different: the rows already read name the keys that differ, and the
// position-tied re-check (recheck.h) settles each as equal, mismatch or in
// flight. Chunk sizes adapt toward verify.chunk_time of reading.
//
// Dirty-only pass: the keys in switchyard.dirty_keys are read on both sides
// by key and compared the same way; cost follows the number of changed
// keys, not the size of the table. Marks are cleared only once verified.
//
// A Verifier reads through its Sides (sides.h): a PostgreSQL source's, or an
// ODBC legacy's (legacy_sides.h); not thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "verify/recheck.h"
#include "verify/sides.h"
#include "verify/table_plan.h"
#include "verify/verify_store.h"

namespace switchyard::verify {

struct TableReport {
  std::string table;
  uint64_t source_rows = 0;
  uint64_t target_rows = 0;
  uint64_t bytes = 0;  // read on both sides
  int chunks = 0;
  uint64_t rechecked = 0;  // rows whose chunk differed, settled by the re-check
  std::vector<Finding> mismatches;
  std::vector<Finding> in_flight;
  std::map<Unsettled, size_t> unsettled;  // the rows in flight, by why
  double seconds = 0;
  bool completed = true;     // false if stopped by a signal
  bool whole_table = false;  // a full pass (a dirty-only pass falls back to one)
};

class Verifier {
 public:
  // A PostgreSQL source and target.
  explicit Verifier(const Config& config);
  Verifier(const Config& config, std::unique_ptr<Sides> sides);

  // The stream's tables (or the one named schema.table), planned. Throws
  // Error(kUsage) for a table that is not part of the stream, and
  // Error(kPrecondition) if the initial copy has not finished.
  std::vector<TablePlan> plan_tables(const std::optional<std::string>& only);

  TableReport full_pass(const TablePlan& plan, bool rate_limited);
  // Falls back to a full pass for a table marked as a whole, a keyless
  // one, or more keys than a key-by-key check is worth; `by_key_always`
  // (the cutover's gate) compares any number of keys by key instead.
  TableReport dirty_pass(const TablePlan& plan, bool by_key_always = false);

  // A dirty-only pass over many tables at once: the marks of all of them
  // read in one query, every marked row in one Sides::read_marked call (for
  // PostgreSQL, one snapshot per side), differences settled by the re-check
  // as in dirty_pass, marks cleared for all in one transaction. A table
  // marked as a whole or without a key goes through dirty_pass
  // (by_key_always).
  struct RoundOptions {
    // Settle differences with the re-check. Without it, a key that differs
    // is only marked again, for a later round (or the cutover's gate) to
    // compare: a round before the freeze must not wait seconds for a hot
    // row while a loader's keys pile up.
    bool recheck = true;
    // Return the marks of tables found equal instead of clearing them, for
    // the caller to clear later (the gate, with clients waiting).
    bool keep_marks = false;
    // Leave out the tables marked whole (and those without a key): only
    // what is marked by key, a cost that follows the changes.
    bool by_key_only = false;
    // Asked before the rows are read and before the marks are cleared:
    // false abandons the round, clearing nothing (a later round, or the
    // cutover's gate, compares those rows again). The rounds beside a
    // freeze stop this way, so the gate does not wait out one in full.
    const std::atomic<bool>* go_on = nullptr;
  };
  struct Round {
    std::vector<TableReport> reports;  // one per table that had marks
    std::vector<store::DirtyRow> marks_to_clear;
    size_t reads = 0;          // per side, for the batched tables
    double marks_seconds = 0;  // reading the marks, before the rows
    double read_seconds = 0;
  };
  Round dirty_round(const std::vector<const TablePlan*>& plans, RoundOptions options);

  Sides& sides() { return *sides_; }

  // Asked between the chunks of a full pass, at most once a second: true
  // ends the pass early and unrecorded, as a stop does. Continuous verify
  // asks whether the stream turned round (a cutover or failback): the rest
  // of the pass would compare against a stream that no longer runs.
  void abandon_when(std::function<bool()> abandon) { abandon_ = std::move(abandon); }
  // The pass in progress (or the last one) ended because of it.
  bool abandoned() const { return abandoned_; }
  // Also asked between the chunks of a full pass, at most once a second:
  // while it holds, the pass waits where it is, unpaced time not made up
  // afterwards. Continuous verify asks whether a cutover is preparing: its
  // own rounds compare what changed, and the freeze that follows wants the
  // servers' time, not a second full pass beside it.
  void yield_while(std::function<bool()> busy) { yield_ = std::move(busy); }

 private:
  // Settles candidate keys and records what they turned out to be.
  // Returns the chunk status: clean, mismatch or in_flight.
  std::string settle(const TablePlan& plan, std::vector<std::string> keys, TableReport& report);
  // Both sides of a table without a key, keeping only the rows near a
  // difference (see the definition).
  std::pair<SideRead, SideRead> read_keyless(const TablePlan& plan);
  // One line per reason for the rows a pass left in flight, with what to do.
  void log_unsettled(const TablePlan& plan, const TableReport& report) const;

  // Asks abandon_ if a second has passed since it last did.
  bool should_abandon();
  // Waits while yield_ holds (asked at most once a second); returns how
  // long it waited.
  std::chrono::steady_clock::duration yield_if_asked();

  const Config& config_;
  std::unique_ptr<Sides> sides_;
  std::function<bool()> abandon_;
  std::chrono::steady_clock::time_point abandon_asked_;
  std::function<bool()> yield_;
  std::chrono::steady_clock::time_point yield_asked_;
  bool abandoned_ = false;
};

}  // namespace switchyard::verify
