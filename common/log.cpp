#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace switchyard {

void init_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("switchyard");
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  if (level == "debug") logger->set_level(spdlog::level::debug);
  else if (level == "warning") logger->set_level(spdlog::level::warn);
  else if (level == "error") logger->set_level(spdlog::level::err);
  else logger->set_level(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace switchyard
