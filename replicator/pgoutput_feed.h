// The change feed of a PostgreSQL source: its logical replication slot,
// streamed with pgoutput (protocol 1, the stream's publication, logical
// messages for cutover's drain marker) and decoded by pgoutput_decoder.h.
//
// Positions are WAL LSNs. The slot is told, in standby status updates,
// only what the target has flushed; when apply is idle and everything it
// applied is flushed, the walsender's sent position is confirmed too, so a
// quiet source can recycle its WAL. A connection that stays silent for
// stream.receive_timeout, even after a status update asking for a reply,
// is taken for dead (a half-open TCP connection otherwise stalls the
// stream until the kernel gives up). A forward stream also looks, every
// few seconds, for tables that appeared on the source (table_sync.h).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "common/config.h"
#include "control/control_schema.h"
#include "drivers/pg/connection.h"
#include "drivers/pg/replication_stream.h"
#include "replicator/change_feed.h"

namespace switchyard {

class PgoutputFeed : public ChangeFeed {
 public:
  // `config` is the stream's configuration in `direction`; `target` is a
  // session on its target. `warned` collects the tables already named as
  // not replicable, across sessions. Tables join a forward stream only.
  PgoutputFeed(const Config& config, pg::Connection& target, control::Direction direction,
               std::set<std::string>& warned);

  std::string start(Lsn from) override;
  std::optional<change::Message> next(std::chrono::milliseconds wait) override;
  bool acknowledgement_wanted() const override { return reply_requested_; }
  void acknowledge(const Applied& applied) override;
  SourceLag lag(const Applied& applied, int64_t committed_commit_time_us) override;
  bool caught_up(Lsn committed) const override { return received_ <= committed; }
  bool tables_appeared() override;
  std::string format(Lsn position) const override { return position.to_string(); }
  void finish() override { stream_.finish(); }

 private:
  using Clock = std::chrono::steady_clock;

  void check_silence();
  void send_status(const Applied& applied, bool reply);
  pg::Connection& source_sql();

  const Config& config_;
  pg::Connection& target_;
  const control::Direction direction_;
  std::set<std::string>& warned_;
  pg::Connection replication_;
  pg::ReplicationStream stream_;
  std::optional<pg::Connection> source_sql_;  // the WAL position, new tables
  Lsn received_;
  Lsn sent_end_;  // the walsender's sent position (keepalives)
  bool reply_requested_ = false;
  std::optional<Applied> last_applied_;  // as last acknowledged
  Clock::time_point last_data_at_{};
  Clock::time_point last_received_at_{};           // any message, keepalives too
  std::optional<Clock::time_point> ping_sent_at_;  // a reply requested, none yet
  Clock::time_point last_table_check_{};
};

}  // namespace switchyard
