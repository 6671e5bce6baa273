#include "drivers/pg/connection.h"

#include <libpq-fe.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>

#include "common/error.h"
#include "common/log.h"
#include "common/shutdown.h"
#include "drivers/pg/sql.h"

namespace switchyard::pg {
namespace {

// libpq messages may span lines ("...failed\n\tIs the server running...");
// we report one line.
std::string one_line(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\t' || c == '\r' || c == ' ') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

bool is_auth_failure(std::string_view message) {
  return message.find("authentication failed") != std::string_view::npos ||
         message.find("no password supplied") != std::string_view::npos ||
         message.find("pg_hba.conf") != std::string_view::npos;
}

// Server notices ("relation already exists, skipping") are routine for an
// idempotent tool: keep them out of the user's terminal unless debugging.
void log_notice(void*, const char* message) {
  spdlog::debug("server notice: {}", one_line(message));
}

}  // namespace

// ---- Result -----------------------------------------------------------

void Result::Deleter::operator()(pg_result* result) const {
  PQclear(result);
}

Result::Result(pg_result* result) : result_(result) {}

int Result::rows() const {
  return result_ ? PQntuples(result_.get()) : 0;
}
int Result::columns() const {
  return result_ ? PQnfields(result_.get()) : 0;
}

bool Result::is_null(int row, int column) const {
  return PQgetisnull(result_.get(), row, column) != 0;
}

std::string_view Result::get(int row, int column) const {
  if (row < 0 || row >= rows() || column < 0 || column >= columns()) {
    throw Error(ErrorKind::kInternal,
                "result has no row " + std::to_string(row) + ", column " + std::to_string(column));
  }
  return std::string_view(PQgetvalue(result_.get(), row, column),
                          PQgetlength(result_.get(), row, column));
}

std::optional<std::string> Result::optional(int row, int column) const {
  if (is_null(row, column)) return std::nullopt;
  return str(row, column);
}

int64_t Result::int64(int row, int column) const {
  const auto text = get(row, column);
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    throw Error(ErrorKind::kInternal, "expected an integer, got '" + std::string(text) + "'");
  }
  return value;
}

uint64_t Result::affected_rows() const {
  const char* tuples = result_ ? PQcmdTuples(result_.get()) : "";
  return *tuples ? std::strtoull(tuples, nullptr, 10) : 0;
}

// ---- the sessions of each job, to let go of ----------------------------

namespace {

// Every open session, with the job that opened it and a duplicate of its
// socket: shutting the duplicate down breaks the session's connection
// without touching a descriptor libpq may have closed (and the system
// reused) meanwhile.
struct OpenSession {
  pg_conn* conn;
  std::stop_source job;
  int socket;
};
std::mutex g_sessions_mutex;
std::vector<OpenSession> g_sessions;

void register_session(pg_conn* conn) {
  const int socket = ::dup(PQsocket(conn));
  if (socket < 0) return;  // out of descriptors: it cannot be let go of, only waited for
  std::lock_guard lock(g_sessions_mutex);
  g_sessions.push_back({conn, current_stop_source(), socket});
}

// Before PQfinish.
void unregister_session(pg_conn* conn) {
  std::lock_guard lock(g_sessions_mutex);
  for (auto it = g_sessions.begin(); it != g_sessions.end(); ++it) {
    if (it->conn == conn) {
      ::close(it->socket);
      g_sessions.erase(it);
      return;
    }
  }
}

void finish(pg_conn*& conn) {
  if (!conn) return;
  unregister_session(conn);
  PQfinish(conn);
  conn = nullptr;
}

}  // namespace

int interrupt_sessions(const std::stop_source& job) {
  std::lock_guard lock(g_sessions_mutex);
  int count = 0;
  for (const OpenSession& session : g_sessions) {
    if (session.job == job && ::shutdown(session.socket, SHUT_RDWR) == 0) ++count;
  }
  return count;
}

// ---- Connection -------------------------------------------------------

Connection::Connection(const std::string& conninfo, std::string role, Mode mode,
                       const std::string& purpose)
    : role_(std::move(role)) {
  // A conninfo that does not parse is named, never echoed (validate_conninfo).
  validate_conninfo(conninfo, role_ + " conninfo");
  const std::string application_name = "switchyard-" + (purpose.empty() ? role_ : purpose);
  // Defaults first: the expanded conninfo (dbname) overrides them, and the
  // replication flag, last, overrides it. TCP keepalives and a user timeout
  // find a peer that vanished without closing (a firewall that dropped its
  // state, a VM migrated) in about 30 s, idle or sending, instead of the
  // kernel's two hours; the replication stream also tests for silence
  // itself (stream.receive_timeout).
  std::vector<const char*> keywords{
      "application_name",    "connect_timeout",  "keepalives",       "keepalives_idle",
      "keepalives_interval", "keepalives_count", "tcp_user_timeout", "dbname"};
  std::vector<const char*> values{application_name.c_str(), "10", "1", "15", "5", "3", "30000",
                                  conninfo.c_str()};
  if (mode == Mode::kReplication) {
    keywords.push_back("replication");
    values.push_back("database");
  }
  keywords.push_back(nullptr);
  values.push_back(nullptr);
  conn_ = PQconnectdbParams(keywords.data(), values.data(), /*expand_dbname=*/1);
  if (!conn_) throw Error(ErrorKind::kInternal, role_ + ": out of memory connecting");
  if (PQstatus(conn_) != CONNECTION_OK) {
    const std::string message = one_line(PQerrorMessage(conn_));
    const bool auth = PQconnectionNeedsPassword(conn_) || is_auth_failure(message);
    const std::string where = describe_conninfo(conninfo);
    PQfinish(conn_);
    conn_ = nullptr;
    throw Error(auth ? ErrorKind::kAuth : ErrorKind::kConnection,
                role_ + " (" + where + "): " + message);
  }
  PQsetNoticeProcessor(conn_, log_notice, nullptr);
  register_session(conn_);
  if (mode != Mode::kPooler) {
    // How values travel as text, whatever the server's defaults (a legacy
    // primary with DateStyle 'SQL, DMY' or extra_float_digits 0, say): the
    // copy's text COPY, the stream's pgoutput text (the walsender's output
    // functions run under these too), the apply session's parameters,
    // verify's and repair's literals.
    exec(kTextSettings);
  }
  if (mode == Mode::kNormal) {
    // Sessions of a long-running tool must not inherit a statement or idle
    // timeout meant for applications. Cutover fences the old primary with a
    // read-only default (cutover/fence.h) that binds applications, not
    // switchyard, which still applies the reverse stream there.
    exec(
        "SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0; "
        "SET lock_timeout = 0; SET default_transaction_read_only = off");
  }
}

Connection::~Connection() {
  if (copy_buffer_) PQfreemem(copy_buffer_);
  finish(conn_);
}

Connection::Connection(Connection&& other) noexcept
    : conn_(other.conn_), role_(std::move(other.role_)), copy_buffer_(other.copy_buffer_) {
  other.conn_ = nullptr;
  other.copy_buffer_ = nullptr;
}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    if (copy_buffer_) PQfreemem(copy_buffer_);
    finish(conn_);
    conn_ = other.conn_;
    role_ = std::move(other.role_);
    copy_buffer_ = other.copy_buffer_;
    other.conn_ = nullptr;
    other.copy_buffer_ = nullptr;
  }
  return *this;
}

