// The verify command's work: which pass to run over which tables, the
// continuous loop, and the report (text log lines and the --json object).
// cli/cmd_verify.cpp only parses options and calls run_verify().
#pragma once

#include <boost/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/error.h"
#include "verify/repair.h"
#include "verify/verifier.h"

namespace switchyard::verify {

enum class Mode {
  kContinuous,  // full passes forever, rate-limited, until SIGINT/SIGTERM
  kOnce,        // one full pass
  kDirtyOnly,   // the keys changed since they were last verified
  kRepair,      // re-copy the open mismatches
};

struct Request {
  Mode mode = Mode::kOnce;
  std::optional<std::string> table;  // schema.table
};

struct Outcome {
  Mode mode = Mode::kOnce;
  std::string stream;
  std::vector<TableReport> tables;
  std::vector<RepairReport> repairs;
  double seconds = 0;

  size_t mismatches() const;
  size_t in_flight() const;
  // kOk (parity), kMismatch, or kInconclusive (rows still in flight).
  ExitCode exit_code() const;
  boost::json::object to_json() const;
  // One line for a person: the verdict, what was compared or repaired, and
  // what to do next if anything is left.
  std::string summary() const;
};

Outcome run_verify(const Config& config, const Request& request);

}  // namespace switchyard::verify
