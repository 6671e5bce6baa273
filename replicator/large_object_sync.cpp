#include "replicator/large_object_sync.h"

#include <optional>

#include "common/backoff.h"
#include "common/error.h"
#include "common/log.h"
#include "common/shutdown.h"
#include "common/units.h"
#include "control/control_schema.h"
#include "control/large_objects.h"
#include "drivers/pg/connection.h"

namespace switchyard {

namespace lo = control::large_objects;

void copy_large_objects(const Config& config, const std::string& snapshot_name) {
  pg::Connection source(config.source.conninfo, config.source.name, pg::Mode::kNormal,
                        "large-objects");
  pg::Connection target(config.target.conninfo, config.target.name, pg::Mode::kNormal,
                        "large-objects");
  lo::ensure_tables(target);
  // A target object switchyard did not write is someone else's document:
  // the copy would replace or unlink it. (An interrupted copy's own objects
  // are recorded, and are simply compared again.)
  const lo::Records records = lo::read_records(target, config.name);
  for (const auto& [oid, object] : lo::read_objects(target, false)) {
    if (!records.objects.count(oid)) {
      throw Error(ErrorKind::kPrecondition,
                  "target: large object " + std::to_string(oid) +
                      " already exists there; the initial copy needs a target without large "
                      "objects switchyard did not write (remove them with lo_unlink)");
    }
  }
  lo::SyncOptions options;
  options.snapshot = snapshot_name;
  options.against_target = true;
  const lo::SyncReport report = lo::sync(source, target, config.name, options);
  spdlog::info("snapshot: {} in {}", report.summary(), format_duration(report.seconds));
}

LargeObjectFollower::LargeObjectFollower(const Config& original)
    : original_(original), thread_(job_thread([this] { run(); })) {}

LargeObjectFollower::~LargeObjectFollower() noexcept(false) {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  if (std::uncaught_exceptions() == 0) rethrow_if_failed();
}

void LargeObjectFollower::rethrow_if_failed() {
  std::lock_guard lock(mutex_);
  if (failure_) std::rethrow_exception(failure_);
}

void LargeObjectFollower::run() {
  Backoff backoff(std::chrono::milliseconds(500), original_.stream.reconnect_max);
  std::optional<control::Direction> direction;
  std::optional<pg::Connection> home, source, target;
  // The first pass of a session, and after each turn, compares with the
  // receiving side's actual objects: its record may be stale from before a
  // cutover and failback (objects the other direction wrote there), and
  // digesting both sides once costs less than copying those again.
  bool first_pass = true;
  auto wait = [&](std::chrono::milliseconds delay) {
    std::unique_lock lock(mutex_);
    // Woken by the destructor; a stop signal is noticed within 200 ms.
    const auto until = std::chrono::steady_clock::now() + delay;
    while (!stopping_ && !stop_requested() && std::chrono::steady_clock::now() < until) {
      wake_.wait_for(lock,
                     std::min<std::chrono::steady_clock::duration>(
                         until - std::chrono::steady_clock::now(), std::chrono::milliseconds(200)));
    }
    return !stopping_ && !stop_requested();
  };
  while (wait(direction ? original_.stream.large_object_interval : std::chrono::milliseconds(0))) {
    try {
      if (!home) {
        home.emplace(original_.target.conninfo, original_.target.name, pg::Mode::kNormal,
                     "large-objects");
      }
      const control::Direction now = control::read_direction(*home, original_.name);
      if (!direction || now != *direction || !source || !target) {
        // Turned round by a cutover or failback: the other way from now on.
        const bool forward = now == control::Direction::kForward;
        const Config config = forward ? original_ : original_.reversed();
        source.reset();
        target.reset();
        source.emplace(config.source.conninfo, config.source.name, pg::Mode::kNormal,
                       "large-objects");
        target.emplace(config.target.conninfo, config.target.name, pg::Mode::kNormal,
                       "large-objects");
        if (direction && now != *direction) first_pass = true;
        direction = now;
      }
      lo::SyncOptions options;
      options.against_target = first_pass;
      const lo::SyncReport report = lo::sync(*source, *target, original_.name, options);
      first_pass = false;
      if (report.copied + report.owners + report.unlinked > 0) {
        spdlog::info("large objects ({}): {} in {}", control::to_string(*direction),
                     report.summary(), format_duration(report.seconds));
      } else if (report.digested) {
        spdlog::debug("large objects: {} in {}", report.summary(), format_duration(report.seconds));
      }
      backoff.reset();
    } catch (const Error& error) {
      if (error.retryable()) {
        home.reset();
        source.reset();
        target.reset();
        const auto delay = backoff.next_delay();
        spdlog::warn("large objects: {}; again in {}", error.what(),
                     format_duration(static_cast<double>(delay.count()) / 1000.0));
        if (!wait(delay)) return;
        continue;
      }
      spdlog::error("large objects: {}", error.what());
      {
        std::lock_guard lock(mutex_);
        failure_ = std::current_exception();
      }
      request_stop();
      return;
    } catch (...) {
      {
        std::lock_guard lock(mutex_);
        failure_ = std::current_exception();
      }
      request_stop();
      return;
    }
  }
}

}  // namespace switchyard
