#include "replicator/replicate.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include "common/backoff.h"
#include "common/error.h"
#include "common/log.h"
#include "common/shutdown.h"
#include "common/units.h"
#include "control/control_schema.h"
#include "drivers/pg/replication_stream.h"
#include "replicator/apply_loop.h"
#include "replicator/large_object_sync.h"
#include "replicator/pgoutput_decoder.h"
#include "replicator/setup.h"
#include "replicator/snapshot_copy.h"
#include "replicator/stream_lock.h"
#include "replicator/table_sync.h"

namespace switchyard {

using Clock = std::chrono::steady_clock;

namespace {

// How often a streaming session asks the target whether a cutover or a
// failback has turned the stream round.
constexpr auto kDirectionCheckInterval = std::chrono::milliseconds(200);
// How often a forward session looks for tables that appeared on the source.
constexpr auto kNewTableCheckInterval = std::chrono::seconds(5);

// Why a streaming session ended without an error.
enum class SessionEnd { kStopped, kTurnedRound, kTablesAppeared };

// Tables that cannot be replicated are named once per process, not at
// every check.
void warn_unusable(const std::vector<std::string>& unusable, std::set<std::string>& warned) {
  for (const auto& reason : unusable) {
    if (warned.insert(reason).second) {
      spdlog::warn("{}: it matches tables.include but is not replicated until it has one", reason);
    }
  }
}

// Which way the stream runs now (forward before any cutover). The target's
// control schema is the home of that fact in both directions.
control::Direction current_direction(pg::Connection& home, const std::string& name) {
  if (!control::schema_exists(home) || !control::read_stream(home, name)) {
    return control::Direction::kForward;
  }
  return control::read_direction(home, name);
}

// One connected streaming session in one direction. `config` is the
// stream's configuration seen in that direction (Config::reversed() after a
// cutover); `home` is the target of the original configuration. run()
// returns on a stop request or when the direction changes; it throws on any
// failure (the caller decides whether to retry).
class StreamSession {
 public:
  StreamSession(const Config& config, const std::string& home_conninfo,
                control::Direction direction)
      : config_(config),
        direction_(direction),
        home_(home_conninfo,
              direction == control::Direction::kForward ? config.target.name : config.source.name,
              pg::Mode::kNormal, "control"),
        catalog_(config.target.conninfo, downstream_role()),
        apply_(config, catalog_),
        replication_(config.source.conninfo, upstream_role(), pg::Mode::kReplication),
        stream_(replication_) {}

  // `progress_made` is set once a batch commits (the caller resets backoff).
  SessionEnd run(bool& progress_made, std::set<std::string>& warned) {
    warned_ = &warned;
    const Lsn start = apply_.resume_position();
    // messages: cutover's drain marker (ApplyLoop::on_message).
    stream_.start(config_.slot_name(), start,
                  "proto_version '1', publication_names '" + config_.publication_name() +
                      "', messages 'true'");
    spdlog::info("streaming {} ({} -> {}) from slot {} at {}", control::to_string(direction_),
                 upstream_role(), downstream_role(), config_.slot_name(), start.to_string());
    last_status_ = last_feedback_ = last_received_at_ = Clock::now();
    rate_mark_ = {Clock::now(), apply_.transactions_applied()};

    while (!stop_requested() && !direction_changed_ && !tables_appeared_) {
      // Wait up to 100 ms when there is nothing to commit. With a batch
      // waiting, commit once the stream runs dry: at once if a cutover's
      // drain marker is in it, else after 1 ms without a message. During a
      // catch-up the walsender shares the cores with the target and us, and
      // its socket runs dry for a moment now and then; committing at each
      // such moment made batches of ~185 transactions, waiting a
      // millisecond makes them several times larger (fewer commits, and
      // more repeated updates of a row collapse within a run).
      const bool batch_waiting =
          apply_.pending_transactions() > 0 && !apply_.in_source_transaction();
      const auto wait = !batch_waiting                  ? std::chrono::milliseconds(100)
                        : apply_.drain_marker_waiting() ? std::chrono::milliseconds(0)
                                                        : std::chrono::milliseconds(1);
      auto message = stream_.read(wait);
      if (!message) {
        check_silence();
        if (batch_waiting) {
          apply_.commit_batch();
          progress_made = true;
        } else {
          apply_.poll_requests();
        }
        housekeeping(false);
        continue;
      }
      last_received_at_ = Clock::now();
      ping_sent_at_.reset();
      if (message->wal_end > sent_end_) sent_end_ = message->wal_end;
      if (message->kind == pg::StreamMessage::Kind::kKeepalive) {
        housekeeping(message->reply_requested);
        continue;
      }
      received_ = message->wal_start;
      last_data_at_ = Clock::now();
      change::Message decoded = pgoutput::decode(message->payload);
      const bool commit = std::holds_alternative<change::Commit>(decoded);
      apply_.handle(std::move(decoded));
      if (commit && apply_.batch_full()) {
        apply_.commit_batch();
        progress_made = true;
      }
      housekeeping(false);
    }
    stop();
    if (direction_changed_) return SessionEnd::kTurnedRound;
    return tables_appeared_ ? SessionEnd::kTablesAppeared : SessionEnd::kStopped;
  }

