#include "common/shutdown.h"

#include <atomic>
#include <csignal>
#include <utility>

namespace switchyard {
namespace {

std::atomic<bool> g_stop{false};
// The job of the calling thread; no state (stop_possible() false) outside one.
thread_local std::stop_source t_job{std::nostopstate};

extern "C" void on_stop_signal(int) {
  g_stop.store(true);
}

}  // namespace

void install_stop_signals() {
  struct sigaction action = {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

bool stop_requested() {
  return g_stop.load(std::memory_order_relaxed) || t_job.stop_requested();
}

void request_stop() {
  if (t_job.stop_possible()) {
    t_job.request_stop();
  } else {
    g_stop.store(true);
  }
}

StopScope::StopScope(std::stop_source job) : previous_(std::exchange(t_job, std::move(job))) {}

StopScope::~StopScope() {
  t_job = std::move(previous_);
}

std::stop_source current_stop_source() {
  return t_job;
}

}  // namespace switchyard
