#include "service/serve.h"

#include <fmt/chrono.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <variant>
#include <vector>

#include "common/backoff.h"
#include "common/metrics.h"
#include "common/shutdown.h"
#include "common/units.h"
#include "common/version.h"
#include "control/control_schema.h"
#include "cutover/journal.h"
#include "cutover/switchover.h"
#include "drivers/pg/connection.h"
#include "replicator/legacy_source.h"
#include "replicator/replicate.h"
#include "service/dashboard_assets.h"
#include "service/http_server.h"
#include "service/job.h"
#include "service/operations.h"
#include "service/status_report.h"
#include "service/tokens.h"
#include "verify/run_verify.h"

namespace switchyard::service {
namespace {

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kText = "text/plain; charset=utf-8";

boost::json::object jobs_json(const std::vector<const Job*>& jobs) {
  boost::json::object out;
  for (const Job* job : jobs) {
    boost::json::object item;
    item["state"] = to_string(job->state());
    const std::string error = job->error();
    item["error"] = error.empty() ? boost::json::value(nullptr) : boost::json::value(error);
    out[job->name()] = std::move(item);
  }
  return out;
}

// "ok", or why the database cannot be reached.
std::string reach(const Config& config, bool source) {
  try {
    if (source && config.source.odbc()) {
      LegacySource legacy(config);
    } else {
      const Endpoint& endpoint = source ? config.source : config.target;
      pg::Connection connection(endpoint.conninfo, endpoint.name, pg::Mode::kNormal, "readyz");
      connection.exec("SELECT 1");
    }
    return "ok";
  } catch (const std::exception& error) {
    return error.what();
  }
}

// Whether the stream has finished its copy: its phase in the target's
// control schema (one query, not a whole status: that counts an ODBC
// legacy's changelog).
bool copy_done(const Config& config) {
  pg::Connection target(config.target.conninfo, config.target.name, pg::Mode::kNormal, "serve");
  if (!control::schema_exists(target)) return false;
  const auto stream = control::read_stream(target, config.name);
  return stream && stream->phase == control::kStreaming;
}

// Continuous verify, once the stream has finished its copy.
void verify_when_streaming(const Config& config) {
  while (!stop_requested()) {
    try {
      if (copy_done(config)) break;
    } catch (const Error& error) {
      if (!error.retryable()) throw;
    }
    if (!sleep_unless_stopped(std::chrono::seconds(1))) return;
  }
  if (stop_requested()) return;
  verify::Request request;
  request.mode = verify::Mode::kContinuous;
  verify::run_verify(config, request);
}

// Who may do what (service/tokens.h): /healthz is open; reads are open on
// loopback or with service.open_reads, else need a token; mutations always
// need one.
class Access {
 public:
  enum class Need { kNothing, kRead, kMutate };

  explicit Access(const Config& config)
      : open_reads_(config.service.loopback() || config.service.open_reads) {
    if (!config.service.tokens_file.empty()) tokens_ = Tokens::load(config.service.tokens_file);
  }

  size_t tokens() const { return tokens_.size(); }

  // The token's name ("" when none is needed and none was given), or the
  // 401 to answer.
  std::variant<std::string, Response> check(const Request& request, Need need) const {
    if (need == Need::kNothing || (need == Need::kRead && open_reads_)) return std::string();
    const auto header = request.find(http::field::authorization);
    const std::string_view given =
        header == request.end() ? std::string_view() : std::string_view(header->value());
    if (auto name = tokens_.authenticate(given)) return *name;
    std::string why = given.empty() ? "this needs Authorization: Bearer <token>"
                                    : "the bearer token is not one of service.tokens_file";
    if (tokens_.empty()) why = "no service.tokens_file is configured: nothing may be changed";
    Response refusal =
        respond(request, http::status::unauthorized,
                boost::json::serialize(boost::json::object{{"error", why}}) + "\n", kJson);
    refusal.set(http::field::www_authenticate, "Bearer realm=\"switchyard\"");
    return refusal;
  }

