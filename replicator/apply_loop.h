// The apply loop: turns the change feed (replicator/change.h; decoded from
// pgoutput for a PostgreSQL source) into statements on the target, exactly
// once.
//
// Exactly-once rests on one rule: the target transaction that applies a
// batch of source transactions also advances the replication origin to the
// batch's last commit end LSN (pg_replication_origin_xact_setup), so data
// and progress commit or vanish together. After any crash the stream resumes
// from the origin, and a source transaction whose commit precedes it is
// skipped whole.
//
// Throughput comes from four things:
//  - several source transactions share one target transaction;
//  - changes to a table with a key are buffered as a run of same-kind rows
//    and sent as multi-row INSERT / UPDATE ... FROM (VALUES) / DELETE ...
//    USING (VALUES) statements; repeated updates of one row within a run
//    collapse into the last image. This is safe because the apply session
//    runs with session_replication_role = replica (no triggers, no FK
//    checks: the source enforced them), order is kept within each table,
//    and updates and deletes of tables with another unique index (whose
//    checks are order-sensitive) or REPLICA IDENTITY FULL are applied row
//    by row in source order. Inserts are buffered so for every table (a
//    keyless log table too): rows inserted one after another coexisted on
//    the source, so no unique index can tell them apart from one INSERT;
//  - statements are prepared and pipelined (apply.pipeline_bytes in flight);
//  - synchronous_commit = off: durability is tracked through the origin's
//    flushed progress, which is all the source slot is ever told.
//
// An ApplyLoop owns one apply session; construct a new one after any error.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/config.h"
#include "common/lsn.h"
#include "drivers/pg/connection.h"
#include "drivers/pg/pipeline.h"
#include "replicator/change.h"
#include "replicator/target_table.h"

namespace switchyard {

// The prefix of the logical message cutover emits on a frozen source to
// mark "everything before this" (see on_message()).
inline constexpr const char* kDrainMarkerPrefix = "switchyard";

class ApplyLoop {
 public:
  // `catalog` is a second target session used for schema checks while the
  // apply session is busy in a pipeline.
  ApplyLoop(const Config& config, pg::Connection& catalog);
  ~ApplyLoop();

  // Where the stream must resume: the end LSN of the last applied source
  // transaction, as committed on the target.
  Lsn resume_position() const { return committed_; }

  // Feed every decoded message, in stream order.
  void handle(change::Message&& message);

  bool in_source_transaction() const { return in_source_transaction_; }
  // Complete source transactions applied but not yet committed on the target.
  int pending_transactions() const { return batch_transactions_; }
  // The batch reached apply.batch_transactions or apply.batch_bytes, or
  // marked so many changed keys that it should commit them, or (while a
  // cutover prepares) has been open for a tenth of a second.
  bool batch_full() const;
  // A cutover's drain marker is in the open batch: commit without delay.
  bool drain_marker_waiting() const { return marker_in_batch_; }
  // A Relation named a table the stream does not carry under that name but
  // tables.include selects (renamed on the source since the last table
  // check): the session must end before the next message, the source
  // transaction unapplied, for replicate's table check to follow it.
  bool table_to_take_in() const { return table_to_take_in_; }

  // Commits the open batch. REQUIRES: !in_source_transaction().
  void commit_batch();
  // Between batches, with nothing to commit: looks (every 250 ms) whether a
  // cutover asks for exact marks, so that a quiet stream answers too.
  void poll_requests();
  // Drops the uncommitted batch (stop in the middle of a source transaction).
  void rollback_batch();

  Lsn committed_position() const { return committed_; }
  int64_t committed_commit_time_us() const { return committed_time_us_; }
  uint64_t transactions_applied() const { return transactions_applied_; }
  // Row changes (inserts, updates, deletes) in those transactions.
  uint64_t changes_applied() const { return changes_applied_; }
  // Prepared statements the apply session holds now.
  uint64_t prepared_statements() const { return prepared_statements_; }

 private:
  struct RelationState;

  void on_begin(const change::Begin& begin);
  void on_commit(const change::Commit& commit);
  void on_origin(const change::Origin& origin);
  void on_message(const change::LogicalMessage& message);
  void on_relation(change::Relation&& relation);
  void on_insert(change::Insert&& insert);
  void on_update(change::Update&& update);
  void on_delete(change::Delete&& del);
  void on_truncate(const change::Truncate& truncate);

