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

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/config.h"
#include "drivers/pg/connection.h"
#include "replicator/change.h"
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
                 const std::string& json, bool key_only, uint64_t seq) const;

  const std::vector<LegacyStreamTable>& tables_;
  std::unordered_map<std::string, size_t> by_name_;
  std::vector<std::unique_ptr<LegacyValues>> values_;
};

// The Type and Relation messages that describe the stream's tables to the
// apply loop, each column typed as the target has it.
std::vector<change::Message> describe_tables(pg::Connection& target,
                                             const std::vector<LegacyStreamTable>& tables);

// `replicate` for an ODBC source: init and snapshot if not done, then poll
// the changelog into the apply loop until SIGINT/SIGTERM, pruning what the
// target has durably applied. Connection losses are retried with backoff.
void run_legacy_replicate(const Config& config);

}  // namespace switchyard
