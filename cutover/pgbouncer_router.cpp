#include "cutover/pgbouncer_router.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

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

// One row of SHOW DATABASES, as far as routing goes.
struct Listed {
  std::string name, host, port, database;
  std::string route() const { return "host=" + host + " port=" + port + " dbname=" + database; }
};

std::vector<Listed> show_databases(pg::Connection& admin, Clock::time_point deadline) {
  pg::Result result = admin.exec_until("SHOW DATABASES", deadline);
  std::vector<Listed> rows;
  for (int row = 0; row < result.rows(); ++row) {
    // Columns: name, host, port, database, ...
    rows.push_back(
        {result.str(row, 0), result.str(row, 1), result.str(row, 2), result.str(row, 3)});
  }
  return rows;
}

const Listed* find_listed(const std::vector<Listed>& rows, const std::string& name) {
  for (const auto& row : rows) {
    if (row.name == name) return &row;
  }
  return nullptr;
}

// What pgbouncer lists, for an error: "app (host=... port=... dbname=...)".
std::string describe_listed(const std::vector<Listed>& rows) {
  std::string out;
  int shown = 0;
  for (const auto& row : rows) {
    if (row.name == "pgbouncer") continue;
    if (++shown > 5) {
      out += ", ...";
      break;
    }
    out += (out.empty() ? "" : ", ") + row.name + " (" + row.route() + ")";
  }
  return out.empty() ? "no database" : out;
}

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
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
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  std::vector<Listed> databases;
  try {
    databases = show_databases(admin(), deadline);
  } catch (const Error& error) {
    throw Error(ErrorKind::kPrecondition,
                std::string("router unreachable: ") + error.what() + " (router.admin_conninfo)");
  }
  const Listed* entry = find_listed(databases, settings_.database);
  if (!entry) {
    throw Error(ErrorKind::kPrecondition,
                "pgbouncer: no database entry '" + settings_.database + "' (router.database); is " +
                    settings_.databases_file + " %include-d by pgbouncer.ini?");
  }
  if (!entry_matches(entry_for(expected), entry->host, entry->port, entry->database)) {
    throw Error(ErrorKind::kPrecondition,
                "pgbouncer: database " + settings_.database + " points at " + entry->route() +
                    ", not at the " + to_string(expected) + " (" + entry_for(expected) +
                    "); set router.source_entry / target_entry if the route differs");
  }
  const auto directory = std::filesystem::path(settings_.databases_file).parent_path();
  if (::access(settings_.databases_file.c_str(), W_OK) != 0 ||
      ::access(directory.empty() ? "." : directory.c_str(), W_OK) != 0) {
    throw Error(ErrorKind::kPrecondition, "router.databases_file: " + settings_.databases_file +
                                              " (or its directory) is not writable by switchyard");
  }
  probe_reload(expected == Primary::kSource ? Primary::kTarget : Primary::kSource, deadline);
}

// The probe entry carries the next primary's route, so the preflight also
// proves that pgbouncer accepts that entry as written and reports it the
// way the switch's proof will compare it.
void PgbouncerRouter::probe_reload(Primary next, Clock::time_point deadline) {
  const std::optional<std::string> original = read_text(settings_.databases_file);
  if (!original) {
    throw Error(ErrorKind::kPrecondition,
                "router.databases_file: cannot read " + settings_.databases_file);
  }
  const std::string probe = "switchyard_probe_" + std::to_string(::getpid()) + "_" +
                            std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count());
  std::string with_probe = *original;
  if (!with_probe.empty() && with_probe.back() != '\n') with_probe += '\n';
  with_probe += "; switchyard's preflight probe, removed again at once\n" + probe + " = " +
                entry_for(next) + "\n";

  std::string failure;
  std::vector<Listed> listed;
  write_file(with_probe);
  try {
    admin().exec_until("RELOAD", deadline);
    listed = show_databases(admin(), deadline);
  } catch (const Error& error) {
    failure = error.what();
  }
  // Put the file back whatever happened, and have pgbouncer forget the probe.
  write_file(*original);
  try {
    admin().exec_until("RELOAD", deadline);
  } catch (const Error& error) {
    if (failure.empty()) failure = error.what();
  }
  const std::string where = "router.databases_file (" + settings_.databases_file + ")";
  if (!failure.empty()) {
    throw Error(ErrorKind::kPrecondition,
                "pgbouncer: RELOAD to test " + where + " failed: " + failure);
  }
  const Listed* seen = find_listed(listed, probe);
  if (!seen) {
    throw Error(ErrorKind::kPrecondition,
                "pgbouncer does not load " + where + ": after RELOAD, SHOW DATABASES lacks the " +
                    "probe entry " + probe + " switchyard added to it (pgbouncer lists " +
                    describe_listed(listed) +
                    "); pgbouncer.ini must %include this very file, pgbouncer must be able to read "
                    "it and accept every line of its configuration (see its log for \"config file "
                    "loading failed\")");
  }
  if (!entry_matches(entry_for(next), seen->host, seen->port, seen->database)) {
    throw Error(ErrorKind::kPrecondition, "pgbouncer reads the " + std::string(to_string(next)) +
                                              "'s entry (" + entry_for(next) + ") as " +
                                              seen->route() +
                                              ": a switch to it could not be proven; set router." +
                                              to_string(next) + "_entry");
  }
}

