#include "common/error.h"

namespace switchyard {

bool Error::retryable() const {
  if (kind_ == ErrorKind::kConnection) return true;
  if (sqlstate_.size() != 5) return false;
  if (sqlstate_.compare(0, 2, "08") == 0) return true;  // connection exception
  return sqlstate_ == "40001"                           // serialization failure
         || sqlstate_ == "40P01"                        // deadlock detected
         || sqlstate_ == "57P01"                        // admin shutdown
         || sqlstate_ == "57P02"                        // crash shutdown
         || sqlstate_ == "57P03"                        // cannot connect now
         || sqlstate_ == "53300"                        // too many connections
         || sqlstate_ == "55006";  // slot or origin still held by a dying process
}

ErrorKind kind_for_sqlstate(const std::string& sqlstate) {
  if (sqlstate.size() != 5) return ErrorKind::kDatabase;
  if (sqlstate.compare(0, 2, "08") == 0) return ErrorKind::kConnection;
  if (sqlstate == "28P01" || sqlstate == "28000") return ErrorKind::kAuth;
  if (sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03") {
    return ErrorKind::kConnection;
  }
  if (sqlstate == "42501") return ErrorKind::kPrecondition;  // insufficient privilege
  if (sqlstate == "55000") return ErrorKind::kPrecondition;  // object not in prerequisite state
  return ErrorKind::kDatabase;
}

ExitCode exit_code_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kUsage:
      return ExitCode::kUsage;
    case ErrorKind::kConnection:
      return ExitCode::kConnection;
    case ErrorKind::kAuth:
      return ExitCode::kAuth;
    case ErrorKind::kPrecondition:
      return ExitCode::kPrecondition;
    case ErrorKind::kSchemaDrift:
      return ExitCode::kSchemaDrift;
    case ErrorKind::kDatabase:
      return ExitCode::kDatabase;
    case ErrorKind::kTimeout:
      return ExitCode::kTimeout;
    case ErrorKind::kInterrupted:
      return ExitCode::kInterrupted;
    case ErrorKind::kRolledBack:
      return ExitCode::kRolledBack;
    case ErrorKind::kInternal:
      return ExitCode::kInternal;
  }
  return ExitCode::kInternal;
}

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kUsage:
      return "usage";
    case ErrorKind::kConnection:
      return "connection";
    case ErrorKind::kAuth:
      return "authentication";
    case ErrorKind::kPrecondition:
      return "precondition";
    case ErrorKind::kSchemaDrift:
      return "schema drift";
    case ErrorKind::kDatabase:
      return "database";
    case ErrorKind::kTimeout:
      return "timeout";
    case ErrorKind::kInterrupted:
      return "interrupted";
    case ErrorKind::kRolledBack:
      return "rolled back";
    case ErrorKind::kInternal:
      return "internal";
  }
  return "internal";
}

}  // namespace switchyard
