#include "replicator/snapshot_copy.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "common/error.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/progress.h"
#include "common/shutdown.h"
#include "control/control_schema.h"
#include "drivers/pg/sql.h"
#include "replicator/large_object_sync.h"
#include "replicator/schema_dump.h"
#include "replicator/setup.h"

namespace switchyard {
namespace {

constexpr int64_t kPageSize = 8192;

// Copies into one table at once, however many parts it was split into and
// workers are free. Every copy into a table extends the same relation, and
// PostgreSQL 15 extends it a page at a time under one lock: measured on
// pgbench's 1 GiB accounts table, four writers spent a third of their
// samples waiting for that lock, and two copied it faster than four.
constexpr int kWritersPerTable = 2;

// The source sends a CopyData message per row; the target gets them
// gathered into messages of about this size. The target's COPY takes in
// one message per read of its input, so a message per row costs the busiest
// process of the copy a round of its input machinery per row.
constexpr size_t kBatchBytes = 64 << 10;

Error interrupted() {
  return Error(ErrorKind::kInterrupted,
               "the initial copy was stopped by a signal; it cannot resume half-way: run "
               "snapshot (or replicate) again to copy afresh");
}

// One COPY: a leaf relation, or a ctid range of one.
struct CopyPart {
  size_t table_idx;
  std::string source_relation;                       // qualified leaf, read with ONLY
  std::optional<std::pair<int64_t, int64_t>> pages;  // [first, last) block range
  int64_t estimated_bytes;
  bool freeze;  // the worker truncates and copies with FREEZE in one transaction
};

// A table is copied whole unless snapshot.split_tables_larger_than asks for
// parts. Whole, it is read by COPY's own scan, which goes through a small
// ring of the source's shared buffers (a ctid range scan does not: it evicts
// the application's working set, and on pgbench's 1.1 GB accounts table it
// cost the source twice the CPU), and written with FREEZE in its creating
// transaction, in the source's physical order. Parts, on the other hand,
// keep several cores of both servers busy on one table; on a 2-core machine
// the whole-table copy was faster, so splitting is the large server's option.
std::vector<CopyPart> plan_parts(const std::vector<SourceTable>& tables,
                                 std::optional<uint64_t> split_bytes, int workers) {
  std::vector<CopyPart> parts;
  const int64_t split_pages =
      split_bytes ? std::max<int64_t>(1, static_cast<int64_t>(*split_bytes / kPageSize))
                  : INT64_MAX;
  for (size_t table_idx = 0; table_idx < tables.size(); ++table_idx) {
    const SourceTable& table = tables[table_idx];
    for (const auto& leaf : table.leaves) {
      const std::string relation = pg::qualified(leaf.schema, leaf.name);
      if (leaf.pages <= split_pages) {
        const bool whole_table = !table.partitioned;
        parts.push_back({table_idx, relation, std::nullopt, leaf.pages * kPageSize, whole_table});
        continue;
      }
      const int64_t count = std::min<int64_t>(std::max(2, workers * 2),
                                              (leaf.pages + split_pages - 1) / split_pages + 1);
      const int64_t step = (leaf.pages + count - 1) / count;
      for (int64_t first = 0; first < leaf.pages; first += step) {
        // The last range is open-ended: the table may have grown since we measured it.
        const int64_t last = first + step >= leaf.pages ? INT64_MAX : first + step;
        parts.push_back(
            {table_idx, relation, std::make_pair(first, last), step * kPageSize, false});
      }
    }
  }
  // Biggest first, so the long copies start early and the tail is short.
  std::stable_sort(parts.begin(), parts.end(), [](const CopyPart& a, const CopyPart& b) {
    return a.estimated_bytes > b.estimated_bytes;
  });
  return parts;
}

// Which tables other tables' foreign keys on the target point at.
enum class Referenced { kNo, kFromCopied, kFromElsewhere };

// Per table: whether a foreign key of another table references it (or one
// of its partitions), and whether every such table is copied too.
std::vector<Referenced> referenced_by_foreign_keys(pg::Connection& target,
                                                   const std::vector<SourceTable>& tables) {
  std::string copied;
  for (const auto& table : tables) {
    copied += (copied.empty() ? "" : "\n") + table.qualified_name();
  }
  std::vector<Referenced> referenced;
  for (const auto& table : tables) {
    pg::Result from = target.exec(
        "SELECT bool_and(c.conrelid IN (SELECT pg_catalog.to_regclass(n) "
        "                   FROM pg_catalog.regexp_split_to_table($2, E'\\n') AS n)) "
        "FROM pg_catalog.pg_constraint c "
        "WHERE c.contype = 'f' AND c.conrelid <> c.confrelid "
        "  AND (c.confrelid = pg_catalog.to_regclass($1) OR c.confrelid IN "
        "       (SELECT relid FROM pg_catalog.pg_partition_tree(pg_catalog.to_regclass($1))))",
        {table.qualified_name(), copied});
    referenced.push_back(from.is_null(0, 0)   ? Referenced::kNo
                         : from.boolean(0, 0) ? Referenced::kFromCopied
                                              : Referenced::kFromElsewhere);
  }
  return referenced;
}

struct Totals {
  std::atomic<uint64_t> rows{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<int> parts_done{0};
};

// Runs `work(worker_idx)` on `count` threads; rethrows the first failure
// after every thread has finished. `failed` tells workers to give up early.
void run_workers(int count, std::atomic<bool>& failed, const std::function<void(int)>& work) {
  std::exception_ptr first_error;
  std::mutex error_mutex;
  std::vector<std::thread> threads;
  for (int worker_idx = 0; worker_idx < count; ++worker_idx) {
    threads.push_back(job_thread([&, worker_idx] {
      try {
        work(worker_idx);
      } catch (...) {
        std::lock_guard lock(error_mutex);
        if (!first_error) first_error = std::current_exception();
        failed = true;
      }
    }));
  }
  for (auto& thread : threads) thread.join();
  if (first_error) std::rethrow_exception(first_error);
}

// Copies the parts, and finishes each table as soon as its last part is in,
// while other tables still copy: builds its keys and indexes, then ANALYZEs
// it, so that the new primary plans the application's queries with
// statistics from its first day, as a restore should (autovacuum may be
// off, or the cutover come before it gets there). The finishing of one
// table overlaps the copy of the next instead of waiting for all of them.
class CopyWorkers {
 public:
  CopyWorkers(const Config& config, const std::vector<SourceTable>& tables,
              std::vector<CopyPart> parts, const std::string& snapshot_name,
              std::vector<const control::TableRow*> post_data)
      : config_(config),
        tables_(tables),
        parts_(std::move(parts)),
        snapshot_(snapshot_name),
        post_data_(std::move(post_data)),
        per_table_rows_(tables.size()),
        per_table_bytes_(tables.size()),
        parts_left_(tables.size()),
        taken_(parts_.size(), false),
        writers_(tables.size(), 0) {
    for (const auto& part : parts_) ++parts_left_[part.table_idx];
    // A partitioned table without partitions has nothing to copy.
    for (size_t table_idx = 0; table_idx < tables_.size(); ++table_idx) {
      if (parts_left_[table_idx] == 0) ready_.push_back(table_idx);
    }
    tables_left_ = static_cast<int>(tables_.size());
  }

