#include "service/job.h"

#include <spdlog/spdlog.h>

#include <exception>

#include "common/shutdown.h"

namespace switchyard::service {

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

Job::~Job() {
  stop();
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