 private:
  bool open_reads_;
  Tokens tokens_;
};

Response json_answer(const Request& request, const Answer& answer) {
  return respond(request, static_cast<http::status>(answer.status),
                 boost::json::serialize(answer.body) + "\n", kJson);
}

// "true", "1", "yes": a boolean query parameter; absent: false.
bool flag(const Request& request, std::string_view name) {
  const auto value = query_parameter(request, name);
  if (!value) return false;
  if (*value == "true" || *value == "1" || *value == "yes" || value->empty()) return true;
  if (*value == "false" || *value == "0" || *value == "no") return false;
  throw Error(ErrorKind::kUsage, std::string(name) + ": '" + *value + "' is not true or false");
}

// Open mismatches, oldest first, from the side that receives the stream.
boost::json::object mismatches_json(const Config& config, int64_t limit) {
  pg::Connection home(config.target.conninfo, config.target.name, pg::Mode::kNormal, "serve");
  const bool forward = control::read_direction(home, config.name) == control::Direction::kForward;
  pg::Connection receiving(forward ? config.target.conninfo : config.source.conninfo,
                           forward ? config.target.name : config.source.name, pg::Mode::kNormal,
                           "serve");
  boost::json::array items;
  int64_t open = 0;
  if (control::schema_exists(receiving)) {
    pg::Result rows = receiving.exec(
        "SELECT schema_name, table_name, key_json::text, kind, coalesce(source_lsn::text, ''), "
        "       first_seen::text, last_seen::text, count(*) OVER () "
        "FROM switchyard.mismatches WHERE stream = $1 AND resolved_at IS NULL "
        "ORDER BY first_seen, schema_name, table_name LIMIT $2",
        {config.name, std::to_string(limit)});
    for (int row = 0; row < rows.rows(); ++row) {
      open = rows.int64(row, 7);
      boost::json::object item{{"table", rows.str(row, 0) + "." + rows.str(row, 1)},
                               {"key", boost::json::parse(rows.str(row, 2))},
                               {"kind", rows.str(row, 3)},
                               {"first_seen", rows.str(row, 5)},
                               {"last_seen", rows.str(row, 6)}};
      item["source_position"] = rows.str(row, 4).empty() ? boost::json::value(nullptr)
                                                         : boost::json::value(rows.str(row, 4));
      items.push_back(std::move(item));
    }
  }
  return boost::json::object{{"open", open}, {"mismatches", std::move(items)}};
}

// GET /api/v1/runs/{id}: what this process knows of the run, and for a
// cutover or failback its journal (which outlives the process).
Answer run_answer(const Config& config, const Operations& operations, const std::string& id) {
  std::optional<boost::json::object> known = operations.find(id);
  std::optional<cutover::RunReport> journal;
  if (!id.empty() && id.find_first_not_of("0123456789") == std::string::npos && id.size() < 18) {
    pg::Connection home(config.target.conninfo, config.target.name, pg::Mode::kNormal, "serve");
    journal = cutover::find_run(home, config.name, std::stoll(id));
  }
  if (!known && !journal) return {404, boost::json::object{{"error", "no run " + id}}};
  boost::json::object out = known ? *known : boost::json::object{{"run_id", id}};
  if (journal) {
    out["kind"] = journal->operation;
    out["journal"] = to_json(*journal);
    if (!known) {
      out["state"] = journal->state;
      out["requested_by"] = journal->requested_by;
    }
  }
  return {200, std::move(out)};
}

// One second's figures for the page's plots (/api/v1/events): only what
// the process has in memory, never a database query.
boost::json::object sample_json(const std::vector<const Job*>& jobs, const Operations& operations) {
  metrics::StreamMetrics& stream = metrics::stream();
  boost::json::object jobs_state;
  for (const Job* job : jobs) jobs_state[job->name()] = to_string(job->state());
  const auto run = operations.current();
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return boost::json::object{
      {"time", std::chrono::duration<double>(now).count()},
      {"phase", metrics::to_string(metrics::stream_phase())},
      {"direction", metrics::stream_direction()},
      {"jobs", std::move(jobs_state)},
      {"run", run ? boost::json::value(*run) : nullptr},
      {"lag_seconds", stream.lag_seconds.Value()},
      {"lag_bytes", stream.lag_bytes.Value()},
      {"transactions_applied", stream.transactions_applied.Value()},
      {"changes_applied", stream.inserts.Value() + stream.updates.Value() + stream.deletes.Value()},
      {"verify_rows_compared", metrics::verify().rows_compared.Value()},
      {"mismatches_open", metrics::verify().mismatches_open.Value()},
  };
}

// A client's events: "state" first and whenever the stream's phase or
// direction, a job or the run changes; "sample" every second.
std::function<std::string()> event_poller(std::function<boost::json::object()> sample) {
  return [sample = std::move(sample), last_state = std::string()]() mutable {
    boost::json::object now = sample();
    boost::json::object state{{"phase", now["phase"]},
                              {"direction", now["direction"]},
                              {"jobs", now["jobs"]},
                              {"run", now["run"]}};
    std::string out;
    std::string state_text = boost::json::serialize(state);
    if (state_text != last_state) {
      out += "event: state\ndata: " + state_text + "\n\n";
      last_state = std::move(state_text);
    }
    out += "event: sample\ndata: " + boost::json::serialize(now) + "\n\n";
    return out;
  };
}

std::optional<std::chrono::milliseconds> freeze_budget_of(const Request& request) {
  const auto text = query_parameter(request, "freeze_budget");
  if (!text) return std::nullopt;
  const auto budget = parse_duration(*text);
  if (!budget || budget->count() <= 0) {
    throw Error(ErrorKind::kUsage,
                "freeze_budget: '" + *text + "' is not a positive duration (e.g. 800ms, 2s)");
  }
  return budget;
}

// The databases' side of /api/v1/status, read at most once every two
// seconds whoever asks: what it costs the servers (sessions, catalog and
// control-schema queries) does not grow with the number of pages open.
class StatusCache {
 public:
  explicit StatusCache(const Config& config) : config_(config), sessions_(config) {}

