// One connected streaming session, whichever engine the source is: a
// change feed (change_feed.h) into the apply loop (apply_loop.h), until a
// stop request, a turn of the stream's direction (cutover, failback), or
// a table that must join the stream first. Any failure is thrown; the
// caller (replicate.cpp) reconnects with backoff, and the next session
// resumes from the target's replication origin.
//
// Batching: with a batch waiting, it commits as soon as the feed runs dry
// (after 1 ms without a message, at once when a cutover's drain marker is
// in it) or when the batch is full. The source hears what the target holds
// durably every stream.feedback_interval, and whenever it asks; the lag
// line and status's figures come every stream.status_interval.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/config.h"
#include "control/control_schema.h"
#include "drivers/pg/connection.h"
#include "replicator/apply_loop.h"
#include "replicator/change_feed.h"

namespace switchyard {

// Why a streaming session ended without an error.
enum class SessionEnd { kStopped, kTurnedRound, kTablesAppeared };

class StreamSession {
 public:
  // Makes the session's feed; `target` is a session on the stream's
  // target the feed may use (catalog reads).
  using FeedFactory = std::function<std::unique_ptr<ChangeFeed>(pg::Connection& target)>;

  // `config` is the stream's configuration seen in `direction`
  // (Config::reversed() after a cutover); `home_conninfo` is the original
  // target's, whose control schema says which way the stream runs.
  StreamSession(const Config& config, const std::string& home_conninfo,
                control::Direction direction, const FeedFactory& make_feed);

  // `progress_made` is set once a batch commits (the caller resets backoff).
  SessionEnd run(bool& progress_made);

 private:
  void stop();
  void housekeeping(bool acknowledge_now);
  ChangeFeed::Applied applied();
  void acknowledge();
  void report_status(std::chrono::steady_clock::time_point now);

  const Config& config_;
  const control::Direction direction_;
  pg::Connection home_;  // the original target's control schema: the stream's direction
  pg::Connection catalog_;
  ApplyLoop apply_;
  std::unique_ptr<ChangeFeed> feed_;
  std::chrono::steady_clock::time_point last_status_{};
  std::chrono::steady_clock::time_point last_feedback_{};
  std::chrono::steady_clock::time_point last_direction_check_{};
  bool direction_changed_ = false;
  std::chrono::steady_clock::time_point rate_since_{};
  uint64_t rate_transactions_ = 0;
  uint64_t rate_changes_ = 0;
};

}  // namespace switchyard
