// Graceful stop: of the whole process on SIGINT/SIGTERM, or of one job.
//
// Long-running loops poll stop_requested() between units of work (a source
// transaction, a COPY buffer), so a stop never leaves anything half-applied.
// A command of the CLI is one job, the process. A service runs several jobs
// at once (the stream, continuous verify, a cutover), each on threads under
// a StopScope of its own, so that stopping verify does not stop the stream;
// a signal stops them all. A second signal while stopping is ignored;
// SIGKILL is the way to test crash recovery.
#pragma once

#include <stop_token>
#include <thread>
#include <utility>

namespace switchyard {

void install_stop_signals();
// Whether the process, or the job the calling thread runs for, is to stop.
bool stop_requested();
// Stops the job the calling thread runs for; outside any job, the process
// (tests, and a refusal that must end the command).
void request_stop();

// Runs the calling thread for the job `job` stops: stop_requested() is true
// there once `job.request_stop()` is called. The threads a job starts open a
// scope of their own with current_stop_source(). Scopes nest; the previous
// one is back when a scope ends.
class StopScope {
 public:
  explicit StopScope(std::stop_source job);
  ~StopScope();
  StopScope(const StopScope&) = delete;
  StopScope& operator=(const StopScope&) = delete;

 private:
  std::stop_source previous_;
};

// The calling thread's job (one that cannot stop outside any job).
std::stop_source current_stop_source();

// A thread that runs `work` for the calling thread's job.
template <class Work>
std::thread job_thread(Work&& work) {
  return std::thread([job = current_stop_source(), work = std::forward<Work>(work)]() mutable {
    StopScope scope(job);
    work();
  });
}

}  // namespace switchyard