int Connection::server_version() const {
  return PQserverVersion(conn_);
}
std::string Connection::database() const {
  const char* name = PQdb(conn_);
  return name ? name : "";
}
int Connection::socket() const {
  return PQsocket(conn_);
}
bool Connection::ok() const {
  return conn_ && PQstatus(conn_) == CONNECTION_OK;
}
bool Connection::in_transaction() const {
  if (!conn_) return false;
  const PGTransactionStatusType status = PQtransactionStatus(conn_);
  return status == PQTRANS_INTRANS || status == PQTRANS_INERROR;
}

void Connection::throw_error(const std::string& query, pg_result* result) const {
  std::string sqlstate;
  std::string message;
  if (result) {
    if (const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE)) sqlstate = state;
    if (const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY)) {
      message = primary;
      if (const char* detail = PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL)) {
        message += " (" + std::string(detail) + ")";
      }
    } else {
      message = PQresultErrorMessage(result);
    }
  }
  if (message.empty()) message = PQerrorMessage(conn_);
  ErrorKind kind = kind_for_sqlstate(sqlstate);
  if (sqlstate.empty() && PQstatus(conn_) != CONNECTION_OK) kind = ErrorKind::kConnection;
  if (result) PQclear(result);
  throw Error(kind, role_ + ": " + one_line(message), sqlstate, query);
}

