// One error type crosses every component boundary in switchyard.
//
// An Error carries what kind of failure it is (which decides the process
// exit code and whether a retry can help), the SQLSTATE when a database
// reported it, and the query or object it concerns. Errors are thrown only
// for failures that end the operation; expected outcomes (a mismatch, a
// retry) are values. The message is one line, fit for a DBA's terminal.
#pragma once

#include <stdexcept>
#include <string>

namespace switchyard {

enum class ErrorKind {
  kUsage,         // bad command line or configuration file
  kConnection,    // cannot reach a server, or the connection broke
  kAuth,          // the server refused our credentials
  kPrecondition,  // a database is not fit for the job (wal_level, rights, identity)
  kSchemaDrift,   // source and target table definitions disagree
  kDatabase,      // any other error reported by a server
  kTimeout,       // a bounded wait ran out (a step of a write freeze)
  kInterrupted,   // a stop signal ended work that cannot stop half-way and resume
  kRolledBack,    // a cutover/failback failed inside its freeze and was rolled back
  kInternal,      // a bug in switchyard
};

// Process exit codes, documented in README.md. 1 means "verify found
// mismatches"; 8 "verify could not settle every row".
enum class ExitCode : int {
  kOk = 0,
  kMismatch = 1,
  kUsage = 2,
  kConnection = 3,
  kAuth = 4,
  kPrecondition = 5,
  kSchemaDrift = 6,
  kDatabase = 7,
  kInconclusive = 8,  // verify: no mismatch, but some rows kept changing
  kRolledBack = 9,    // cutover/failback: a step failed inside the freeze; rolled back
  kTimeout = 10,      // a bounded wait ran out outside a freeze
  kInternal = 70,
  kInterrupted = 130,
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message, std::string sqlstate = {}, std::string query = {})
      : std::runtime_error(std::move(message)),
        kind_(kind),
        sqlstate_(std::move(sqlstate)),
        query_(std::move(query)) {}

  ErrorKind kind() const { return kind_; }
  const std::string& sqlstate() const { return sqlstate_; }
  const std::string& query() const { return query_; }

  // True when reconnecting and trying again can succeed: a broken
  // connection, a server shutting down, a serialization failure.
  bool retryable() const;

 private:
  ErrorKind kind_;
  std::string sqlstate_;
  std::string query_;
};

ExitCode exit_code_for(ErrorKind kind);
const char* to_string(ErrorKind kind);

// Maps a five-character SQLSTATE (libpq and ODBC share them) to a kind.
ErrorKind kind_for_sqlstate(const std::string& sqlstate);

}  // namespace switchyard