  // Copies every part and finishes every copied table; returns
  // when all are done. Reports progress meanwhile.
  void run() {
    uint64_t total = 0;
    for (const auto& part : parts_) total += static_cast<uint64_t>(part.estimated_bytes);
    const int worker_count = std::max(
        1, std::min<int>(config_.snapshot.workers, static_cast<int>(parts_.size()) + tables_left_));
    ProgressMeter meter("copy", total);
    std::atomic<bool> finished{false};
    std::thread reporter([&] {
      while (!finished && !copied_) {
        meter.update(totals_.rows, totals_.bytes, totals_.parts_done,
                     static_cast<int>(parts_.size()));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (!copied_) return;
      meter.finish(totals_.rows, totals_.bytes, static_cast<int>(parts_.size()));
      std::lock_guard lock(mutex_);
      if (tables_left_ > 0) {
        spdlog::info(
            "target: copy complete; building keys and indexes, analyzing: {} of {} tables left",
            tables_left_, tables_.size());
      }
    });
    try {
      run_workers(worker_count, failed_, [this](int) { work(); });
    } catch (...) {
      finished = true;
      reporter.join();
      throw;
    }
    finished = true;
    reporter.join();
  }

  uint64_t table_rows(size_t table_idx) const { return per_table_rows_[table_idx]; }
  uint64_t table_bytes(size_t table_idx) const { return per_table_bytes_[table_idx]; }

 private:
  void work() {
    pg::Connection source(config_.source.conninfo, config_.source.name);
    source.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    source.exec("SET TRANSACTION SNAPSHOT " + pg::quote_literal(snapshot_));
    bool reading = true;
    pg::Connection target(config_.target.conninfo, config_.target.name);
    target.exec("SET session_replication_role = replica; SET synchronous_commit = off");
    // Keys are built with the target's own maintenance_work_mem unless the
    // configuration sets one: up to snapshot.workers sessions build at once,
    // each with its parallel workers, on a server sized by its DBA.
    if (config_.snapshot.maintenance_work_mem) {
      target.exec(
          "SET maintenance_work_mem = " +
          pg::quote_literal(std::to_string(*config_.snapshot.maintenance_work_mem >> 10) + "kB"));
    }
    for (;;) {
      if (failed_) return;
      if (stop_requested()) throw interrupted();
      // A table whose copy is complete is finished first.
      if (std::optional<size_t> table_idx = take_ready()) {
        finish_table(target, *table_idx);
        continue;
      }
      const Turn turn = take_part();
      if (turn.part) {
        const CopyPart& part = parts_[*turn.part];
        copy_part(source, target, part);
        part_copied(part.table_idx);
        continue;
      }
      if (turn.wait) {
        wait_for_turn();
        continue;
      }
      // Nothing left to copy: let go of the source snapshot, then help
      // finish the tables still copying.
      if (reading) {
        source.exec("COMMIT");
        reading = false;
      }
      if (!wait_for_ready()) break;
    }
    if (stop_requested()) throw interrupted();
  }

  // The next part to copy: the first not taken whose table has fewer than
  // kWritersPerTable copies running. `wait`: parts are left, but only of
  // tables that have as many as that already.
  struct Turn {
    std::optional<size_t> part;
    bool wait = false;
  };
  Turn take_part() {
    std::lock_guard lock(mutex_);
    Turn turn;
    for (size_t part_idx = next_part_; part_idx < parts_.size(); ++part_idx) {
      if (taken_[part_idx]) continue;
      if (writers_[parts_[part_idx].table_idx] >= kWritersPerTable) {
        turn.wait = true;
        continue;
      }
      taken_[part_idx] = true;
      ++writers_[parts_[part_idx].table_idx];
      while (next_part_ < parts_.size() && taken_[next_part_]) ++next_part_;
      turn.part = part_idx;
      return turn;
    }
    return turn;
  }

  // Until a copy ends (or a table can be finished).
  void wait_for_turn() {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, std::chrono::milliseconds(100));
  }

