#include "service/operations.h"

#include <fmt/chrono.h>
#include <spdlog/spdlog.h>

#include <ctime>
#include <utility>

#include "control/control_schema.h"
#include "cutover/switchover.h"
#include "drivers/pg/connection.h"

namespace switchyard::service {
namespace {

constexpr size_t kRunsKept = 50;

std::string now_utc() {
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(std::time(nullptr)));
}

Answer error_answer(unsigned status, const std::string& message) {
  return {status, boost::json::object{{"error", message}}};
}

// What a failure to start is told as: refusals 412, a database out of
// reach 503, anything else 500.
Answer failure_answer(const Error& error) {
  switch (error.kind()) {
    case ErrorKind::kPrecondition:
    case ErrorKind::kSchemaDrift:
      return error_answer(412, error.what());
    case ErrorKind::kConnection:
    case ErrorKind::kAuth:
    case ErrorKind::kTimeout:
      return error_answer(503, error.what());
    default:
      return error_answer(500, error.what());
  }
}

const char* kind_of(verify::Mode mode) {
  return mode == verify::Mode::kRepair ? "repair" : "verify";
}

}  // namespace

boost::json::object Operations::Run::to_json() const {
  boost::json::object out{{"run_id", id},
                          {"kind", kind},
                          {"requested_by", requested_by},
                          {"state", state},
                          {"started_at", started_at}};
  out["finished_at"] =
      finished_at.empty() ? boost::json::value(nullptr) : boost::json::value(finished_at);
  out["result"] = result;
  return out;
}

Operations::Operations(const Config& config) : config_(config) {}

Operations::~Operations() {
  std::unique_ptr<Job> job;
  {
    std::lock_guard lock(mutex_);
    job = std::move(job_);
  }
  job.reset();
}

std::optional<Answer> Operations::reserve() {
  std::lock_guard lock(mutex_);
  if (reserved_ || running_) {
    Answer busy = error_answer(409, running_ ? "a " + running_->kind + " (run " + running_->id +
                                                   ") is running; one run at a time"
                                             : "another run is starting; one run at a time");
    if (running_) busy.body["run"] = running_->to_json();
    return busy;
  }
  reserved_ = true;
  return std::nullopt;
}

void Operations::begin(Run run, std::function<boost::json::object(Run&)> body) {
  std::unique_ptr<Job> previous;
  std::lock_guard lock(mutex_);
  reserved_ = false;
  running_ = run;
  previous = std::move(job_);  // ended: its thread is joined at once
  job_ = std::make_unique<Job>(run.kind, [this, run, body = std::move(body)]() mutable {
    try {
      boost::json::object result = body(run);
      end(run.id, run.state == "running" ? "completed" : run.state, std::move(result));
    } catch (const Error& error) {
      end(run.id, error.kind() == ErrorKind::kRolledBack ? "rolled_back" : "failed",
          boost::json::object{{"error", error.what()}});
    } catch (const std::exception& error) {
      end(run.id, "failed", boost::json::object{{"error", error.what()}});
    }
  });
}

void Operations::end(const std::string& id, const std::string& state, boost::json::object result) {
  std::lock_guard lock(mutex_);
  if (!running_ || running_->id != id) return;
  Run done = std::move(*running_);
  running_.reset();
  done.state = state;
  done.finished_at = now_utc();
  done.result = std::move(result);
  spdlog::info("serve: {} run {} {}", done.kind, done.id, done.state);
  finished_.push_front(std::move(done));
  if (finished_.size() > kRunsKept) finished_.pop_back();
}

Answer Operations::start_switch(cutover::Operation operation, bool dry_run,
                                std::optional<std::chrono::milliseconds> freeze_budget,
                                const std::string& requested_by) {
  cutover::SwitchOptions options;
  options.operation = operation;
  options.dry_run = dry_run;
  options.freeze_budget = freeze_budget;
  options.requested_by = requested_by;
  if (!dry_run) {
    if (auto busy = reserve()) return *busy;
  }
  std::shared_ptr<cutover::SwitchRun> run;
  try {
    run = std::make_shared<cutover::SwitchRun>(config_, options);
  } catch (const Error& error) {
    if (!dry_run) {
      std::lock_guard lock(mutex_);
      reserved_ = false;
    }
    if (const auto* refused = dynamic_cast<const cutover::Refused*>(&error)) {
      Answer answer = error_answer(412, refused->what());
      answer.body["plan"] = refused->plan().to_json();
      return answer;
    }
    if (dynamic_cast<const cutover::AlreadyRunning*>(&error))
      return error_answer(409, error.what());
    return failure_answer(error);
  }
  if (dry_run) return {200, run->plan().to_json()};
  Run record;
  record.id = std::to_string(run->run_id());
  record.kind = cutover::to_string(operation);
  record.requested_by = requested_by;
  record.started_at = now_utc();
  Answer accepted{202, boost::json::object{{"run_id", record.id},
                                           {"kind", record.kind},
                                           {"location", "/api/v1/runs/" + record.id}}};
  accepted.body["plan"] = run->plan().to_json();
  begin(std::move(record), [run](Run&) {
    const double freeze_ms = run->run();
    return boost::json::object{{"freeze_ms", freeze_ms}};
  });
  return accepted;
}

Answer Operations::start_verify(verify::Mode mode, std::optional<std::string> table,
                                const std::string& requested_by) {
  // A pass compares what the stream has copied: refused before that.
  try {
    pg::Connection target(config_.target.conninfo, config_.target.name, pg::Mode::kNormal, "serve");
    const auto stream = control::read_stream(target, config_.name);
    if (!stream || stream->phase != control::kStreaming) {
      return error_answer(
          412, "stream '" + config_.name + "' has not finished its initial copy; verify after it");
    }
  } catch (const Error& error) {
    return failure_answer(error);
  }
  if (auto busy = reserve()) return *busy;
  Run record;
  {
    std::lock_guard lock(mutex_);
    record.id = std::string(kind_of(mode)) + "-" + std::to_string(++verify_runs_);
  }
  record.kind = kind_of(mode);
  record.requested_by = requested_by;
  record.started_at = now_utc();
  Answer accepted{202, boost::json::object{{"run_id", record.id},
                                           {"kind", record.kind},
                                           {"location", "/api/v1/runs/" + record.id}}};
  verify::Request request;
  request.mode = mode;
  request.table = std::move(table);
  begin(std::move(record), [this, request](Run& run) {
    const verify::Outcome outcome = verify::run_verify(config_, request);
    spdlog::info("serve: {}", outcome.summary());
    switch (outcome.exit_code()) {
      case ExitCode::kOk:
        run.state = "completed";
        break;
      case ExitCode::kMismatch:
        run.state = "mismatch";
        break;
      default:
        run.state = "inconclusive";
        break;
    }
    boost::json::object result = outcome.to_json();
    result["summary"] = outcome.summary();
    return result;
  });
  return accepted;
}

std::optional<boost::json::object> Operations::find(const std::string& id) const {
  std::lock_guard lock(mutex_);
  if (running_ && running_->id == id) return running_->to_json();
  for (const Run& run : finished_) {
    if (run.id == id) return run.to_json();
  }
  return std::nullopt;
}

std::optional<boost::json::object> Operations::current() const {
  std::lock_guard lock(mutex_);
  if (!running_) return std::nullopt;
  return running_->to_json();
}

}  // namespace switchyard::service
