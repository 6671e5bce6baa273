#include "common/failpoint.h"

#include <csignal>
#include <cstdlib>
#include <string>

#include "common/log.h"

namespace switchyard {

void failpoint(std::string_view name) {
  static const std::string armed = [] {
    const char* value = std::getenv("SWITCHYARD_FAILPOINT");
    return std::string(value ? value : "");
  }();
  if (armed.empty() || !armed.starts_with(name)) return;
  const std::string_view action = std::string_view(armed).substr(name.size());
  if (action.empty()) {
    spdlog::warn("failpoint {}: killing this process (SIGKILL)", name);
    spdlog::default_logger()->flush();
    std::raise(SIGKILL);
  } else if (action == "=stop") {
    spdlog::warn("failpoint {}: stopping this process until SIGCONT", name);
    spdlog::default_logger()->flush();
    std::raise(SIGSTOP);
  }
}

}  // namespace switchyard