  std::optional<size_t> take_ready() {
    std::lock_guard lock(mutex_);
    if (ready_.empty()) return std::nullopt;
    const size_t table_idx = ready_.front();
    ready_.pop_front();
    return table_idx;
  }

  // Blocks until a table can be finished (true) or none are left, a
  // worker failed or a stop was asked for (false). A signal does not wake a
  // condition variable, hence the polling.
  bool wait_for_ready() {
    std::unique_lock lock(mutex_);
    while (ready_.empty() && tables_left_ > 0 && !failed_ && !stop_requested()) {
      changed_.wait_for(lock, std::chrono::milliseconds(100));
    }
    return !ready_.empty() && !failed_ && !stop_requested();
  }

  void part_copied(size_t table_idx) {
    ++totals_.parts_done;
    std::lock_guard lock(mutex_);
    --writers_[table_idx];
    if (--parts_left_[table_idx] == 0) ready_.push_back(table_idx);
    if (totals_.parts_done == static_cast<int>(parts_.size())) copied_ = true;
    changed_.notify_all();
  }

  // Keys and indexes (if switchyard created the table and has not built
  // them yet), then statistics, after the indexes for those of their
  // expressions.
  void finish_table(pg::Connection& target, size_t table_idx) {
    if (const control::TableRow* row = post_data_[table_idx]) {
      target.exec("BEGIN");
      for (const auto& sql : row->post_data) target.exec(sql);
      control::mark_post_data_done(target, config_.name, row->schema, row->name);
      target.exec("COMMIT");
    }
    target.exec("ANALYZE " + tables_[table_idx].qualified_name());
    std::lock_guard lock(mutex_);
    --tables_left_;
    changed_.notify_all();
  }

