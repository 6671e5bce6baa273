// Changed keys grouped into runs, for reading them back.
//
// A table that is mostly inserted into (a log, an event table, anything
// keyed by a sequence) has its changed keys in long runs of consecutive
// integers. Reading such a run as one key range walks the index once; a
// probe per key costs about ten times as much per row (measured on
// PostgreSQL 15: 5,000 consecutive keys in 15 ms by probes, 1 ms as a
// range). Keys that form no dense run are read by key, as before.
//
// A range also reads the rows between the changed keys that did not
// change. They are compared like the others: more is verified, nothing is
// missed, and the gaps are bounded so the extra rows stay few.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "verify/table_plan.h"

namespace switchyard::verify {

struct KeyRun {
  int64_t first = 0;  // inclusive
  int64_t last = 0;   // inclusive
  size_t keys = 0;    // changed keys inside it
};

struct KeyRuns {
  std::vector<KeyRun> runs;
  std::vector<KeyText> scattered;  // keys in no run, to be read by key
};

struct KeyRunRules {
  int64_t max_gap = 8;       // neighbours further apart end a run (density >= 1/8)
  size_t min_keys = 32;      // a shorter run is read by key
  int64_t max_span = 20000;  // values per run: one range read stays chunk-sized
};

// `keys`: the texts of a single integer key column, in any order, possibly
// repeated. A key that is not an integer makes every key scattered.
// `known`: runs already marked as such (the apply loop's ranges), in any
// order, overlapping or not; a key inside one is not read again, and a run
// longer than the span limit is read in pieces.
KeyRuns group_key_runs(const std::vector<KeyText>& keys, const KeyRunRules& rules = {},
                       std::vector<KeyRun> known = {});

// The smallest value `plan`'s integer key can hold on both sides (the
// narrower PostgreSQL type of the two decides). A run starting there is read
// with an open lower bound: "key > first - 1" would not even parse as that
// type.
int64_t integer_key_floor(const TablePlan& plan);

// One read of a table's changed keys: a key range, lower < key <= upper (no
// lower bound: open), or a batch of keys probed one by one.
struct MarkedRead {
  std::optional<KeyText> lower;
  std::optional<KeyText> upper;  // set for a range
  std::vector<KeyText> keys;     // a batch otherwise

  bool range() const { return upper.has_value(); }
  // The SELECT that reads it on `side`.
  std::string select(const TablePlan& plan, Side side) const;
};

// How to read `keys` (distinct, as store::read_dirty returns them) and
// `ranges` (the marked runs of an integer key) back: the runs of a single
// integer key as ranges, every other key in batches of at most
// `keys_per_read`.
std::vector<MarkedRead> marked_reads(const TablePlan& plan, const std::vector<KeyText>& keys,
                                     const std::vector<KeyRun>& ranges = {},
                                     size_t keys_per_read = 5000);

}  // namespace switchyard::verify
