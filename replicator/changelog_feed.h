// The change feed of an ODBC source: its changelog (filled by the capture
// triggers, odbc::Dialect::capture_install) read up to the safe watermark
// (changelog_watermark.h) and turned into the engine-neutral messages the
// apply loop takes (change.h), as pgoutput's are for PostgreSQL.
//
// The position is the changelog sequence: a chunk of rows is one "source
// transaction" whose Begin carries its first sequence and whose Commit its
// end (the next sequence to read), which the apply loop records as the
// replication origin's progress in the same target transaction as the rows.
// Exactly once across any crash, as for PostgreSQL.
//
// Rows carry whole images: an insert or an update becomes an insert of the
// row as it now is (the relation is idempotent: an upsert by key); an
// update that changed the key first deletes the old key; a delete names the
// key. Replaying a change the initial copy already holds is then harmless.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/config.h"
#include "drivers/pg/connection.h"
#include "replicator/change.h"
#include "replicator/change_feed.h"
#include "replicator/changelog_watermark.h"
#include "replicator/legacy_source.h"
#include "replicator/legacy_values.h"

namespace switchyard {

// One changelog row as read.
struct ChangelogRow {
  uint64_t seq = 0;
  std::string table;                   // the legacy table's name
  char kind = 0;                       // 'I', 'U', 'D'
  std::optional<std::string> old_key;  // JSON array of the key's values as text
  std::optional<std::string> new_row;  // JSON array of every column's value as text
  double captured_at = 0;              // seconds since the epoch
};

class ChangelogDecoder {
 public:
  // Relation ids are 1 + the table's index in `tables`.
  ChangelogDecoder(const std::string& engine, const std::vector<LegacyStreamTable>& tables);

  // Appends the messages of `row`. A row of a table outside the stream (a
  // table left out of tables.include after init) is skipped. Throws
  // Error(kDatabase) naming the sequence for a row that does not parse,
  // Error(kPrecondition) for a value that does not fit its column.
  void decode(const ChangelogRow& row, std::vector<change::Message>& out) const;

 private:
  Tuple to_tuple(const LegacyStreamTable& table, const LegacyValues& values,
                 const std::string& captured, bool key_only, uint64_t seq) const;

  const std::vector<LegacyStreamTable>& tables_;
  std::unordered_map<std::string, size_t> by_name_;
  std::vector<std::unique_ptr<LegacyValues>> values_;
};

// The Type and Relation messages that describe the stream's tables to the
// apply loop, each column typed as the target has it.
std::vector<change::Message> describe_tables(pg::Connection& target,
                                             const std::vector<LegacyStreamTable>& tables);

// The feed itself: the changelog read up to the safe watermark, a chunk of
// at most a few thousand rows at a time, decoded into messages; pruned up
// to what the target holds durably each time it is acknowledged.
class ChangelogFeed : public ChangeFeed {
 public:
  // Connects to the source (its tables as the configuration selects them);
  // `target` is a session on the target, where the tables' column types
  // are read. `warned` collects the tables already named as not
  // replicable, across sessions.
  ChangelogFeed(const Config& config, pg::Connection& target, std::set<std::string>& warned);

  std::string start(Lsn from) override;
  std::optional<change::Message> next(std::chrono::milliseconds wait) override;
  void acknowledge(const Applied& applied) override;
  SourceLag lag(const Applied& applied, int64_t committed_commit_time_us) override;
  bool caught_up(Lsn committed) const override {
    return queue_.empty() && committed.value >= next_;
  }
  // A selected table the stream lacks (add_legacy_tables joins it). The
  // tables' names are read every few seconds, their columns and keys only
  // when the names changed, and once a minute (a keyless table given a
  // key).
  bool tables_appeared() override;
  std::string format(Lsn position) const override { return std::to_string(position.value); }
  void finish() override {}

 private:
  using Clock = std::chrono::steady_clock;

  bool read_chunk();
  static ChangelogRow to_row(const std::vector<Value>& values);
  // The selected tables; those that cannot be streamed are named once.
  std::vector<LegacyStreamTable> usable_tables();

  const Config& config_;
  pg::Connection& target_;
  std::set<std::string>& warned_;
  LegacySource source_;
  std::vector<LegacyStreamTable> tables_;
  std::vector<std::string> names_;  // the selected tables' names, last read
  ChangelogDecoder decoder_;
  std::string read_sql_;
  SafeWatermark watermark_;
  odbc::Dialect::ChangelogProbe probe_;
  std::deque<change::Message> queue_;  // decoded, not yet handed over
  uint64_t next_ = 0;                  // the next sequence to read
  uint64_t safe_ = 0;                  // read up to here, by the last watermark
  uint64_t pruned_below_ = 0;
  bool reached_watermark_ = false;  // the queued chunk ends at the watermark
  Clock::time_point last_names_check_ = Clock::now();
  Clock::time_point last_table_check_ = Clock::now();
};

}  // namespace switchyard