  boost::json::object get() {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (!read_at_ || now - *read_at_ >= kMaxAge) {
      try {
        report_ = to_json(collect_report(config_, sessions_));
      } catch (const Error&) {
        // A kept session that broke since the last read (a server
        // restarted, the session terminated) is opened again, once.
        if (!sessions_.broken()) throw;
        report_ = to_json(collect_report(config_, sessions_));
      }
      read_at_ = now;
    }
    return report_;
  }

 private:
  static constexpr auto kMaxAge = std::chrono::seconds(2);
  const Config& config_;
  StatusSessions sessions_;  // kept open: a read costs its queries, not new backends
  std::mutex mutex_;
  std::optional<std::chrono::steady_clock::time_point> read_at_;
  boost::json::object report_;
};

}  // namespace

void run_serve(const Config& config) {
  StatusCache status_cache(config);
  const Access access(config);  // a bad tokens file is refused before anything starts
  std::unique_ptr<Job> stream, verify, settle, probe;
  std::unique_ptr<Operations> operations;
  auto jobs = [&] { return std::vector<const Job*>{stream.get(), verify.get()}; };
  std::vector<Route> routes;
  // `answer` behind the access check; `answer_as` is also told who asked.
  auto guarded = [&](Access::Need need, std::function<Response(const Request&)> answer) {
    return [&access, need, answer](const Request& request) {
      auto who = access.check(request, need);
      if (auto* refusal = std::get_if<Response>(&who)) return std::move(*refusal);
      return answer(request);
    };
  };
  auto mutation = [&](std::function<Answer(const Request&, const std::string&)> answer) {
    return [&access, answer](const Request& request) {
      auto who = access.check(request, Access::Need::kMutate);
      if (auto* refusal = std::get_if<Response>(&who)) return std::move(*refusal);
      return json_answer(request, answer(request, std::get<std::string>(who)));
    };
  };
  const auto kRead = Access::Need::kRead;
  routes.push_back({http::verb::get, "/healthz", "healthz", [](const Request& request) {
                      return respond(request, http::status::ok, "ok\n", kText);
                    }});
  routes.push_back(
      {http::verb::get, "/readyz", "readyz",
       guarded(kRead,
               [&](const Request& request) {
                 boost::json::object checks;
                 checks["source"] = reach(config, true);
                 checks["target"] = reach(config, false);
                 checks["stream"] = to_string(stream->state());
                 const auto phase = metrics::stream_phase();
                 checks["stream_phase"] = metrics::to_string(phase);
                 const bool ready = checks["source"] == "ok" && checks["target"] == "ok" &&
                                    stream->state() == Job::State::kRunning &&
                                    phase == metrics::StreamPhase::kStreaming;
                 boost::json::object out{{"ready", ready}, {"checks", checks}};
                 return respond(request,
                                ready ? http::status::ok : http::status::service_unavailable,
                                boost::json::serialize(out) + "\n", kJson);
               }),
       true});
  routes.push_back(
      {http::verb::get, "/metrics", "metrics", guarded(kRead, [](const Request& request) {
         return respond(request, http::status::ok, metrics::exposition(),
                        "text/plain; version=0.0.4; charset=utf-8");
       })});
  routes.push_back({http::verb::get, "/api/v1/status", "status",
                    guarded(kRead,
                            [&](const Request& request) {
                              boost::json::object out = status_cache.get();
                              out["jobs"] = jobs_json(jobs());
                              const auto running = operations->current();
                              out["run"] = running ? boost::json::value(*running) : nullptr;
                              return respond(request, http::status::ok,
                                             boost::json::serialize(out) + "\n", kJson);
                            }),
                    true});
  // Who answers here, from memory: how the CLI finds the service of its
  // stream (service/client.h).
  const std::string started_at =
      fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(std::time(nullptr)));
  routes.push_back(
      {http::verb::get, "/api/v1/service", "service", guarded(kRead, [&](const Request& request) {
         boost::json::object out{{"stream", config.name},
                                 {"version", kVersion},
                                 {"pid", static_cast<int64_t>(getpid())},
                                 {"started_at", started_at},
                                 {"jobs", jobs_json(jobs())}};
         const auto running = operations->current();
         out["run"] = running ? boost::json::value(*running) : nullptr;
         return respond(request, http::status::ok, boost::json::serialize(out) + "\n", kJson);
       })});
  routes.push_back({http::verb::get, "/api/v1/mismatches", "mismatches",
                    guarded(kRead,
                            [&](const Request& request) {
                              int64_t limit = 100;
                              if (auto text = query_parameter(request, "limit")) {
                                try {
                                  limit = std::stoll(*text);
                                } catch (const std::exception&) {
                                  limit = 0;
                                }
                                if (limit < 1 || limit > 10000) {
                                  throw Error(ErrorKind::kUsage,
                                              "limit: '" + *text + "' is not between 1 and 10000");
                                }
                              }
                              return respond(
                                  request, http::status::ok,
                                  boost::json::serialize(mismatches_json(config, limit)) + "\n",
                                  kJson);
                            }),
                    true});
  routes.push_back({http::verb::get, "/api/v1/runs/", "runs",
                    guarded(kRead,
                            [&](const Request& request) {
                              const std::string id(path_of(request).substr(13));
                              return json_answer(request, run_answer(config, *operations, id));
                            }),
                    true, true});
  Route events{http::verb::get, "/api/v1/events", "events",
               guarded(kRead, [](const Request& request) {
                 return respond(request, http::status::ok, "", "text/event-stream");
               })};
  events.events = [&] { return event_poller([&] { return sample_json(jobs(), *operations); }); };
  routes.push_back(std::move(events));
  // The dashboard: the page and its scripts, compiled in.
  auto asset = [&](const char* path, std::string_view body, std::string_view type) {
    routes.push_back(
        {http::verb::get, path, "dashboard", guarded(kRead, [body, type](const Request& request) {
           return respond(request, http::status::ok, std::string(body), type);
         })});
  };
  asset("/", assets::kIndexHtml, "text/html; charset=utf-8");
  asset("/assets/dashboard.js", assets::kDashboardJs, "text/javascript; charset=utf-8");
  asset("/assets/uPlot.iife.min.js", assets::kUPlotJs, "text/javascript; charset=utf-8");
  asset("/assets/uPlot.min.css", assets::kUPlotCss, "text/css; charset=utf-8");
  asset("/assets/uPlot.LICENSE", assets::kUPlotLicense, "text/plain; charset=utf-8");
  for (const auto operation : {cutover::Operation::kCutover, cutover::Operation::kFailback}) {
    const std::string name = cutover::to_string(operation);
    routes.push_back({http::verb::post, "/api/v1/" + name, name,
                      mutation([&, operation](const Request& request, const std::string& who) {
                        return operations->start_switch(operation, flag(request, "dry_run"),
                                                        freeze_budget_of(request), who);
                      }),
                      true});
  }
  routes.push_back({http::verb::post, "/api/v1/verify", "verify",
                    mutation([&](const Request& request, const std::string& who) {
                      return operations->start_verify(flag(request, "dirty_only")
                                                          ? verify::Mode::kDirtyOnly
                                                          : verify::Mode::kOnce,
                                                      query_parameter(request, "table"), who);
                    }),
                    true});
  routes.push_back({http::verb::post, "/api/v1/repair", "repair",
                    mutation([&](const Request& request, const std::string& who) {
                      return operations->start_verify(verify::Mode::kRepair,
                                                      query_parameter(request, "table"), who);
                    }),
                    true});
  // Listening first: an address in use is refused before anything starts.
  HttpServer server(config.service.host, config.service.port, std::move(routes),
                    {config.service.tls_cert, config.service.tls_key});
  operations = std::make_unique<Operations>(config);
  metrics::set_stream_phase(metrics::StreamPhase::kStopped);
  stream = std::make_unique<Job>("stream", [&] { run_replicate(config); });
  verify = std::make_unique<Job>("verify", [&] { verify_when_streaming(config); });
  // Whether each database answers, for switchyard_endpoint_up.
  probe = std::make_unique<Job>("probe", [&] {
    do {
      metrics::endpoint_up("source", reach(config, true) == "ok");
      metrics::endpoint_up("target", reach(config, false) == "ok");
    } while (sleep_unless_stopped(std::chrono::seconds(5)));
  });
  // A cutover or failback that a killed serve (or CLI) left half-done is
  // settled as the CLI would, with the stream running (a run past the point
  // of no return waits for it to follow).
  settle = std::make_unique<Job>("settle", [&] { cutover::settle_interrupted(config); });
  spdlog::info("serve: listening on {}://{} (stream {}: {} -> {}; {} API tokens)",
               config.service.tls_cert.empty() ? "http" : "https", server.address(), config.name,
               config.source.name, config.target.name, access.tokens());
  // systemd (Type=notify): ready once the API listens; the stream's own
  // readiness is /readyz. Without systemd, a no-op.
  sd_notifyf(0, "READY=1\nSTATUS=listening on %s", server.address().c_str());
  server.serve();
  sd_notify(0, "STOPPING=1");
  spdlog::info("serve: stopping");
  // Every job at once (a signal has stopped them already; a stop from
  // within, not), then each waited for: a run under way first.
  for (Job* job : {stream.get(), verify.get(), settle.get(), probe.get()}) job->stop();
  operations.reset();
  settle.reset();
  probe.reset();
  verify.reset();
  stream.reset();
}

}  // namespace switchyard::service
