#include "replicator/pgoutput_feed.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/error.h"
#include "common/units.h"
#include "replicator/pgoutput_decoder.h"
#include "replicator/table_sync.h"

namespace switchyard {

namespace {

// How often a forward feed looks for tables that appeared on the source.
constexpr auto kTableCheckInterval = std::chrono::seconds(5);

}  // namespace

PgoutputFeed::PgoutputFeed(const Config& config, pg::Connection& target,
                           control::Direction direction, std::set<std::string>& warned)
    : config_(config),
      target_(target),
      direction_(direction),
      warned_(warned),
      replication_(config.source.conninfo, config.source.name, pg::Mode::kReplication),
      stream_(replication_) {}

std::string PgoutputFeed::start(Lsn from) {
  // messages: cutover's drain marker (ApplyLoop::on_message).
  stream_.start(
      config_.slot_name(), from,
      "proto_version '1', publication_names '" + config_.publication_name() + "', messages 'true'");
  last_received_at_ = Clock::now();
  return std::string("streaming ") + control::to_string(direction_) + " (" + config_.source.name +
         " -> " + config_.target.name + ") from slot " + config_.slot_name() + " at " +
         from.to_string();
}

std::optional<change::Message> PgoutputFeed::next(std::chrono::milliseconds wait) {
  // The first read waits `wait`; keepalives (rare) read again for what is
  // left of it. One clock read per message: this runs for every message.
  auto left = wait;
  std::optional<Clock::time_point> deadline;
  for (;;) {
    auto message = stream_.read(left);
    if (!message) {
      check_silence();
      return std::nullopt;
    }
    const auto now = Clock::now();
    last_received_at_ = now;
    ping_sent_at_.reset();
    if (message->wal_end > sent_end_) sent_end_ = message->wal_end;
    if (message->kind == pg::StreamMessage::Kind::kKeepalive) {
      if (message->reply_requested) {
        reply_requested_ = true;
        return std::nullopt;
      }
      if (!deadline) deadline = now + wait;
      // Rounded up: a wait of 1 ms must not become none (the session's
      // batches grow in that millisecond).
      left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - now);
      if (left <= std::chrono::milliseconds(0)) return std::nullopt;
      continue;
    }
    received_ = message->wal_start;
    last_data_at_ = now;
    return pgoutput::decode(message->payload);
  }
}

// Called when a read found nothing. A server that has nothing to send
// stays silent as long as our feedback keeps it content, so silence is
// tested by asking: half-way through stream.receive_timeout a status update
// requests a reply, which a live walsender sends at once. Nothing for the
// other half (measured from the request, so time spent applying a long
// batch never counts) and the connection is dead.
void PgoutputFeed::check_silence() {
  const auto timeout = config_.stream.receive_timeout;
  if (timeout.count() == 0) return;
  const auto now = Clock::now();
  if (!ping_sent_at_) {
    if (now - last_received_at_ < timeout / 2) return;
    send_status(last_applied_.value_or(Applied{received_, Lsn{}, false}), true);
    ping_sent_at_ = now;
    return;
  }
  if (now - *ping_sent_at_ < timeout / 2) return;
  throw Error(ErrorKind::kConnection,
              config_.source.name + ": nothing received on the replication connection for " +
                  format_duration(std::chrono::duration<double>(now - last_received_at_).count()) +
                  ", not even the reply to a status request (stream.receive_timeout); taking it "
                  "for dead");
}

void PgoutputFeed::acknowledge(const Applied& applied) {
  last_applied_ = applied;
  send_status(applied, false);
  reply_requested_ = false;
}

// The slot may forget WAL only up to what the target has flushed to disk.
// When apply is idle and everything applied is flushed, every change up to
// the walsender's sent position is accounted for, so that is confirmed too.
void PgoutputFeed::send_status(const Applied& applied, bool reply) {
  Lsn confirm = applied.durable;
  if (applied.idle && confirm == applied.committed && sent_end_ > confirm) confirm = sent_end_;
  stream_.send_status(received_ > confirm ? received_ : confirm, confirm, confirm, reply);
}

pg::Connection& PgoutputFeed::source_sql() {
  if (!source_sql_) source_sql_.emplace(config_.source.conninfo, config_.source.name);
  return *source_sql_;
}

// Lag in bytes: the source's WAL position (the stream's own positions stop
// at what the walsender has decoded so far, so a plain session asks) minus
// what is accounted for (applied, or sent with nothing for us while idle).
// Lag in seconds: the age of the last applied commit while changes are
// still arriving.
SourceLag PgoutputFeed::lag(const Applied& applied, int64_t committed_commit_time_us) {
  Lsn accounted = applied.committed;
  if (applied.idle && sent_end_ > accounted) accounted = sent_end_;
  pg::Result result = source_sql().exec("SELECT pg_catalog.pg_current_wal_lsn()::text");
  SourceLag lag;
  lag.newest = Lsn::parse(result.get(0, 0)).value_or(Lsn{});
  const uint64_t behind = lag.newest > accounted ? lag.newest.value - accounted.value : 0;
  lag.behind = format_bytes(behind);
  lag.bytes = behind;
  const bool arriving = Clock::now() - last_data_at_ < std::chrono::seconds(1) || !applied.idle;
  if (behind > 0 && arriving && committed_commit_time_us > 0) {
    const int64_t now_us = pg::pg_epoch_micros(std::chrono::system_clock::now());
    lag.seconds = std::max(0.0, static_cast<double>(now_us - committed_commit_time_us) / 1e6);
  }
  return lag;
}

// A selected table the stream lacks ends the session: it joins the stream
// while nothing applies (replicator/table_sync.h).
bool PgoutputFeed::tables_appeared() {
  if (direction_ != control::Direction::kForward) return false;
  const auto now = Clock::now();
  if (now - last_table_check_ < kTableCheckInterval) return false;
  last_table_check_ = now;
  const NewTables found = find_new_tables(source_sql(), target_, config_, /*streaming=*/true);
  warn_unusable(found.unusable, warned_);
  for (const auto& table : found.to_add) {
    spdlog::info("{} appeared on the source and matches tables.include; adding it",
                 table.display_name());
  }
  for (const auto& table : found.renamed) {
    spdlog::info("{} is a stream table renamed on the source; following it", table);
  }
  return !found.to_add.empty() || !found.renamed.empty();
}

}  // namespace switchyard
