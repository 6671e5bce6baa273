// verify's part of the control schema (docs/control-schema.md): per table
// the last pass, per chunk its digests, the position it was verified at
// and its status, every mismatch with the time it was first and last seen,
// and the dirty keys the apply loop leaves for the dirty-only pass.
//
// Functions take the (target) connection to use; none opens its own.
#pragma once

#include <boost/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/lsn.h"
#include "drivers/pg/connection.h"
#include "verify/key_runs.h"
#include "verify/recheck.h"
#include "verify/table_plan.h"

namespace switchyard::verify {

// A row that differs, as reported and stored.
struct Finding {
  std::string table;  // schema.name
  KeyText key;
  boost::json::object key_json;  // {"column": value}
  MismatchKind kind = MismatchKind::kDifferent;
  Lsn source_position;
};

// Builds a Finding from a canonical key encoding.
Finding make_finding(const TablePlan& plan, const std::string& key, MismatchKind kind,
                     Lsn source_position);

namespace store {

// Notes that a pass over the table is under way, leaving the last completed
// pass's result in place; returns the new pass's start time (server clock).
std::string begin_pass(pg::Connection& target, const std::string& stream, const TablePlan& plan);
void finish_pass(pg::Connection& target, const std::string& stream, const TablePlan& plan,
                 const std::string& status, Lsn position, uint64_t rows, int chunks,
                 size_t mismatches, size_t in_flight);

struct ChunkRecord {
  int chunk_no = 0;
  const KeyText* lower = nullptr;
  const KeyText* upper = nullptr;
  uint64_t rows = 0;
  std::string source_digest;
  std::string target_digest;
  std::string status;  // clean | mismatch | in_flight
  Lsn verified_at;
};
void save_chunk(pg::Connection& target, const std::string& stream, const TablePlan& plan,
                const ChunkRecord& chunk);
// Drops chunks numbered `count` and up, left from a longer earlier pass.
void trim_chunks(pg::Connection& target, const std::string& stream, const TablePlan& plan,
                 int count);

// Inserts a mismatch, or refreshes last_seen (and re-opens it if it had
// been resolved).
void record_mismatch(pg::Connection& target, const std::string& stream, const TablePlan& plan,
                     const Finding& finding);
// A full pass that started at `pass_started` and did not see them again
// resolves the table's older open mismatches.
void resolve_unseen(pg::Connection& target, const std::string& stream, const TablePlan& plan,
                    const std::string& pass_started);
void resolve(pg::Connection& target, const std::string& stream, const TablePlan& plan,
             const KeyText& key, const std::string& resolution);

struct OpenMismatch {
  std::string schema, name;
  KeyText key;
  std::string kind;
};
std::vector<OpenMismatch> open_mismatches(pg::Connection& target, const std::string& stream);

// Dirty keys, written by the apply loop: one row per table and batch
// (insert-only), or one whole-table row.
struct DirtyRow {
  std::string ctid;  // with marked_lsn: exactly the row that was read
  std::string marked_lsn;
};
struct DirtySet {
  bool whole_table = false;   // a change that named no key, or too many keys
  std::vector<KeyText> keys;  // distinct
  // An integer key's runs of changed values, as marked: in any order, they
  // may overlap and hold keys also in `keys` (marked_reads() sorts that out).
  std::vector<KeyRun> ranges;
  std::vector<DirtyRow> rows;

  // What reading them one by one costs: a key or a range is one read.
  uint64_t reads() const { return keys.size() + ranges.size(); }
  // Whether `plan` must be compared whole: marked so, or marked by ranges
  // of a key verify does not read as an integer.
  bool whole_for(const TablePlan& plan) const {
    return whole_table || (!ranges.empty() && !(plan.integer_key && plan.key.size() == 1));
  }
};
DirtySet read_dirty(pg::Connection& target, const std::string& stream, const TablePlan& plan);
// Every table's marks at once, by (schema, table): one round trip.
std::map<std::pair<std::string, std::string>, DirtySet> read_all_dirty(pg::Connection& target,
                                                                       const std::string& stream);
// How many keys wait per table, and whether it is marked as a whole; only
// tables with marks are listed.
struct MarkCount {
  std::string schema, name;
  uint64_t keys = 0;  // keys and ranges
  bool whole_table = false;
};
std::vector<MarkCount> count_marks(pg::Connection& target, const std::string& stream);
// Clears exactly the rows read: keys marked again since are in newer rows.
void clear_dirty(pg::Connection& target, const std::vector<DirtyRow>& rows);
// Marks `keys` dirty again at `position`: rows that kept changing while a
// pass looked at them are compared by the next dirty-only pass, and by the
// cutover's gate with writes frozen, where they cannot change. A table
// without a key is marked as a whole.
void mark_dirty(pg::Connection& target, const std::string& stream, const TablePlan& plan,
                const std::vector<KeyText>& keys, Lsn position);
// Clears every mark of the table up to `position` (after a full pass).
void clear_dirty_through(pg::Connection& target, const std::string& stream, const TablePlan& plan,
                         Lsn position);

}  // namespace store
}  // namespace switchyard::verify