  void copy_part(pg::Connection& source, pg::Connection& target, const CopyPart& part) {
    const SourceTable& table = tables_[part.table_idx];
    const std::string columns = pg::ident_list(table.columns);
    // A whole relation is read by COPY's own table scan, which is cheaper
    // than running a query through the executor; a ctid range needs one.
    // Binary COPY spares both servers text parsing and formatting; it is
    // used only where every type's binary form means the same on both.
    const std::string format = table.builtin_types ? " WITH (FORMAT binary" : " WITH (FORMAT text";
    std::string copy_out = "COPY " + part.source_relation + " (" + columns + ") TO STDOUT";
    if (part.pages) {
      std::string select = "SELECT " + columns + " FROM ONLY " + part.source_relation +
                           " WHERE ctid >= '(" + std::to_string(part.pages->first) + ",0)'::tid";
      if (part.pages->second != INT64_MAX) {
        select += " AND ctid < '(" + std::to_string(part.pages->second) + ",0)'::tid";
      }
      copy_out = "COPY (" + select + ") TO STDOUT";
    }
    target.exec("BEGIN");
    if (part.freeze) target.exec("TRUNCATE ONLY " + table.qualified_name());
    target.copy_in_start("COPY " + table.qualified_name() + " (" + columns + ") FROM STDIN" +
                         format + (part.freeze ? ", FREEZE)" : ")"));
    source.copy_out_start(copy_out + format + ")");
    std::string_view row;
    uint64_t rows = 0, bytes = 0;
    std::string batch;
    batch.reserve(kBatchBytes);
    while (source.copy_out_row(row)) {
      batch.append(row);
      if (batch.size() >= kBatchBytes) {
        target.copy_in_put(batch);
        batch.clear();
      }
      ++rows;
      bytes += row.size();
      if ((rows & 1023) == 0) {
        totals_.rows += 1024;
        totals_.bytes += bytes;
        per_table_bytes_[part.table_idx] += bytes;
        bytes = 0;
        if (stop_requested()) throw interrupted();
        if (failed_) {
          throw Error(ErrorKind::kInternal, "copy of " + table.display_name() + " abandoned");
        }
      }
    }
    totals_.rows += rows & 1023;
    totals_.bytes += bytes;
    per_table_bytes_[part.table_idx] += bytes;
    if (!batch.empty()) target.copy_in_put(batch);
    const uint64_t copied = target.copy_in_end();
    target.exec("COMMIT");
    // The target counts rows; the messages relayed include binary COPY's
    // trailer (with its header, for an empty part).
    per_table_rows_[part.table_idx] += copied;
    metrics::snapshot_rows_copied(table.schema + "." + table.name, copied);
    if (rows > copied) totals_.rows -= rows - copied;
  }

  const Config& config_;
  const std::vector<SourceTable>& tables_;
  std::vector<CopyPart> parts_;
  std::string snapshot_;
  // Per table: its post-data row if its keys are still to build, else null.
  std::vector<const control::TableRow*> post_data_;

