// The CLI's way to a running `serve` of the same configuration: found at
// service.listen (HTTPS when service.tls_cert is set, trusting that
// certificate), asked over its API. So that `cutover`, `failback` and
// `verify` run in the service when one runs (never a second copy of what
// it runs beside it), and `status` shows its jobs.
#pragma once

#include <boost/json/value.hpp>

#include <memory>
#include <optional>
#include <string>

#include "common/config.h"

namespace switchyard::service {

struct ClientAnswer {
  unsigned status = 0;
  boost::json::value body;  // null when the body is not JSON
};

class Client {
 public:
  // The service of this configuration's stream, if one answers at
  // service.listen (a short connect; nothing listening: nullopt). Throws
  // Error(kPrecondition) when something else answers there.
  static std::optional<Client> find(const Config& config);

  ClientAnswer get(const std::string& target) const;
  // With the bearer token of SWITCHYARD_TOKEN, or the only token of a
  // service.tokens_file this user can read; Error(kUsage) when there is
  // neither.
  ClientAnswer post(const std::string& target) const;

  const std::string& url() const { return url_; }

  // GET /api/v1/runs/{id} until the run is no longer running.
  boost::json::value wait_for_run(const std::string& run_id) const;

 private:
  explicit Client(const Config& config);
  ClientAnswer request(const std::string& method, const std::string& target,
                       const std::string& token) const;

  const Config* config_;
  std::string url_;
};

}  // namespace switchyard::service