Result Connection::check(pg_result* result, const std::string& query) const {
  const auto status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  switch (status) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_COPY_OUT:
    case PGRES_COPY_IN:
    case PGRES_COPY_BOTH:
    case PGRES_EMPTY_QUERY:
      return Result(result);
    default:
      throw_error(query, result);
  }
}

Result Connection::exec(const std::string& sql) {
  return check(PQexec(conn_, sql.c_str()), sql);
}

Result Connection::exec(const std::string& sql, const Params& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& param : params) values.push_back(param ? param->c_str() : nullptr);
  return check(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                            values.data(), nullptr, nullptr, 0),
               sql);
}

void Connection::send(const std::string& sql, const Params& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& param : params) values.push_back(param ? param->c_str() : nullptr);
  if (PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                        nullptr, nullptr, 0) != 1) {
    throw_error(sql);
  }
  sent_ = sql;
}

Result Connection::receive() {
  Result last;
  std::string sql = std::move(sent_);
  sent_.clear();
  while (pg_result* result = PQgetResult(conn_)) last = check(result, sql);
  return last;
}

Result Connection::exec_until(const std::string& sql,
                              std::chrono::steady_clock::time_point deadline) {
  if (PQsendQuery(conn_, sql.c_str()) != 1) throw_error(sql);
  while (PQisBusy(conn_)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      // Ask the server to stop and give it a moment to answer, so the
      // connection stays usable. A server that ignores cancels (pgbouncer's
      // admin console, where PAUSE waits for transactions) gets its
      // connection closed instead: the deadline is what the caller relies on.
      if (PGcancel* cancel = PQgetCancel(conn_)) {
        char reason[256];
        PQcancel(cancel, reason, sizeof reason);
        PQfreeCancel(cancel);
      }
      const auto grace = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
      while (PQisBusy(conn_) && std::chrono::steady_clock::now() < grace) {
        pollfd answer{PQsocket(conn_), POLLIN, 0};
        if (::poll(&answer, 1, 10) > 0 && PQconsumeInput(conn_) != 1) break;
      }
      if (PQisBusy(conn_) || PQstatus(conn_) != CONNECTION_OK) {
        finish(conn_);
      } else {
        while (pg_result* result = PQgetResult(conn_)) PQclear(result);
      }
      // The statement goes with the error, for the debug log, not into its
      // one-line message.
      throw Error(ErrorKind::kTimeout, role_ + ": a statement did not finish in time", "", sql);
    }
    pollfd waiting{PQsocket(conn_), POLLIN, 0};
    const int ready =
        ::poll(&waiting, 1, static_cast<int>(std::min<int64_t>(left.count() + 1, 1000)));
    if (ready < 0 && errno != EINTR) throw_error(sql);
    if (ready > 0 && PQconsumeInput(conn_) != 1) throw_error(sql);
  }
  // The last result is the statement's; earlier ones (several statements)
  // are checked for errors too.
  Result last;
  while (pg_result* result = PQgetResult(conn_)) last = check(result, sql);
  return last;
}

void Connection::copy_out_start(const std::string& sql) {
  check(PQexec(conn_, sql.c_str()), sql);
}

bool Connection::copy_out_row(std::string_view& row) {
  if (copy_buffer_) {
    PQfreemem(copy_buffer_);
    copy_buffer_ = nullptr;
  }
  const int length = PQgetCopyData(conn_, &copy_buffer_, /*async=*/0);
  if (length > 0) {
    row = std::string_view(copy_buffer_, length);
    return true;
  }
  if (length == -2) throw_error("COPY TO STDOUT");
  // -1: the copy is done; collect its final status.
  pg_result* result = PQgetResult(conn_);
  check(result, "COPY TO STDOUT");
  while ((result = PQgetResult(conn_)) != nullptr) PQclear(result);
  return false;
}

void Connection::copy_in_start(const std::string& sql) {
  check(PQexec(conn_, sql.c_str()), sql);
}

void Connection::copy_in_put(std::string_view data) {
  if (PQputCopyData(conn_, data.data(), static_cast<int>(data.size())) != 1) {
    throw_error("COPY FROM STDIN");
  }
}

uint64_t Connection::copy_in_end() {
  if (PQputCopyEnd(conn_, nullptr) != 1) throw_error("COPY FROM STDIN");
  Result result = check(PQgetResult(conn_), "COPY FROM STDIN");
  while (pg_result* extra = PQgetResult(conn_)) PQclear(extra);
  return result.affected_rows();
}

}  // namespace switchyard::pg