  std::atomic<bool> failed_{false};
  std::atomic<bool> copied_{false};
  Totals totals_;
  std::vector<std::atomic<uint64_t>> per_table_rows_;
  std::vector<std::atomic<uint64_t>> per_table_bytes_;
  // Guarded by mutex_: parts still copying per table, tables that can be
  // finished, and tables not finished yet.
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<int> parts_left_;
  std::deque<size_t> ready_;
  std::vector<bool> taken_;   // per part
  size_t next_part_ = 0;      // parts before it are all taken
  std::vector<int> writers_;  // per table: copies running
  int tables_left_ = 0;
};

}  // namespace

void copy_tables(const Config& config, pg::Connection& target,
                 const std::vector<SourceTable>& tables, const std::string& snapshot_name) {
  std::vector<CopyPart> parts =
      plan_parts(tables, config.snapshot.split_tables_larger_than, config.snapshot.workers);
  // A table another table's foreign key references cannot be truncated on
  // its own (a target prepared with pg_dump --schema-only has its foreign
  // keys already; switchyard adds them after the copy), so it cannot be
  // copied with FREEZE, which needs a TRUNCATE in the copy's transaction.
  const std::vector<Referenced> referenced = referenced_by_foreign_keys(target, tables);
  for (auto& part : parts) {
    if (referenced[part.table_idx] != Referenced::kNo) part.freeze = false;
  }
  // Tables not truncated by their (single) copy worker are emptied up front,
  // in one TRUNCATE (foreign keys between them allow that), and only if they
  // hold rows (an interrupted copy's, or a table copied again): an empty one
  // needs nothing. One that a table not copied now references (a table
  // copied again alone, say) cannot be truncated at all: its rows are
  // deleted, with foreign keys unchecked as everywhere in the copy.
  std::string truncate, remove;
  for (size_t table_idx = 0; table_idx < tables.size(); ++table_idx) {
    const bool by_worker = std::any_of(parts.begin(), parts.end(), [&](const CopyPart& part) {
      return part.table_idx == table_idx && part.freeze;
    });
    const std::string name = tables[table_idx].qualified_name();
    if (by_worker || target.exec("SELECT 1 FROM " + name + " LIMIT 1").rows() == 0) continue;
    if (referenced[table_idx] == Referenced::kFromElsewhere) {
      remove += "; DELETE FROM " + name;
    } else {
      truncate += (truncate.empty() ? "" : ", ") + name;
    }
  }
  if (!truncate.empty() || !remove.empty()) {
    pg::Transaction transaction(target);
    target.exec("SET LOCAL session_replication_role = replica" + remove +
                (truncate.empty() ? "" : "; TRUNCATE " + truncate));
    transaction.commit();
  }
  // Keys still to build, per table, so that workers build them as each
  // table's copy completes.
  const std::vector<control::TableRow> rows = control::read_tables(target, config.name);
  std::vector<const control::TableRow*> post_data(tables.size(), nullptr);
  for (size_t table_idx = 0; table_idx < tables.size(); ++table_idx) {
    for (const auto& row : rows) {
      if (row.schema == tables[table_idx].schema && row.name == tables[table_idx].name &&
          !row.post_data_done) {
        post_data[table_idx] = &row;
      }
    }
  }
  const std::vector<const control::TableRow*> built = post_data;
  CopyWorkers workers(config, tables, std::move(parts), snapshot_name, std::move(post_data));
  workers.run();
  for (size_t table_idx = 0; table_idx < tables.size(); ++table_idx) {
    control::record_copy(target, config.name, tables[table_idx].schema, tables[table_idx].name,
                         workers.table_rows(table_idx), workers.table_bytes(table_idx));
  }
  // Foreign keys last: they need the keys they reference, of every table.
  for (const control::TableRow* row : built) {
    if (!row) continue;
    for (const auto& sql : row->foreign_keys) target.exec(sql);
  }
}

SnapshotSummary run_snapshot(const Config& config) {
  SnapshotSummary summary;
  const auto started = std::chrono::steady_clock::now();
  {
    pg::Connection target(config.target.conninfo, config.target.name);
    const auto stream = control::read_stream(target, config.name);
    if (stream && stream->phase == control::kStreaming) {
      spdlog::info("snapshot: the initial copy is already done (finished at {})",
                   stream->snapshot_finished_at.value_or("?"));
      summary.already_done = true;
      summary.consistent_point = stream->consistent_lsn.value_or(Lsn{});
      return summary;
    }
  }
  // A snapshot exists only while its slot's creating connection is open, so
  // init (re)creates the slot exporting one. That is safe: nothing has been
  // applied from the slot yet.
  InitResult init = run_init(config, /*export_snapshot=*/true);
  const std::vector<SourceTable> tables = std::move(init.tables);
  const std::optional<ExportedSnapshot> snapshot = std::move(init.snapshot);
  if (!snapshot) throw Error(ErrorKind::kInternal, "snapshot: no exported snapshot");

  pg::Connection target(config.target.conninfo, config.target.name);
  const auto stream = control::read_stream(target, config.name);
  if (!stream) throw Error(ErrorKind::kInternal, "snapshot: stream row missing after init");

  // (init refused a pre-existing target table that holds rows.)
  control::set_phase(target, config.name, control::kCopying);

  spdlog::info("snapshot: copying {} tables with {} workers, as of {}", tables.size(),
               config.snapshot.workers, snapshot->consistent_point.to_string());
  copy_tables(config, target, tables, snapshot->snapshot_name);
  // Large objects, as of the same snapshot: logical decoding does not carry them.
  copy_large_objects(config, snapshot->snapshot_name);
  // What needs the keys is created now, and materialized views are filled
  // from the copied rows, once.
  target.exec("BEGIN");
  run_schema_statements(target, init.after_keys, false);
  run_schema_statements(target, init.after_copy, true);
  target.exec("COMMIT");

  // The copy is complete: streaming starts at the slot's consistent point.
  target.exec("BEGIN");
  target.exec("SELECT pg_catalog.pg_replication_origin_advance($1, $2::pg_lsn)",
              {config.origin_name(), snapshot->consistent_point.to_string()});
  control::set_phase(target, config.name, control::kStreaming, snapshot->consistent_point);
  target.exec("COMMIT");
  spdlog::info("snapshot: initial copy done; streaming will start at {}",
               snapshot->consistent_point.to_string());
  pg::Result copied = target.exec(
      "SELECT count(*), coalesce(sum(rows_copied), 0), coalesce(sum(bytes_copied), 0) "
      "FROM switchyard.tables WHERE stream = $1",
      {config.name});
  summary.tables = static_cast<size_t>(copied.int64(0, 0));
  summary.rows = static_cast<uint64_t>(copied.int64(0, 1));
  summary.bytes = static_cast<uint64_t>(copied.int64(0, 2));
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  summary.consistent_point = snapshot->consistent_point;
  return summary;
}

}  // namespace switchyard
