#include "service/job.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <exception>

#include "common/shutdown.h"
#include "drivers/pg/connection.h"

namespace switchyard::service {
namespace {

constexpr auto kStopGrace = std::chrono::seconds(10);

}  // namespace

Job::Job(std::string name, std::function<void()> body) : name_(std::move(name)) {
  thread_ = std::thread([this, body = std::move(body)] {
    StopScope scope(stop_);
    std::string failure;
    try {
      body();
    } catch (const std::exception& error) {
      failure = error.what();
    }
    if (!failure.empty()) spdlog::error("serve: {} stopped: {}", name_, failure);
    std::lock_guard lock(mutex_);
    state_ = failure.empty() ? State::kStopped : State::kFailed;
    error_ = failure;
  });
}

void Job::stop() {
  std::lock_guard lock(mutex_);
  if (stop_asked_at_ == std::chrono::steady_clock::time_point{}) {
    stop_asked_at_ = std::chrono::steady_clock::now();
  }
  stop_.request_stop();
}

Job::~Job() {
  stop();
  // A loop stops between units of work; one blocked in a call on a server
  // that stopped answering is let go of after a while.
  std::chrono::steady_clock::time_point give_up_at;
  {
    std::lock_guard lock(mutex_);
    give_up_at = stop_asked_at_ + kStopGrace;
  }
  while (state() == State::kRunning && std::chrono::steady_clock::now() < give_up_at) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (state() == State::kRunning) {
    const int sessions = pg::interrupt_sessions(stop_);
    spdlog::warn("serve: {} did not stop within {} s; let go of its {} database sessions", name_,
                 std::chrono::duration_cast<std::chrono::seconds>(kStopGrace).count(), sessions);
  }
  if (thread_.joinable()) thread_.join();
}

Job::State Job::state() const {
  std::lock_guard lock(mutex_);
  return state_;
}

std::string Job::error() const {
  std::lock_guard lock(mutex_);
  return error_;
}

const char* to_string(Job::State state) {
  switch (state) {
    case Job::State::kRunning:
      return "running";
    case Job::State::kStopped:
      return "stopped";
    case Job::State::kFailed:
      return "failed";
  }
  return "?";
}

}  // namespace switchyard::service
