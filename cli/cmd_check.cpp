#include <boost/json.hpp>

#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "common/error.h"
#include "common/units.h"
#include "drivers/pg/sql.h"
#include "replicator/requirements.h"
#include "replicator/source_engine.h"

namespace switchyard::cli {
namespace {

const char* stage_name(NeededBy needed_by) {
  return needed_by == NeededBy::kStream ? "stream" : "cutover";
}

void print_text(const Config& config, const std::vector<Requirement>& all) {
  std::string side;
  for (const auto& requirement : all) {
    if (requirement.side != side) {
      side = requirement.side;
      const bool source = side == config.source.name;
      const std::string where =
          source && config.source.odbc()
              ? std::string("ODBC")
              : pg::describe_conninfo(source ? config.source.conninfo : config.target.conninfo);
      std::printf("%s%s (%s)\n", source ? "" : "\n", side.c_str(), where.c_str());
    }
    if (requirement.met) {
      std::printf("  ok       %-8s %s\n", stage_name(requirement.needed_by),
                  requirement.what.c_str());
    } else {
      std::printf("  MISSING  %-8s %s: %s\n", stage_name(requirement.needed_by),
                  requirement.what.c_str(), requirement.problem.c_str());
      std::printf("                    fix: %s\n", requirement.fix.c_str());
    }
  }
}

boost::json::value to_json(const std::vector<Requirement>& all) {
  boost::json::array items;
  for (const auto& requirement : all) {
    boost::json::object item;
    item["side"] = requirement.side;
    item["needed_by"] = stage_name(requirement.needed_by);
    item["what"] = requirement.what;
    item["met"] = requirement.met;
    if (!requirement.met) {
      item["problem"] = requirement.problem;
      item["fix"] = requirement.fix;
    }
    items.push_back(std::move(item));
  }
  return boost::json::object{{"requirements", std::move(items)}};
}

}  // namespace

Command add_check(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "check",
      "Check every setting and right the migration needs on both servers - the forward "
      "stream, verify, cutover, the reverse stream and failback - and print each missing one "
      "with the statement that provides it. Changes nothing. Exit 0 when all are met, 5 when "
      "not.");
  auto json = std::make_shared<bool>(false);
  sub->add_flag("--json", *json, "print the requirements as JSON");
  return {sub, [json](const Config& config) {
            std::vector<Requirement> all;
            size_t table_count = 0;
            all = SourceEngine::of(config)->requirements(table_count);
            const auto missing = unmet(all, NeededBy::kCutover);
            const auto for_stream = unmet(all, NeededBy::kStream);
            if (*json) {
              std::cout << boost::json::serialize(to_json(all)) << '\n';
              return missing.empty() ? 0 : static_cast<int>(ExitCode::kPrecondition);
            }
            print_text(config, all);
            std::printf(
                "\ncheck: %s for %s, %zu missing (%zu for the stream, %zu for the cutover and "
                "failback)\n",
                counted(all.size(), "requirement").c_str(), counted(table_count, "table").c_str(),
                missing.size(), for_stream.size(), missing.size() - for_stream.size());
            std::fflush(stdout);
            if (!missing.empty()) {
              throw Error(ErrorKind::kPrecondition,
                          std::to_string(missing.size()) +
                              " requirements are missing (listed above with their fixes); "
                              "nothing was changed");
            }
            return 0;
          }};
}

}  // namespace switchyard::cli
