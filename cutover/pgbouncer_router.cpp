#include "cutover/pgbouncer_router.h"

#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/log.h"
#include "drivers/pg/sql.h"

namespace switchyard::cutover {
namespace {

// The entry applications reach a primary by: where the server is and which
// database, never a user or password (pgbouncer would force them on every
// client).
std::string derived_entry(const std::string& conninfo) {
  return pg::conninfo_subset(conninfo, {"host", "hostaddr", "port", "dbname"});
}

// "host=a port=1 dbname=b" in any order and spacing, for comparison with
// what SHOW DATABASES reports.
bool entry_matches(const std::string& entry, const std::string& host, const std::string& port,
                   const std::string& database) {
  std::istringstream words(entry);
  std::string word;
  bool host_ok = false, port_ok = port.empty() || port == "5432", database_ok = false;
  while (words >> word) {
    const auto eq = word.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = word.substr(0, eq), value = word.substr(eq + 1);
    if (key == "host" || key == "hostaddr") host_ok = host_ok || value == host;
    if (key == "port") port_ok = value == port;
    if (key == "dbname") database_ok = value == database;
  }
  return host_ok && port_ok && database_ok;
}

}  // namespace

PgbouncerRouter::PgbouncerRouter(const Config& config)
    : settings_(config.router),
      source_entry_(config.router.source_entry.empty() ? derived_entry(config.source.conninfo)
                                                       : config.router.source_entry),
      target_entry_(config.router.target_entry.empty() ? derived_entry(config.target.conninfo)
                                                       : config.router.target_entry) {
  // Each entry becomes one line of pgbouncer's file: one line, no quoting
  // needed, and nothing a conninfo could not parse.
  for (const auto* entry : {&source_entry_, &target_entry_}) {
    if (entry->empty() || entry->find_first_of("\n\r'\"") != std::string::npos ||
        *entry == "(invalid conninfo)") {
      throw Error(ErrorKind::kUsage, "router: cannot use '" + *entry +
                                         "' as a pgbouncer database entry; set "
                                         "router.source_entry / router.target_entry");
    }
  }
  if (settings_.database.empty()) throw Error(ErrorKind::kUsage, "router.database is empty");
  // The admin console takes the name bare (PAUSE app): allow only names it
  // parses as one word.
  for (char c : settings_.database) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') {
      throw Error(ErrorKind::kUsage, "router.database: '" + settings_.database +
                                         "' is not a plain pgbouncer database name");
    }
  }
}

PgbouncerRouter::~PgbouncerRouter() = default;

std::string PgbouncerRouter::describe() const {
  return "pgbouncer database " + settings_.database + " (" +
         pg::describe_conninfo(settings_.admin_conninfo) + ", entries in " +
         settings_.databases_file + ")";
}

std::string PgbouncerRouter::entry_for(Primary primary) const {
  return primary == Primary::kSource ? source_entry_ : target_entry_;
}

std::string PgbouncerRouter::file_text(Primary primary) const {
  return "; written by switchyard: the primary is the " + std::string(to_string(primary)) + "\n" +
         settings_.database + " = " + entry_for(primary) + "\n";
}

pg::Connection& PgbouncerRouter::admin() {
  if (!admin_ || !admin_->ok()) {
    admin_ =
        std::make_unique<pg::Connection>(settings_.admin_conninfo, "pgbouncer", pg::Mode::kPooler);
  }
  return *admin_;
}

void PgbouncerRouter::check(Primary expected) {
  pg::Result databases;
  try {
    databases = admin().exec("SHOW DATABASES");
  } catch (const Error& error) {
    throw Error(ErrorKind::kPrecondition,
                std::string("router unreachable: ") + error.what() + " (router.admin_conninfo)");
  }
  // Columns: name, host, port, database, ...
  int row = -1;
  for (int row_idx = 0; row_idx < databases.rows(); ++row_idx) {
    if (databases.get(row_idx, 0) == settings_.database) row = row_idx;
  }
  if (row < 0) {
    throw Error(ErrorKind::kPrecondition,
                "pgbouncer: no database entry '" + settings_.database + "' (router.database); is " +
                    settings_.databases_file + " %include-d by pgbouncer.ini?");
  }
  const std::string host = databases.str(row, 1), port = databases.str(row, 2),
                    database = databases.str(row, 3);
  if (!entry_matches(entry_for(expected), host, port, database)) {
    throw Error(ErrorKind::kPrecondition,
                "pgbouncer: database " + settings_.database + " points at host=" + host +
                    " port=" + port + " dbname=" + database + ", not at the " +
                    to_string(expected) + " (" + entry_for(expected) +
                    "); set router.source_entry / target_entry if the route differs");
  }
  const auto directory = std::filesystem::path(settings_.databases_file).parent_path();
  if (::access(settings_.databases_file.c_str(), W_OK) != 0 ||
      ::access(directory.empty() ? "." : directory.c_str(), W_OK) != 0) {
    throw Error(ErrorKind::kPrecondition, "router.databases_file: " + settings_.databases_file +
                                              " (or its directory) is not writable by switchyard");
  }
}

void PgbouncerRouter::freeze(Clock::time_point deadline) {
  try {
    admin().exec_until("PAUSE " + settings_.database, deadline);
  } catch (const Error& error) {
    // PAUSE may still be pending (a transaction holds a server): whatever
    // happened, leave pgbouncer resumed.
    admin_.reset();
    try {
      resume(Clock::now() + std::chrono::seconds(2));
    } catch (const Error& resume_error) {
      spdlog::error("{}", resume_error.what());
    }
    if (error.kind() == ErrorKind::kTimeout) {
      throw Error(ErrorKind::kTimeout,
                  "pgbouncer: PAUSE " + settings_.database +
                      " did not complete in time: a transaction kept its server connection; "
                      "resumed");
    }
    throw;
  }
}

void PgbouncerRouter::switch_to(Primary primary, Clock::time_point deadline) {
  // Write beside the file and rename over it: pgbouncer reads all or nothing.
  const std::string temporary = settings_.databases_file + ".switchyard-new";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << file_text(primary);
    out.flush();
    if (!out) {
      throw Error(ErrorKind::kPrecondition, "router.databases_file: cannot write " + temporary);
    }
  }
  std::error_code failure;
  std::filesystem::rename(temporary, settings_.databases_file, failure);
  if (failure) {
    throw Error(ErrorKind::kPrecondition, "router.databases_file: cannot replace " +
                                              settings_.databases_file + ": " + failure.message());
  }
  admin().exec_until("RELOAD", deadline);
  spdlog::info("pgbouncer: database {} now points at the {} ({})", settings_.database,
               to_string(primary), entry_for(primary));
}

void PgbouncerRouter::resume(Clock::time_point deadline) {
  try {
    admin().exec_until("RESUME " + settings_.database, deadline);
  } catch (const Error& error) {
    // Not paused: nothing to do (recovery resumes whatever state it finds).
    const std::string message = error.what();
    if (message.find("not paused") == std::string::npos &&
        message.find("not suspended") == std::string::npos) {
      throw;
    }
  }
}

}  // namespace switchyard::cutover
