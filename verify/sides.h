// The two databases as verify sees them, whichever engine the source is:
// what the verifier (verifier.h) and the re-check (recheck.h) read, and
// where the stream stands. Two implementations:
//  - PostgresSides (here): a PostgreSQL source and target, each read through
//    binary COPY in its own short REPEATABLE READ transaction; positions
//    are WAL LSNs;
//  - LegacySides (legacy_sides.h): an ODBC legacy and its PostgreSQL
//    target, each read by its own driver as typed values; positions are
//    changelog sequences.
//
// A source read comes with a position S taken after its snapshot: every
// change that read saw lies before S. The target has applied all of them
// once the stream's applied position has reached S. A target read comes
// with the applied position just before its snapshot.
//
// Not thread-safe, except that read_range() may read the two sides on two
// threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/config.h"
#include "common/lsn.h"
#include "drivers/pg/connection.h"
#include "verify/chunk_hasher.h"
#include "verify/key_runs.h"
#include "verify/table_plan.h"

namespace switchyard::verify {

struct SideRead {
  ChunkRows rows;
  Lsn position;  // source: S; target: the applied position just before the snapshot
};

class Sides {
 public:
  virtual ~Sides() = default;

  // A session on the target for verify's records in the control schema.
  virtual pg::Connection& control() = 0;
  // How the configuration names the two ends, for messages.
  virtual const std::string& source_role() const = 0;
  virtual const std::string& target_role() const = 0;

  // Whether `given` (verify --table) names the stream's table schema.name.
  virtual bool names_table(const std::string& given, const std::string& schema,
                           const std::string& name) const {
    return given == schema + "." + name;
  }
  // A table of the stream (schema and name on the target), planned.
  // Throws Error(kSchemaDrift) or Error(kPrecondition) as plan_table does.
  virtual TablePlan plan(const std::string& schema, const std::string& name) = 0;

  // Both sides' rows with lower < key <= upper (a null bound is open). For
  // a table with a key, as are read_keys and read_keys_both.
  virtual std::pair<SideRead, SideRead> read_range(const TablePlan& plan, const KeyText* lower,
                                                   const KeyText* upper) = 0;
  // One side's rows of `keys`.
  virtual SideRead read_keys(Side side, const TablePlan& plan,
                             const std::vector<KeyText>& keys) = 0;
  // A table without a key, read whole: both sides at once, or one. Only
  // the rows `filter` names are kept, with a digest per bucket (RowFilter,
  // chunk_hasher.h). Engines whose tables all have a key (those streamed by
  // trigger capture) need not read them.
  virtual std::pair<SideRead, SideRead> read_whole(const TablePlan& plan, const RowFilter& filter);
  virtual SideRead read_whole(Side side, const TablePlan& plan, const RowFilter& filter);

  // Both sides' rows of `keys` (one after the other, unless the engine
  // reads them at once).
  virtual std::pair<SideRead, SideRead> read_keys_both(const TablePlan& plan,
                                                       const std::vector<KeyText>& keys) {
    SideRead source = read_keys(Side::kSource, plan, keys);
    return {std::move(source), read_keys(Side::kTarget, plan, keys)};
  }

  // The changed rows of many tables (a dirty-only round, the cutover's
  // gate): both sides' rows of each read, in `reads` order. No positions:
  // rows read equal are equal, and a difference goes to the re-check. By
  // default each read on its own, as read_range and read_keys_both do.
  struct MarkedTableRead {
    const TablePlan* plan;
    MarkedRead read;
  };
  virtual std::vector<std::pair<ChunkRows, ChunkRows>> read_marked(
      const std::vector<MarkedTableRead>& reads);

  // For chunking a table with one integer key: the key's smallest and
  // largest value on the source, nullopt when it is empty.
  virtual std::optional<std::pair<int64_t, int64_t>> key_extent(const TablePlan& plan) = 0;
  // For any other key: the source's key `rows` rows after `lower`, which
  // ends the chunk; nullopt when the chunk runs to the end of the table.
  virtual std::optional<KeyText> split_point(const TablePlan& plan, const KeyText* lower,
                                             uint64_t rows) = 0;

  // The most rows a chunk may hold (chunk sizes aim at verify.chunk_time).
  virtual double max_chunk_rows() const { return 1'000'000; }

  // How far the target has applied the source.
  virtual Lsn applied_position() = 0;
  // True if a replicate streams now (nothing applies the source's changes
  // otherwise).
  virtual bool stream_running() = 0;