  RelationState& relation(uint32_t relation_id);
  void check_target_table(RelationState& state, const change::Relation& relation);
  bool stream_table(const std::string& schema, const std::string& name);
  bool partition_of_stream_table(const change::Relation& relation);
  bool renamed_into_selection(const change::Relation& relation);
  void ensure_target_transaction();

  // Runs of buffered rows.
  void buffer_row(RelationState& state, char kind, Tuple&& row);
  void flush(RelationState& state);
  void flush_all();

  // Row-by-row statements, sent at once.
  std::string add_key_params(const RelationState& state, const Tuple& key_tuple,
                             bool full_identity);
  static bool identity_unchanged(const RelationState& state, const change::Update& update);
  void update_one(RelationState& state, const change::Update& update);

  // verify's dirty keys (see switchyard.dirty_keys in docs/control-schema.md).
  void mark_dirty(RelationState& state, const Tuple& tuple);
  void check_dirty_mode(RelationState& state);
  void write_dirty_marks();
  // The row log of tables without a key (switchyard.keyless_images).
  void refresh_request(bool between_batches);
  bool logging(const RelationState& state) const;
  std::vector<Datum> logged_change_params(const RelationState& state) const;
  void log_inserted(RelationState& state, const Tuple& row);
  void log_unapplied(RelationState& state);
  void write_images();
  void delete_one(RelationState& state, const change::Delete& del);
  bool in_copy(const RelationState& state) const;

  // The prepared statement for a statement shape; `render` makes its SQL
  // the first time the shape is seen on this relation.
  const std::string& statement(RelationState& state, const std::string& shape,
                               const std::function<std::string()>& render);
  void execute(const std::string& name, const std::vector<const Datum*>& params, uint64_t tag);

  const Config& config_;
  pg::Connection& catalog_;
  pg::Connection session_;
  std::unique_ptr<pg::Pipeline> pipeline_;
  std::unordered_map<uint32_t, std::unique_ptr<RelationState>> relations_;
  FeedTypes types_;  // user types the feed described
  // Partitions created on the target in the open batch (not yet visible to
  // catalog_).
  std::set<std::string> partitions_in_batch_;
  bool table_to_take_in_ = false;
  uint64_t statement_counter_ = 0;
  uint64_t prepared_statements_ = 0;
  // A cutover is preparing (control::request_exact_marks): no whole-table
  // marks, and the rows written to tables without a key are logged.
  bool exact_marks_ = false;
  std::chrono::steady_clock::time_point next_exact_check_{};

  Lsn committed_;  // origin progress as of our last commit
  int64_t committed_time_us_ = 0;
  bool skipping_ = false;         // inside an already-applied (or looped-back) source transaction
  bool marker_in_batch_ = false;  // a drain marker is in the open batch
  bool in_source_transaction_ = false;
  Lsn transaction_commit_lsn_;  // the source transaction's, from its Begin
  bool target_transaction_open_ = false;
  int batch_transactions_ = 0;
  std::chrono::steady_clock::time_point batch_opened_{};  // at its first transaction's commit
  uint64_t batch_bytes_ = 0;                              // change data in this batch
  uint64_t batch_marked_keys_ = 0;  // distinct keys (integer: runs) marked dirty in this batch
  uint64_t buffered_bytes_ = 0;     // memory held by rows still in runs, not sent
  Lsn batch_end_;
  int64_t batch_commit_time_us_ = 0;
  uint64_t transactions_applied_ = 0;
  uint64_t batch_changes_ = 0;  // row changes in this batch
  uint64_t batch_inserts_ = 0;  // of those, by operation
  uint64_t batch_updates_ = 0;
  uint64_t batch_deletes_ = 0;
  uint64_t changes_applied_ = 0;
  std::vector<const char*> values_;  // scratch for execute()
  std::vector<int> lengths_;
  std::vector<const Datum*> params_;
  std::vector<const std::string*> key_scratch_;  // scratch for mark_dirty()
};

}  // namespace switchyard
