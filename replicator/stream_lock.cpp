#include "replicator/stream_lock.h"

#include <chrono>
#include <thread>

#include "common/error.h"
#include "common/shutdown.h"
#include "control/advisory_lock.h"

namespace switchyard {
namespace {

std::string lock_name(const Config& config) {
  return "switchyard replicate " + config.name;
}

std::unique_ptr<pg::Connection> lock_session(const Config& config) {
  return std::make_unique<pg::Connection>(config.target.conninfo, config.target.name,
                                          pg::Mode::kNormal, "replicate-lock");
}

bool try_lock(const Config& config, pg::Connection& session) {
  return control::try_advisory_lock(session, lock_name(config));
}

}  // namespace

StreamLock::StreamLock(const Config& config) : config_(config) {
  take();
}

StreamLock::StreamLock(const Config& config, std::unique_ptr<pg::Connection> session)
    : config_(config), session_(std::move(session)) {}

std::unique_ptr<StreamLock> StreamLock::try_take(const Config& config) {
  auto session = lock_session(config);
  if (!try_lock(config, *session)) return nullptr;
  return std::unique_ptr<StreamLock>(new StreamLock(config, std::move(session)));
}

void StreamLock::keep() {
  try {
    if (session_ && session_->ok()) {
      session_->exec("SELECT 1");
      return;
    }
  } catch (const Error& error) {
    if (!error.retryable()) throw;
  }
  take();
}

void StreamLock::take() {
  session_.reset();
  auto session = lock_session(config_);
  // A process killed a moment ago may still hold it: its backend ends as
  // soon as it reads the closed connection, a few milliseconds.
  const auto give_up_at = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  bool taken = false;
  while (!(taken = try_lock(config_, *session)) && std::chrono::steady_clock::now() < give_up_at &&
         !stop_requested()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!taken) {
    const std::string who = control::advisory_lock_holder(*session, lock_name(config_));
    throw Error(
        ErrorKind::kPrecondition,
        "stream " + config_.name +
            " is already being replicated: another `switchyard replicate` or `serve` is running" +
            who + "; stop it first");
  }
  session_ = std::move(session);
}

}  // namespace switchyard
