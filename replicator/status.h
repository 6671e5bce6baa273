// What `status` reports: where the source is, where the target has applied
// to, the lag between them, the stream's phase and its tables.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/lsn.h"
#include "drivers/pg/connection.h"

namespace switchyard {

struct TableStatus {
  std::string name;  // schema.table
  bool created_by_switchyard = false;
  std::optional<int64_t> rows_copied;
  std::optional<std::string> copied_at;
  // verify: the last pass (status: running, clean, mismatch, in_flight).
  std::optional<std::string> verify_status;
  std::optional<std::string> verified_at;
  int64_t open_mismatches = 0;
  // Changed since verify last compared them, waiting in switchyard.dirty_keys:
  // keys and integer-key runs as marked (a key changed in several batches
  // counts once per batch), and whether the table is marked as a whole.
  int64_t marked_keys = 0;
  bool marked_whole = false;
};

struct StreamStatus {
  std::string name;
  std::string direction = "forward";  // forward: source -> target; reverse after a cutover
  std::string state;  // not initialized | initialized | copying | streaming | stopped ...
  std::optional<Lsn> source_lsn;
  std::optional<Lsn> applied_lsn;
  std::optional<uint64_t> lag_bytes;
  std::optional<double> lag_seconds;  // as last reported by replicate
  std::optional<std::string> reported_at;
  // An ODBC source: positions are changelog sequences, the lag counted in
  // changes still to apply, and the changelog's size instead of a slot.
  std::string source_engine = "PostgreSQL";
  std::optional<uint64_t> lag_changes;
  std::optional<uint64_t> changelog_rows;
  bool slot_exists = false;
  bool slot_active = false;
  std::optional<Lsn> slot_confirmed_flush;
  std::vector<TableStatus> tables;
};

// The two PostgreSQL sessions a status read uses, named after the
// configuration's endpoints (not the stream's direction). A caller that
// reads status again and again (serve) keeps one of these: a read then
// costs its queries, not two new backends; a session found broken is
// opened again on the next use.
class StatusSessions {
 public:
  explicit StatusSessions(const Config& config) : config_(config) {}
  pg::Connection& source() { return open(source_, config_.source); }
  pg::Connection& target() { return open(target_, config_.target); }
  // Whether a session once opened is no longer usable (the next use opens it again).
  bool broken() const { return (source_ && !source_->ok()) || (target_ && !target_->ok()); }

 private:
  pg::Connection& open(std::optional<pg::Connection>& session, const Endpoint& endpoint);

  const Config& config_;
  std::optional<pg::Connection> source_;
  std::optional<pg::Connection> target_;
};

// In the stream's current direction: after a cutover, "source" fields
// describe the target (the primary) and "applied" the source.
StreamStatus collect_status(const Config& config, StatusSessions& sessions);
StreamStatus collect_status(const Config& config);

}  // namespace switchyard