 private:
  // Clean stop: a complete batch is committed, a partial source transaction
  // is rolled back (it will be streamed again), the slot is told the final
  // durable position.
  void stop() {
    if (apply_.in_source_transaction()) {
      apply_.rollback_batch();
    } else {
      apply_.commit_batch();
    }
    send_feedback(false);
    stream_.finish();
    spdlog::info("stopped cleanly at {} ({} transactions applied this session)",
                 apply_.committed_position().to_string(), apply_.transactions_applied());
  }

  // What the configuration calls the two ends of this session (its source
  // is the upstream in either direction: Config::reversed()).
  const std::string& upstream_role() const { return config_.source.name; }
  const std::string& downstream_role() const { return config_.target.name; }

  void housekeeping(bool reply_requested) {
    const auto now = Clock::now();
    if (now - last_direction_check_ >= kDirectionCheckInterval) {
      last_direction_check_ = now;
      if (control::read_direction(home_, config_.name) != direction_) {
        spdlog::info("the stream changed direction (cutover or failback); switching");
        direction_changed_ = true;
      }
    }
    if (direction_ == control::Direction::kForward &&
        now - last_table_check_ >= kNewTableCheckInterval) {
      last_table_check_ = now;
      look_for_new_tables();
    }
    if (reply_requested || now - last_feedback_ >= config_.stream.feedback_interval) {
      send_feedback(false);
      last_feedback_ = now;
    }
    if (now - last_status_ >= config_.stream.status_interval) {
      report_status(now);
      last_status_ = now;
    }
  }

  // Called when a read found nothing. A server that has nothing to send
  // stays silent as long as our feedback keeps it content, so silence is
  // tested by asking: half-way through stream.receive_timeout a status
  // update requests a reply, which a live walsender sends at once. Nothing
  // for the other half (measured from the request, so time spent applying
  // a long batch never counts) and the connection is dead.
  void check_silence() {
    const auto timeout = config_.stream.receive_timeout;
    if (timeout.count() == 0) return;
    const auto now = Clock::now();
    if (!ping_sent_at_) {
      if (now - last_received_at_ < timeout / 2) return;
      send_feedback(true);
      last_feedback_ = now;
      ping_sent_at_ = now;
      return;
    }
    if (now - *ping_sent_at_ < timeout / 2) return;
    throw Error(
        ErrorKind::kConnection,
        upstream_role() + ": nothing received on the replication connection for " +
            format_duration(std::chrono::duration<double>(now - last_received_at_).count()) +
            ", not even the reply to a status request (stream.receive_timeout); taking it "
            "for dead");
  }

  // A selected table the stream lacks ends the session: it joins the stream
  // while nothing applies (replicator/table_sync.h).
  void look_for_new_tables() {
    if (!source_sql_) source_sql_.emplace(config_.source.conninfo, config_.source.name);
    const NewTables found = find_new_tables(*source_sql_, catalog_, config_);
    warn_unusable(found.unusable, *warned_);
    if (found.to_add.empty()) return;
    for (const auto& table : found.to_add) {
      spdlog::info("{} appeared on the source and matches tables.include; adding it",
                   table.display_name());
    }
    tables_appeared_ = true;
  }

  // Nothing received is waiting to be applied.
  bool idle() const {
    return !apply_.in_source_transaction() && apply_.pending_transactions() == 0 &&
           received_ <= apply_.committed_position();
  }

  // The slot may forget WAL only up to what the target has flushed to disk.
  // When we are idle and everything applied is flushed, every change up to
  // the walsender's sent position is accounted for, so that is confirmed too
  // and the source can recycle WAL on a quiet database.
  void send_feedback(bool reply) {
    const auto flushed = control::origin_progress(catalog_, config_.origin_name(), true);
    Lsn confirm = flushed.value_or(Lsn{});
    if (idle() && confirm == apply_.committed_position() && sent_end_ > confirm) {
      confirm = sent_end_;
    }
    stream_.send_status(received_ > confirm ? received_ : confirm, confirm, confirm, reply);
  }

  // The source's current WAL position. The stream's own positions stop at
  // what the walsender has decoded so far, so a plain session asks.
  Lsn source_wal_position() {
    if (!source_sql_) source_sql_.emplace(config_.source.conninfo, config_.source.name);
    pg::Result result = source_sql_->exec("SELECT pg_catalog.pg_current_wal_lsn()::text");
    return Lsn::parse(result.get(0, 0)).value_or(Lsn{});
  }

