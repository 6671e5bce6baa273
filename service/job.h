// A job of the service: a loop of switchyard's (the stream, continuous
// verify) on a thread of its own, under a stop of its own (common/shutdown.h),
// so that it can be started, observed and stopped without the others. A
// signal to the process stops every job.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>

namespace switchyard::service {

class Job {
 public:
  enum class State { kRunning, kStopped, kFailed };

  // Starts `body` at once.
  Job(std::string name, std::function<void()> body);
  // Stops the job and waits for it; 10 s after it was asked to stop, lets
  // go of the database sessions it is blocked on (pg::interrupt_sessions)
  // and waits again.
  ~Job();
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  // Asks the job to stop; the grace period (see ~Job) runs from the first
  // call.
  void stop();
  const std::string& name() const { return name_; }
  State state() const;
  std::string error() const;  // why it failed

 private:
  std::string name_;
  std::stop_source stop_;
  std::chrono::steady_clock::time_point stop_asked_at_{};
  mutable std::mutex mutex_;
  State state_ = State::kRunning;
  std::string error_;
  std::thread thread_;
};

const char* to_string(Job::State state);

}  // namespace switchyard::service
