// A job of the service: a loop of switchyard's (the stream, continuous
// verify) on a thread of its own, under a stop of its own (common/shutdown.h),
// so that it can be started, observed and stopped without the others. A
// signal to the process stops every job.
#pragma once

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
  // Stops the job and waits for it.
  ~Job();
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  void stop() { stop_.request_stop(); }
  const std::string& name() const { return name_; }
  State state() const;
  std::string error() const;  // why it failed

 private:
  std::string name_;
  std::stop_source stop_;
  mutable std::mutex mutex_;
  State state_ = State::kRunning;
  std::string error_;
  std::thread thread_;
};

const char* to_string(Job::State state);

}  // namespace switchyard::service
