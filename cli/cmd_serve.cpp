#include <cstdio>

#include "cli/commands.h"
#include "service/serve.h"

namespace switchyard::cli {

Command add_serve(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "serve",
      "Run the stream and continuous verify in one process with an HTTP API (/healthz, "
      "/readyz, /metrics, /api/v1/status) on service.listen, until SIGINT/SIGTERM.");
  return {sub, [](const Config& config) {
            service::run_serve(config);
            std::printf("serve: stopped cleanly\n");
            return 0;
          }};
}

}  // namespace switchyard::cli
