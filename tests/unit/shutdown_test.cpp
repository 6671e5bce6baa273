// Stops of one job (StopScope) against the whole process's stop. The
// process-wide flag is never set here: it cannot be cleared, and every test
// of this binary would see it.

#include <catch2/catch.hpp>

#include <atomic>
#include <stop_token>
#include <thread>

#include "common/shutdown.h"

using namespace switchyard;

namespace {

bool seen_on_new_thread() {
  std::atomic<bool> seen{false};
  std::thread([&] { seen = stop_requested(); }).join();
  return seen;
}

bool seen_on_job_thread() {
  std::atomic<bool> seen{false};
  job_thread([&] { seen = stop_requested(); }).join();
  return seen;
}

}  // namespace

TEST_CASE("A job's stop reaches its own threads only", "[shutdown]") {
  CHECK_FALSE(stop_requested());
  std::stop_source stream, verify;
  {
    StopScope scope(stream);
    CHECK_FALSE(stop_requested());
    stream.request_stop();
    CHECK(stop_requested());
    CHECK(seen_on_job_thread());        // a worker the job started
    CHECK_FALSE(seen_on_new_thread());  // a thread outside the job
    {
      StopScope inner(verify);  // nested: the inner job decides
      CHECK_FALSE(stop_requested());
    }
    CHECK(stop_requested());
  }
  CHECK_FALSE(stop_requested());  // the scope is over: the process runs on
}

TEST_CASE("request_stop inside a job stops that job, not the process", "[shutdown]") {
  std::stop_source job;
  std::thread([&] {
    StopScope scope(job);
    request_stop();  // a refusal on one of the job's threads
  }).join();
  CHECK(job.stop_requested());
  CHECK_FALSE(stop_requested());
  CHECK_FALSE(current_stop_source().stop_possible());
}