void PgbouncerRouter::write_file(const std::string& text) const {
  // Beside the file, then renamed over it: pgbouncer reads all or nothing.
  // With the old file's mode and owner: pgbouncer may run as another user,
  // and a file only switchyard can read would fail its RELOAD.
  const std::string temporary = settings_.databases_file + ".switchyard-new";
  struct stat existing {};
  const bool exists = ::stat(settings_.databases_file.c_str(), &existing) == 0;
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw Error(ErrorKind::kPrecondition,
                "router.databases_file: cannot write " + temporary + ": " + std::strerror(errno));
  }
  bool written = true;
  if (exists) {
    written = ::fchmod(fd, existing.st_mode & 07777) == 0;
    // Only root may give a file away; anyone may keep its group if a member.
    if (::fchown(fd, existing.st_uid, existing.st_gid) != 0 &&
        ::fchown(fd, static_cast<uid_t>(-1), existing.st_gid) != 0) {
      spdlog::debug("router.databases_file: {} keeps switchyard's owner", temporary);
    }
  }
  for (size_t done = 0; written && done < text.size();) {
    const ssize_t wrote = ::write(fd, text.data() + done, text.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    written = wrote > 0;
    if (written) done += static_cast<size_t>(wrote);
  }
  const int error = written ? 0 : errno;
  ::close(fd);
  if (!written) {
    ::unlink(temporary.c_str());
    throw Error(ErrorKind::kPrecondition,
                "router.databases_file: cannot write " + temporary + ": " + std::strerror(error));
  }
  std::error_code failure;
  std::filesystem::rename(temporary, settings_.databases_file, failure);
  if (failure) {
    throw Error(ErrorKind::kPrecondition, "router.databases_file: cannot replace " +
                                              settings_.databases_file + ": " + failure.message());
  }
}

std::string PgbouncerRouter::reload_and_prove(Primary primary, Clock::time_point deadline) {
  admin().exec_until("RELOAD", deadline);
  const std::vector<Listed> listed = show_databases(admin(), deadline);
  const Listed* entry = find_listed(listed, settings_.database);
  if (!entry || !entry_matches(entry_for(primary), entry->host, entry->port, entry->database)) {
    throw Error(ErrorKind::kPrecondition,
                "pgbouncer did not take the switch: after RELOAD, database " + settings_.database +
                    (entry ? " points at " + entry->route() : std::string(" is not listed")) +
                    ", not at the " + to_string(primary) + " (" + entry_for(primary) +
                    "); does pgbouncer.ini still %include router.databases_file (" +
                    settings_.databases_file +
                    "), and can pgbouncer read it? (see its log for \"config file loading "
                    "failed\")");
  }
  spdlog::info("pgbouncer: database {} now points at the {} ({})", settings_.database,
               to_string(primary), entry_for(primary));
  return "pgbouncer database " + settings_.database + " at " + entry->route() +
         ", read back with SHOW DATABASES";
}

std::string PgbouncerRouter::switch_to(Primary primary, Clock::time_point deadline) {
  if (!replaced_text_) replaced_text_ = read_text(settings_.databases_file);
  write_file(file_text(primary));
  return reload_and_prove(primary, deadline);
}

std::string PgbouncerRouter::switch_back(Primary primary, Clock::time_point deadline) {
  write_file(replaced_text_.value_or(file_text(primary)));
  return reload_and_prove(primary, deadline);
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
