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
#include "common/metrics.h"
#include "common/shutdown.h"
#include "common/units.h"
#include "control/control_schema.h"
#include "replicator/large_object_sync.h"
#include "replicator/source_engine.h"
#include "replicator/stream_lock.h"
#include "replicator/stream_session.h"

namespace switchyard {

using Clock = std::chrono::steady_clock;

namespace {

// Which way the stream runs now (forward before any cutover). The target's
// control schema is the home of that fact in both directions.
control::Direction current_direction(pg::Connection& home, const std::string& name) {
  if (!control::schema_exists(home) || !control::read_stream(home, name)) {
    return control::Direction::kForward;
  }
  return control::read_direction(home, name);
}

}  // namespace

void run_replicate(const Config& config) {
  struct PhaseOnExit {
    ~PhaseOnExit() { metrics::set_stream_phase(metrics::StreamPhase::kStopped); }
  } stopped_on_exit;
  metrics::set_stream_phase(metrics::StreamPhase::kPreparing);
  StreamLock lock(config);
  const auto engine = SourceEngine::of(config);
  // First start: prepare both sides and copy; later starts skip both.
  {
    pg::Connection home(config.target.conninfo, config.target.name, pg::Mode::kNormal, "control");
    engine->prepare_stream(current_direction(home, config.name));
  }
  // Large objects are not streamed: a thread of their own follows them, in
  // the stream's direction (replicator/large_object_sync.h).
  std::optional<LargeObjectFollower> large_objects;
  if (engine->follows_large_objects()) large_objects.emplace(config);

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
      // Tables that appeared while nothing streamed, or whose adding was
      // interrupted, join before the stream resumes.
      engine->add_new_tables(direction, warned);
      auto make_feed = [&](pg::Connection& target) {
        return engine->feed(directed, target, direction, warned);
      };
      StreamSession session(directed, config.target.conninfo, direction, make_feed);
      const SessionEnd end = session.run(progress_made);
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
      metrics::stream().reconnects.Increment();
      metrics::set_stream_phase(metrics::StreamPhase::kReconnecting);
      const auto delay = backoff.next_delay();
      spdlog::warn("{}; reconnecting in {}", error.what(),
                   format_duration(static_cast<double>(delay.count()) / 1000.0));
      if (!sleep_unless_stopped(delay)) return;
    }
  }
}

}  // namespace switchyard