  // Lag in bytes: the source's WAL position minus what is accounted for
  // (applied, or sent with nothing for us while idle). Lag in seconds: the
  // age of the last applied commit while changes are still arriving.
  void report_status(Clock::time_point now) {
    const Lsn applied = apply_.committed_position();
    Lsn accounted = applied;
    if (idle() && sent_end_ > accounted) accounted = sent_end_;
    const Lsn source_now = source_wal_position();
    const uint64_t behind = source_now > accounted ? source_now.value - accounted.value : 0;
    const bool arriving = now - last_data_at_ < std::chrono::seconds(1) || !idle();
    double lag_seconds = 0;
    if (behind > 0 && arriving && apply_.committed_commit_time_us() > 0) {
      const int64_t now_us = pg::pg_epoch_micros(std::chrono::system_clock::now());
      lag_seconds =
          std::max(0.0, static_cast<double>(now_us - apply_.committed_commit_time_us()) / 1e6);
    }
    const double elapsed = std::chrono::duration<double>(now - rate_mark_.first).count();
    const double rate =
        elapsed > 0
            ? static_cast<double>(apply_.transactions_applied() - rate_mark_.second) / elapsed
            : 0;
    rate_mark_ = {now, apply_.transactions_applied()};
    spdlog::info("lag {} ({}), source at {}, applied {}, {:.0f} tx/s", format_bytes(behind),
                 format_duration(lag_seconds), source_now.to_string(), applied.to_string(), rate);
    control::report_lag(catalog_, config_.name, source_now, applied, lag_seconds,
                        apply_.prepared_statements());
  }

  const Config& config_;
  const control::Direction direction_;
  pg::Connection home_;  // the target's control schema: the stream's direction
  pg::Connection catalog_;
  ApplyLoop apply_;
  pg::Connection replication_;
  pg::ReplicationStream stream_;
  std::optional<pg::Connection> source_sql_;  // for the source's WAL position
  Lsn received_;
  Lsn sent_end_;  // the walsender's sent position (keepalives)
  Clock::time_point last_data_at_{};
  Clock::time_point last_received_at_{};           // any message, keepalives too
  std::optional<Clock::time_point> ping_sent_at_;  // a reply requested, none yet
  Clock::time_point last_status_;
  Clock::time_point last_feedback_;
  Clock::time_point last_direction_check_{};
  Clock::time_point last_table_check_{};
  bool direction_changed_ = false;
  bool tables_appeared_ = false;
  std::set<std::string>* warned_ = nullptr;
  std::pair<Clock::time_point, uint64_t> rate_mark_;
};

}  // namespace

void run_replicate(const Config& config) {
  StreamLock lock(config);
  // First start: prepare both sides and copy; later starts skip both. After
  // a cutover there is nothing to copy: the stream runs the other way.
  {
    pg::Connection home(config.target.conninfo, config.target.name, pg::Mode::kNormal, "control");
    if (current_direction(home, config.name) == control::Direction::kForward) {
      run_snapshot(config);
    }
  }
  // Large objects are not streamed: a thread of their own follows them, in
  // the stream's direction (replicator/large_object_sync.h).
  LargeObjectFollower large_objects(config);

  // A slot or origin "in use" (55006) right after a crash is the dead
  // process's backend on its way out; for longer, it is another replicate.
  constexpr auto kInUsePatience = std::chrono::seconds(10);
  Clock::time_point in_use_since{};  // epoch: not in use
  std::set<std::string> warned;      // unreplicable tables already named
  Backoff backoff(std::chrono::milliseconds(500), config.stream.reconnect_max);
  while (!stop_requested()) {
    bool progress_made = false;
    try {
      lock.keep();
      control::Direction direction;
      {
        pg::Connection home(config.target.conninfo, config.target.name, pg::Mode::kNormal,
                            "control");
        direction = current_direction(home, config.name);
      }
      const Config directed =
          direction == control::Direction::kForward ? config : config.reversed();
      if (direction == control::Direction::kForward) {
        // Tables that appeared while nothing streamed, or whose adding was
        // interrupted, join before the stream resumes.
        pg::Connection source(config.source.conninfo, config.source.name);
        pg::Connection target(config.target.conninfo, config.target.name);
        const NewTables found = find_new_tables(source, target, config);
        warn_unusable(found.unusable, warned);
        if (!found.to_add.empty()) add_tables(config, found.to_add);
      }
      StreamSession session(directed, config.target.conninfo, direction);
      const SessionEnd end = session.run(progress_made, warned);
      if (end == SessionEnd::kStopped) return;
      // Turned round by cutover or failback, or tables to add: at once.
      backoff.reset();
      continue;
    } catch (const Error& error) {
      if (!error.retryable() || stop_requested()) throw;
      if (error.sqlstate() == "55006") {
        if (in_use_since == Clock::time_point{}) in_use_since = Clock::now();
        if (Clock::now() - in_use_since > kInUsePatience) {
          throw Error(ErrorKind::kPrecondition,
                      error.what() + std::string("; is another `switchyard replicate` running?"),
                      error.sqlstate());
        }
      } else {
        in_use_since = Clock::time_point{};
      }
      if (progress_made) backoff.reset();
      const auto delay = backoff.next_delay();
      spdlog::warn("{}; reconnecting in {}", error.what(),
                   format_duration(static_cast<double>(delay.count()) / 1000.0));
      if (!sleep_unless_stopped(delay)) return;
    }
  }
}

}  // namespace switchyard
