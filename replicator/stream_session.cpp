#include "replicator/stream_session.h"

#include <spdlog/spdlog.h>

#include <variant>

#include "common/metrics.h"
#include "common/shutdown.h"
#include "common/units.h"

namespace switchyard {

using Clock = std::chrono::steady_clock;

namespace {

// How often a session asks the target whether a cutover or a failback has
// turned the stream round.
constexpr auto kDirectionCheckInterval = std::chrono::milliseconds(200);

}  // namespace

StreamSession::StreamSession(const Config& config, const std::string& home_conninfo,
                             control::Direction direction, const FeedFactory& make_feed)
    : config_(config),
      direction_(direction),
      home_(home_conninfo,
            direction == control::Direction::kForward ? config.target.name : config.source.name,
            pg::Mode::kNormal, "control"),
      catalog_(config.target.conninfo, config.target.name),
      apply_(config, catalog_),
      feed_(make_feed(catalog_)) {}

SessionEnd StreamSession::run(bool& progress_made) {
  spdlog::info("{}", feed_->start(apply_.resume_position()));
  metrics::set_stream_direction(control::to_string(direction_));
  metrics::set_stream_phase(metrics::StreamPhase::kStreaming);
  last_status_ = last_feedback_ = rate_since_ = Clock::now();
  rate_transactions_ = apply_.transactions_applied();
  rate_changes_ = apply_.changes_applied();
  bool tables_appeared = false;

  while (!stop_requested() && !direction_changed_ && !tables_appeared) {
    // Wait up to 100 ms when there is nothing to commit. With a batch
    // waiting, commit once the feed runs dry: at once if a cutover's drain
    // marker is in it, else after 1 ms without a message. During a
    // catch-up the source shares the cores with the target and us, and
    // its feed runs dry for a moment now and then; committing at each such
    // moment made batches of ~185 transactions, waiting a millisecond makes
    // them several times larger (fewer commits, and more repeated updates
    // of a row collapse within a run).
    const bool batch_waiting = apply_.pending_transactions() > 0 && !apply_.in_source_transaction();
    const auto wait = !batch_waiting                  ? std::chrono::milliseconds(100)
                      : apply_.drain_marker_waiting() ? std::chrono::milliseconds(0)
                                                      : std::chrono::milliseconds(1);
    std::optional<change::Message> message = feed_->next(wait);
    if (!message) {
      if (batch_waiting) {
        apply_.commit_batch();
        progress_made = true;
      } else {
        apply_.poll_requests();
      }
    } else {
      const bool commit = std::holds_alternative<change::Commit>(*message);
      apply_.handle(std::move(*message));
      if (apply_.table_to_take_in()) {
        tables_appeared = true;
        break;
      }
      if (commit && apply_.batch_full()) {
        apply_.commit_batch();
        progress_made = true;
      }
    }
    housekeeping(feed_->acknowledgement_wanted());
    if (direction_ == control::Direction::kForward && !apply_.in_source_transaction()) {
      tables_appeared = feed_->tables_appeared();
    }
  }
  stop();
  if (direction_changed_) return SessionEnd::kTurnedRound;
  return tables_appeared ? SessionEnd::kTablesAppeared : SessionEnd::kStopped;
}

// Clean stop: a complete batch is committed, a partial source transaction
// is rolled back (it will be streamed again), the source is told the final
// durable position.
void StreamSession::stop() {
  if (apply_.in_source_transaction()) {
    apply_.rollback_batch();
  } else {
    apply_.commit_batch();
  }
  acknowledge();
  feed_->finish();
  spdlog::info("stopped cleanly at {} ({} transactions applied this session)",
               feed_->format(apply_.committed_position()), apply_.transactions_applied());
}

void StreamSession::housekeeping(bool acknowledge_now) {
  const auto now = Clock::now();
  if (now - last_direction_check_ >= kDirectionCheckInterval) {
    last_direction_check_ = now;
    if (control::read_direction(home_, config_.name) != direction_) {
      spdlog::info("the stream changed direction (cutover or failback); switching");
      direction_changed_ = true;
    }
  }
  if (acknowledge_now || now - last_feedback_ >= config_.stream.feedback_interval) {
    acknowledge();
    last_feedback_ = now;
  }
  if (now - last_status_ >= config_.stream.status_interval) {
    report_status(now);
    last_status_ = now;
  }
}

ChangeFeed::Applied StreamSession::applied() {
  ChangeFeed::Applied applied;
  applied.committed = apply_.committed_position();
  applied.durable = control::origin_progress(catalog_, config_.origin_name(), true).value_or(Lsn{});
  applied.idle = !apply_.in_source_transaction() && apply_.pending_transactions() == 0 &&
                 feed_->caught_up(applied.committed);
  return applied;
}

// The source may forget only what the target has flushed to disk.
void StreamSession::acknowledge() {
  feed_->acknowledge(applied());
}

// The lag line, and the same figures in the control schema for status.
void StreamSession::report_status(Clock::time_point now) {
  const ChangeFeed::Applied where = applied();
  const SourceLag lag = feed_->lag(where, apply_.committed_commit_time_us());
  const double elapsed = std::chrono::duration<double>(now - rate_since_).count();
  auto rate = [&](uint64_t now_count, uint64_t& mark) {
    const double per_second = elapsed > 0 ? static_cast<double>(now_count - mark) / elapsed : 0;
    mark = now_count;
    return per_second;
  };
  const double transactions = rate(apply_.transactions_applied(), rate_transactions_);
  const double changes = rate(apply_.changes_applied(), rate_changes_);
  rate_since_ = now;
  spdlog::info("lag {} ({}), source at {}, applied {}, {:.0f} tx/s, {:.0f} changes/s", lag.behind,
               format_duration(lag.seconds), feed_->format(lag.newest),
               feed_->format(where.committed), transactions, changes);
  control::report_lag(catalog_, config_.name, lag.newest, where.committed, lag.seconds,
                      apply_.prepared_statements());
  metrics::StreamMetrics& measured = metrics::stream();
  measured.lag_seconds.Set(lag.seconds);
  measured.lag_bytes.Set(static_cast<double>(lag.bytes));
  measured.lag_changes.Set(static_cast<double>(lag.changes));
}

}  // namespace switchyard
