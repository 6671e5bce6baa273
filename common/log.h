// Logging: one spdlog logger writing to stderr. Messages are single lines;
// connection strings are redacted before they get here (see drivers/pg).
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace switchyard {

// level: debug | info | warning | error.
void init_logging(const std::string& level);

}  // namespace switchyard
