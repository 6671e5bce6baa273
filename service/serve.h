// `switchyard serve`: the stream and continuous verify as jobs of one
// process, and an HTTP server over them, until SIGTERM or SIGINT.
//
//   GET /healthz        the process is alive (touches no database)
//   GET /readyz         both databases reachable and the stream running (503 if not)
//   GET /metrics        Prometheus text format (common/metrics.h)
//   GET /api/v1/status  what `status --json` prints, and the jobs' states
//
// The stream turns round after a cutover as `replicate` does; verify starts
// once the stream has finished its copy.
#pragma once

#include "common/config.h"

namespace switchyard::service {

void run_serve(const Config& config);

}  // namespace switchyard::service
