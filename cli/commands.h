// The CLI verbs. Each registers its subcommand on the app and returns the
// function that runs it once the options are parsed; the runner returns the
// process exit code. Errors are thrown as switchyard::Error and turned into
// exit codes by main.cpp only.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "common/config.h"

namespace switchyard::cli {

using Runner = std::function<int(const Config&)>;

struct Command {
  CLI::App* app;
  Runner run;
};

Command add_check(CLI::App& app);
Command add_init(CLI::App& app);
Command add_snapshot(CLI::App& app);
Command add_replicate(CLI::App& app);
Command add_serve(CLI::App& app);
Command add_recopy(CLI::App& app);
Command add_status(CLI::App& app);
Command add_teardown(CLI::App& app);
Command add_verify(CLI::App& app);
Command add_cutover(CLI::App& app);
Command add_failback(CLI::App& app);

}  // namespace switchyard::cli
