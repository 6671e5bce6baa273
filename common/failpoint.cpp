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
  if (armed.empty() || armed != name) return;
  spdlog::warn("failpoint {}: killing this process (SIGKILL)", name);
  spdlog::default_logger()->flush();
  std::raise(SIGKILL);
}

}  // namespace switchyard
