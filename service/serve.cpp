#include "service/serve.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <chrono>
#include <memory>
#include <vector>

#include "common/backoff.h"
#include "common/metrics.h"
#include "common/shutdown.h"
#include "control/control_schema.h"
#include "drivers/pg/connection.h"
#include "replicator/legacy_source.h"
#include "replicator/replicate.h"
#include "service/http_server.h"
#include "service/job.h"
#include "service/status_report.h"
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

}  // namespace

void run_serve(const Config& config) {
  std::unique_ptr<Job> stream, verify;
  auto jobs = [&] { return std::vector<const Job*>{stream.get(), verify.get()}; };
  std::vector<Route> routes;
  routes.push_back({http::verb::get, "/healthz", "healthz", [](const Request& request) {
                      return respond(request, http::status::ok, "ok\n", kText);
                    }});
  routes.push_back({http::verb::get, "/readyz", "readyz",
                    [&](const Request& request) {
                      boost::json::object checks;
                      checks["source"] = reach(config, true);
                      checks["target"] = reach(config, false);
                      checks["stream"] = to_string(stream->state());
                      const bool ready = checks["source"] == "ok" && checks["target"] == "ok" &&
                                         stream->state() == Job::State::kRunning;
                      boost::json::object out{{"ready", ready}, {"checks", checks}};
                      return respond(request,
                                     ready ? http::status::ok : http::status::service_unavailable,
                                     boost::json::serialize(out) + "\n", kJson);
                    },
                    true});
  routes.push_back({http::verb::get, "/metrics", "metrics", [](const Request& request) {
                      return respond(request, http::status::ok, metrics::exposition(),
                                     "text/plain; version=0.0.4; charset=utf-8");
                    }});
  routes.push_back({http::verb::get, "/api/v1/status", "status",
                    [&](const Request& request) {
                      boost::json::object out = to_json(collect_report(config));
                      out["jobs"] = jobs_json(jobs());
                      return respond(request, http::status::ok, boost::json::serialize(out) + "\n",
                                     kJson);
                    },
                    true});
  // Listening first: an address in use is refused before anything starts.
  HttpServer server(config.service.host, config.service.port, std::move(routes));
  stream = std::make_unique<Job>("stream", [&] { run_replicate(config); });
  verify = std::make_unique<Job>("verify", [&] { verify_when_streaming(config); });
  spdlog::info("serve: listening on http://{} (stream {}: {} -> {})", server.address(), config.name,
               config.source.name, config.target.name);
  server.serve();
  spdlog::info("serve: stopping");
  verify.reset();
  stream.reset();
}

}  // namespace switchyard::service
