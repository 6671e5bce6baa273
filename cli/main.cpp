// switchyard: move a live database to a cloud PostgreSQL replica, verify
// parity, and cut over with a sub-second write freeze.
#include <cstdio>
#include <vector>

#include "cli/commands.h"
#include "common/error.h"
#include "common/log.h"
#include "common/shutdown.h"
#include "common/version.h"
#include "drivers/pg/sql.h"

namespace {

int fail(switchyard::ExitCode code, const std::string& message) {
  std::fprintf(stderr, "switchyard: error: %s\n", message.c_str());
  return static_cast<int>(code);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace switchyard;
  CLI::App app{"switchyard: live PostgreSQL migration with verified, sub-second cutover"};
  app.set_version_flag("--version", std::string("switchyard ") + kVersion);
  app.require_subcommand(1);
  std::string config_path = "switchyard.yaml";
  app.add_option("-c,--config", config_path, "configuration file")->capture_default_str();

  std::vector<cli::Command> commands{
      cli::add_check(app),     cli::add_init(app),    cli::add_snapshot(app),
      cli::add_replicate(app), cli::add_serve(app),   cli::add_recopy(app),
      cli::add_status(app),    cli::add_verify(app),  cli::add_cutover(app),
      cli::add_failback(app),  cli::add_teardown(app)};
  // Also after the command (`switchyard status -c FILE`), and in its --help.
  for (const auto& command : commands) {
    command.app->add_option("-c,--config", config_path, "configuration file")
        ->capture_default_str();
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail(ExitCode::kUsage, e.what() + std::string(" (see --help)"));
  }

  try {
    Config config = load_config(config_path);
    if (!config.source.odbc()) pg::validate_conninfo(config.source.conninfo, "source.conninfo");
    pg::validate_conninfo(config.target.conninfo, "target.conninfo");
    init_logging(config.log_level);
    install_stop_signals();
    for (const auto& command : commands) {
      if (command.app->parsed()) {
        // An ODBC legacy streams, verifies and reports; moving the
        // application onto the target (and back) is PostgreSQL-only so far.
        const std::string name = command.app->get_name();
        if (config.source.odbc() && (name == "cutover" || name == "failback" || name == "recopy")) {
          return fail(
              ExitCode::kUsage,
              name +
                  " does not support an ODBC source (source.driver: odbc) in this "
                  "release; check, init, snapshot, replicate, verify, status and teardown do");
        }
        const int code = command.run(config);
        if (stop_requested() && code == 0) return static_cast<int>(ExitCode::kOk);
        return code;
      }
    }
    return fail(ExitCode::kUsage, "no command given (see --help)");
  } catch (const Error& error) {
    if (!error.query().empty()) spdlog::debug("the failing statement: {}", error.query());
    return fail(exit_code_for(error.kind()), error.what());
  } catch (const std::exception& error) {
    return fail(ExitCode::kInternal, std::string("internal error: ") + error.what());
  }
}