  // Polls every few milliseconds until applied_position() >= position.
  // False if `timeout` passes first, or a stop was requested.
  bool wait_applied(Lsn position, std::chrono::milliseconds timeout);

  // Waits until every transaction committed on the source so far is
  // visible to a snapshot taken there from now on. PostgreSQL writes a
  // commit to its WAL, where the stream may already decode and apply it, a
  // moment before other sessions see it (a busy machine stretches that
  // moment). False if `timeout` passes first, or a stop was requested.
  virtual bool wait_source_commits_visible(std::chrono::milliseconds) { return true; }
};

// A PostgreSQL source and target. Every read runs in its own short
// REPEATABLE READ transaction, so a chunk is one consistent picture of its
// side and no snapshot is held open on a production source between chunks.
// The source position is the WAL insert position after the snapshot was
// taken; the target has applied a transaction once its replication origin,
// or the slot's confirmed position, has passed the commit.
class PostgresSides : public Sides {
 public:
  explicit PostgresSides(const Config& config);

  pg::Connection& source() { return source_; }
  pg::Connection& target() { return target_; }
  pg::Connection& control() override { return control_; }
  const std::string& source_role() const override { return config_.source.name; }
  const std::string& target_role() const override { return config_.target.name; }

  TablePlan plan(const std::string& schema, const std::string& name) override;
  std::pair<SideRead, SideRead> read_range(const TablePlan& plan, const KeyText* lower,
                                           const KeyText* upper) override;
  SideRead read_keys(Side side, const TablePlan& plan, const std::vector<KeyText>& keys) override;
  std::pair<SideRead, SideRead> read_keys_both(const TablePlan& plan,
                                               const std::vector<KeyText>& keys) override;
  std::pair<SideRead, SideRead> read_whole(const TablePlan& plan, const RowFilter& filter) override;
  SideRead read_whole(Side side, const TablePlan& plan, const RowFilter& filter) override;
  // Every read in one snapshot per side, the two sides at once: a round
  // trip per read instead of a transaction per read and side.
  std::vector<std::pair<ChunkRows, ChunkRows>> read_marked(
      const std::vector<MarkedTableRead>& reads) override;
  // Waits until no apply transaction of the stream is committing on the
  // target and invisible to new snapshots (see begin_snapshot), by
  // `deadline`; throws Error(kTimeout) after it. The statements `first`, if
  // any (a SET, say), run on the control session in the first round trip.
  // The expressions `also` are evaluated in the statement that finds no
  // apply committing, in its snapshot (which shows every apply): their
  // values are returned, in order (NULL as nothing), with the number of
  // statements it took.
  struct AppliedVisible {
    std::vector<std::optional<std::string>> values;
    int polls = 0;
  };
  AppliedVisible wait_applied_visible(std::chrono::steady_clock::time_point deadline,
                                      const std::string& first = {},
                                      const std::vector<std::string>& also = {});
  // The statement wait_applied_visible() makes, run once for its effect:
  // a session's first read of pg_stat_activity loads the catalogs behind
  // it (9 ms on an idle server, more on a busy one).
  void warm_applied_visible(const std::vector<std::string>& also = {});
  std::optional<std::pair<int64_t, int64_t>> key_extent(const TablePlan& plan) override;
  std::optional<KeyText> split_point(const TablePlan& plan, const KeyText* lower,
                                     uint64_t rows) override;
  // The larger of the origin's progress and the slot's confirmed position.
  Lsn applied_position() override;
  bool wait_source_commits_visible(std::chrono::milliseconds timeout) override;
  // The slot is active.
  bool stream_running() override;

  // One of the plan's SELECTs on one side; `digest_only` and `filter`: see
  // ChunkHasher::read.
  SideRead read(Side side, const TablePlan& plan, const std::string& select,
                bool digest_only = false, const RowFilter* filter = nullptr);
  // Both sides at once: source on this thread, target on another.
  std::pair<SideRead, SideRead> read_both(const TablePlan& plan, const std::string& source_select,
                                          const std::string& target_select,
                                          const RowFilter* filter = nullptr);

 private:
  // Opens a REPEATABLE READ, READ ONLY transaction on `side` whose snapshot
  // shows what its position promises (see the class comment); returns the
  // position.
  Lsn begin_snapshot(Side side);
  std::vector<ChunkRows> read_in_one_snapshot(Side side, const std::vector<MarkedTableRead>& reads);

  const Config& config_;
  pg::Connection source_;
  pg::Connection target_;
  pg::Connection control_;
};

}  // namespace switchyard::verify
