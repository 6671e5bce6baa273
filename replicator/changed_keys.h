// verify's changed-key policy for one table: which rows a batch of applied
// changes touched, written beside them into switchyard.dirty_keys (see
// docs/control-schema.md) so that `verify --dirty-only` and the cutover's
// parity gate compare exactly those rows.
//
// A row is marked by its key (the target's primary key, else its replica
// identity index). A key of one integer column is kept as runs of
// consecutive values instead: a loader's inserts, keyed by a sequence, are
// a handful of ranges however many rows they add, and verify reads each
// range in one index walk. Runs of one value are written as keys, longer
// ones as ranges. When marking by key cannot work the table is marked as a
// whole instead, for verify to compare in full:
//  - the table has no such key, or a change did not carry a key value (an
//    unchanged TOASTed column, a NULL) or replaced every row (TRUNCATE);
//  - one batch changed more than kMaxKeysPerBatch keys, or runs (a 2M-row
//    UPDATE of a table with a text key, or of scattered integer keys):
//    memory must not follow a transaction's size. The table then stays in
//    whole mode until a full verify pass clears it;
//  - more keys and ranges wait in switchyard.dirty_keys than verify would
//    read one by one (review(), with control::dirty_key_limit).
// While a cutover prepares (exact), whole mode is off: the gate needs every
// key, and compares a table whole only for the batch that overflowed.
//
// Pure bookkeeping, no server: the apply loop feeds it and writes what it
// holds in the batch's own target transaction.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_set>
#include <vector>

namespace switchyard {

class ChangedKeys {
 public:
  // Keys (or runs of an integer key) one batch may mark per table: about
  // 5 MB of them.
  static constexpr size_t kMaxKeysPerBatch = 50'000;

  // `key_columns`: how many values identify a row; 0 when the table has no
  // usable key (every change marks it whole). `integer_key`: the key is one
  // column of smallint, integer or bigint, kept as runs.
  explicit ChangedKeys(size_t key_columns = 0, bool integer_key = false)
      : key_columns_(key_columns), integer_key_(integer_key && key_columns == 1) {}

  enum class Marked {
    kKnown,      // already marked in this batch, or the batch marks the table whole
    kNew,        // a key new to this batch (for an integer key: a new run)
    kOverflow,   // this key overflowed the batch: the table is marked whole
    kWholeMode,  // ... and stays so until verify's next full pass
  };
  // A changed row's key values, in key order: null for one the change did
  // not carry or that is NULL (which cannot identify a row).
  Marked mark(const std::vector<const std::string*>& key, bool exact);
  // The batch changed the table as a whole (TRUNCATE).
  void mark_whole() { batch_whole_ = true; }

  size_t key_columns() const { return key_columns_; }
  // Something to write for this batch.
  bool pending() const { return batch_whole_ || marked() > 0; }
  // The batch's mark is the whole table (its own, or whole mode).
  bool whole() const { return batch_whole_ || whole_mode_; }
  // The marked keys as a two-dimensional text[] literal: {{"1","a"},{"2","b"}}
  // (for an integer key, the runs of one value).
  std::string keys_literal() const;
  // The integer key's longer runs as a two-dimensional bigint[] literal of
  // inclusive bounds, {{1,100},{205,230}}; "{}" for other keys.
  std::string ranges_literal() const;
  // After the batch's marks are written, or the batch rolled back.
  void clear_batch();

  // ---- whole mode, across batches --------------------------------------
  bool whole_mode() const { return whole_mode_; }
  enum class Mode { kUnchanged, kEnteredWhole, kLeftWhole };
  // A cutover preparing switches whole mode off at once.
  Mode set_exact(bool exact);
  // Whether to look at what waits in switchyard.dirty_keys (every 30 s).
  bool review_due(std::chrono::steady_clock::time_point now);
  // `waiting`: keys waiting for verify; `whole_marked`: a whole-table mark
  // waits too; `limit`: control::dirty_key_limit for the table.
  Mode review(uint64_t waiting, bool whole_marked, uint64_t limit);

  // pgoutput re-sent the table's definition mid-batch: the marks carry
  // over if the key is the same (`same_key`), else the table is marked
  // whole; whole mode carries either way.
  void carry_from(ChangedKeys&& previous, bool same_key);

 private:
  size_t marked() const { return integer_key_ ? runs_.size() : seen_.size(); }
  Marked mark_integer(const std::string& text, bool exact);
  Marked overflow(bool exact);

  size_t key_columns_;
  bool integer_key_;
  std::unordered_set<std::string> seen_;  // encoded keys marked in this batch
  std::vector<std::string> values_;       // their values, key after key
  std::map<int64_t, int64_t> runs_;       // an integer key's: first -> last
  bool batch_whole_ = false;
  bool whole_mode_ = false;
  std::chrono::steady_clock::time_point next_review_{};
};

}  // namespace switchyard
