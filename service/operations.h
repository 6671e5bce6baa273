// What the service's mutations start: a cutover, a failback, a verify pass
// or a repair, one at a time, each a run with an id that
// GET /api/v1/runs/{id} shows while it runs and after.
//
// A cutover or failback runs its preflight (and what it prepares before
// the freeze) while the caller waits, so that a refusal is the answer to
// the request itself (412, with every check); once the preflight passed,
// the caller gets 202 and the run's id (the journal's), and the freeze and
// the switch go on in a job of their own. A dry run answers 200 with the
// plan. Verify and repair answer 202 at once. While one run goes on,
// another is refused with 409 naming it; so is a cutover that another
// process (the CLI) runs.
#pragma once

#include <boost/json/object.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/config.h"
#include "cutover/state_machine.h"
#include "service/job.h"
#include "verify/run_verify.h"

namespace switchyard::service {

// An HTTP status and its JSON body.
struct Answer {
  unsigned status = 200;
  boost::json::object body;
};

class Operations {
 public:
  explicit Operations(const Config& config);
  // Waits for a running run to end (a switch is bounded by its freeze
  // budget and post-checks; a verify pass stops at its next chunk).
  ~Operations();
  Operations(const Operations&) = delete;
  Operations& operator=(const Operations&) = delete;

  Answer start_switch(cutover::Operation operation, bool dry_run,
                      std::optional<std::chrono::milliseconds> freeze_budget,
                      const std::string& requested_by);
  Answer start_verify(verify::Mode mode, std::optional<std::string> table,
                      const std::string& requested_by);

  // The run `id` as this process knows it (null when it does not): kind,
  // state, who asked, when, and its result.
  std::optional<boost::json::object> find(const std::string& id) const;
  // The run going on, if any.
  std::optional<boost::json::object> current() const;

 private:
  struct Run {
    std::string id, kind, requested_by, state = "running", started_at, finished_at;
    boost::json::object result;
    boost::json::object to_json() const;
  };

  // Reserves the one slot for a run; the 409 answer when it is taken.
  std::optional<Answer> reserve();
  void begin(Run run, std::function<boost::json::object(Run&)> body);
  void end(const std::string& id, const std::string& state, boost::json::object result);

  const Config& config_;
  mutable std::mutex mutex_;
  bool reserved_ = false;
  std::optional<Run> running_;
  std::deque<Run> finished_;  // the latest ones, newest first
  std::unique_ptr<Job> job_;
  int verify_runs_ = 0;
};

}  // namespace switchyard::service
