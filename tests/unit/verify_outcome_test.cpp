// What verify tells a person and a script at the end: the one-line summary,
// the exit code and the JSON of a pass or a repair.
#include <catch2/catch.hpp>

#include "verify/run_verify.h"

using switchyard::ExitCode;
using switchyard::verify::Finding;
using switchyard::verify::Mode;
using switchyard::verify::Outcome;
using switchyard::verify::RepairReport;
using switchyard::verify::TableReport;

namespace {

TableReport table(const std::string& name, uint64_t rows, size_t mismatches = 0,
                  size_t in_flight = 0) {
  TableReport report;
  report.table = name;
  report.source_rows = rows;
  report.target_rows = rows;
  report.mismatches.resize(mismatches, Finding{name, {}, {}, {}, {}});
  report.in_flight.resize(in_flight, Finding{name, {}, {}, {}, {}});
  return report;
}

Outcome pass(std::vector<TableReport> tables) {
  Outcome outcome;
  outcome.mode = Mode::kOnce;
  outcome.stream = "switchyard";
  outcome.tables = std::move(tables);
  outcome.seconds = 2.5;
  return outcome;
}

Outcome repair(std::vector<RepairReport> repairs) {
  Outcome outcome;
  outcome.mode = Mode::kRepair;
  outcome.stream = "switchyard";
  outcome.repairs = std::move(repairs);
  outcome.seconds = 0.2;
  return outcome;
}

}  // namespace

TEST_CASE("A clean pass sums up as parity with what it compared", "[verify-outcome]") {
  const Outcome outcome = pass({table("public.a", 1000), table("public.b", 24)});
  CHECK(outcome.exit_code() == ExitCode::kOk);
  CHECK(outcome.summary().rfind("parity: 2 tables, 1024 rows compared in ", 0) == 0);
  CHECK(outcome.to_json().at("rows_compared").as_uint64() == 1024);
}

TEST_CASE("Mismatches are counted per row and table and point at repair", "[verify-outcome]") {
  const Outcome outcome = pass({table("public.a", 1000, 2), table("public.b", 24, 0, 1)});
  CHECK(outcome.exit_code() == ExitCode::kMismatch);
  const std::string line = outcome.summary();
  CHECK(line.rfind("mismatch: 2 rows differ in 1 table (", 0) == 0);
  CHECK(line.find("verify --repair") != std::string::npos);
}

TEST_CASE("Rows still changing make a pass inconclusive, not a mismatch", "[verify-outcome]") {
  const Outcome outcome = pass({table("public.a", 1000, 0, 3)});
  CHECK(outcome.exit_code() == ExitCode::kInconclusive);
  CHECK(outcome.summary().rfind("inconclusive: 3 rows not settled", 0) == 0);
}

TEST_CASE("A repair with nothing to do says so and compares no rows", "[verify-outcome]") {
  const Outcome outcome = repair({RepairReport{"large objects", 0, 0, 0}});
  CHECK(outcome.exit_code() == ExitCode::kOk);
  CHECK(outcome.summary() == "repair: no open mismatches to repair");
  const auto json = outcome.to_json();
  CHECK_FALSE(json.contains("rows_compared"));
  CHECK(json.at("repaired").as_uint64() == 0);
  CHECK(json.at("status").as_string() == "parity");
}

TEST_CASE("A repair that leaves rows says which and exits inconclusive", "[verify-outcome]") {
  const Outcome outcome =
      repair({RepairReport{"public.a", 5, 1, 0}, RepairReport{"public.log", 0, 0, 2}});
  CHECK(outcome.exit_code() == ExitCode::kInconclusive);
  const std::string line = outcome.summary();
  CHECK(line.rfind("repair: 5 rows repaired in 2 tables", 0) == 0);
  CHECK(line.find("1 kept changing") != std::string::npos);
  CHECK(line.find("2 in tables without a key") != std::string::npos);
  CHECK(outcome.to_json().at("left").as_uint64() == 3);
}
