// An ODBC legacy (MariaDB, SQLite) and its PostgreSQL target as verify
// sees them (sides.h): the same verifier, verdicts, findings and records
// as for a PostgreSQL source, with each side read by its own driver as
// typed values and compared in the canonical encoding
// (canonical_encoding.h), never as text in SQL.
//
// The engines disagree on more than spelling, and each difference is
// settled in C++ by the target column's type, not by either side's SQL:
//  - tinyint(1), bit(1), SQLite BOOLEAN arrive as integers: compared as
//    booleans; bit(n) as its number on both sides;
//  - decimals take the target's scale (SQLite keeps 1.5 for a
//    NUMERIC(10,2) that PostgreSQL holds as 1.50);
//  - CHAR(n) is compared without its padding (MariaDB drops it,
//    PostgreSQL keeps it); a SET with the target's text[] joined by commas;
//  - JSON documents by their parsed value, keys sorted, on both sides;
//  - MariaDB TIMESTAMPs are read in UTC, zero dates arrive as NULL.
//
// Chunks: a table whose first key column is an integer is compared in
// ranges of that column's values, which both engines bound alike. Any
// other key is ranged on the source only, in its own order - MariaDB's
// default collations order and compare text unlike PostgreSQL (case- and
// accent-insensitively), so no range bound means the same on both sides -
// and the target is probed for exactly the keys each source range holds,
// matched by their bytes. Rows only the target holds fall in no range: the
// pass's last chunk sweeps the target's keys for them when the target has
// more rows than the chunks matched. Nothing is compared twice or never,
// whatever the collations, and a chunk's memory stays bounded. (A binary
// key is one chunk.)
//
// Positions are changelog sequences: a source read is followed by the
// changelog's highest sequence (+1); the target has applied everything
// below its replication origin's progress.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/config.h"
#include "replicator/legacy_source.h"
#include "verify/repair.h"
#include "verify/sides.h"

namespace switchyard::verify {

struct LegacyPlan;

class LegacySides : public Sides {
 public:
  // Connects to both databases.
  explicit LegacySides(const Config& config);
  ~LegacySides() override;

  pg::Connection& control() override { return control_; }
  const std::string& source_role() const override { return config_.source.name; }
  const std::string& target_role() const override { return config_.target.name; }

  // Also accepts the table's legacy spelling ("Chinook.Artist").
  bool names_table(const std::string& given, const std::string& schema,
                   const std::string& name) const override;
  TablePlan plan(const std::string& schema, const std::string& name) override;
  std::pair<SideRead, SideRead> read_range(const TablePlan& plan, const KeyText* lower,
                                           const KeyText* upper) override;
  SideRead read_keys(Side side, const TablePlan& plan, const std::vector<KeyText>& keys) override;
  std::optional<std::pair<int64_t, int64_t>> key_extent(const TablePlan& plan) override;
  // A text key's chunk ends `rows` rows on in the source's own order; a
  // binary key is one chunk.
  std::optional<KeyText> split_point(const TablePlan& plan, const KeyText* lower,
                                     uint64_t rows) override;
  // The ODBC drivers hold a whole result in memory: smaller chunks.
  double max_chunk_rows() const override { return 50'000; }
  Lsn applied_position() override;
  bool stream_running() override;

  // Re-copies rows by key: in one target transaction, the target rows are
  // locked first (an apply statement on them waits), then read on the
  // source, then written (upsert, or delete where the source has none).
  // A change the stream applies after the commit is newer than what was
  // read. Then compared once more, tied to a position.
  RepairReport repair(const TablePlan& plan, const std::vector<KeyText>& keys);

 private:
  LegacyPlan& legacy_plan(const TablePlan& plan) const;
  std::string source_key(const LegacyPlan& plan) const;
  std::pair<SideRead, SideRead> read_text_range(LegacyPlan& plan, const KeyText* lower,
                                                const KeyText* upper);
  void add_target_only_rows(const LegacyPlan& plan, ChunkRows& rows);
  SideRead read_source(const LegacyPlan& plan, const std::string& where,
                       const std::vector<std::optional<std::string>>& params);
  SideRead read_target(pg::Connection& connection, const LegacyPlan& plan,
                       const std::string& where);
  // The next changelog sequence: every change visible now is below it.
  Lsn source_position();

  const Config& config_;
  LegacySource source_;
  std::vector<LegacyStreamTable> tables_;
  pg::Connection target_;
  pg::Connection control_;
  std::map<std::string, std::unique_ptr<LegacyPlan>> plans_;  // by display name
};

}  // namespace switchyard::verify
