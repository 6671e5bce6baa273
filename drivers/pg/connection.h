// RAII wrapper of a libpq connection: the only place (with pipeline.h and
// replication_stream.h) where libpq's API is used.
//
// A Connection opens in its constructor and closes in its destructor. Every
// failure is thrown as switchyard::Error carrying the SQLSTATE, a one-line
// message prefixed with the connection's role ("source", "target") and the
// query at fault. Results are move-only handles. A Connection is not
// thread-safe: use one per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

struct pg_conn;
struct pg_result;

namespace switchyard::pg {

class Result {
 public:
  Result() = default;
  explicit Result(pg_result* result);
  Result(Result&&) noexcept = default;
  Result& operator=(Result&&) noexcept = default;

  int rows() const;
  int columns() const;
  bool is_null(int row, int column) const;
  std::string_view get(int row, int column) const;  // "" for NULL
  std::string str(int row, int column) const { return std::string(get(row, column)); }
  std::optional<std::string> optional(int row, int column) const;
  int64_t int64(int row, int column) const;
  bool boolean(int row, int column) const { return get(row, column) == "t"; }
  uint64_t affected_rows() const;  // from the command tag (INSERT 0 5 -> 5)

 private:
  struct Deleter {
    void operator()(pg_result* result) const;
  };
  std::unique_ptr<pg_result, Deleter> result_;
};

// Positional text parameters; std::nullopt is SQL NULL.
using Params = std::vector<std::optional<std::string>>;

// The settings every switchyard session pins (except pgbouncer's console),
// so that values read and written as text mean one thing on both sides.
inline constexpr const char* kTextSettings =
    "SET DateStyle = ISO; SET IntervalStyle = postgres; SET extra_float_digits = 3; "
    "SET bytea_output = hex; SET standard_conforming_strings = on; "
    "SET client_encoding = 'UTF8'";

enum class Mode {
  kNormal,       // a PostgreSQL session, set up for a long-running tool (see the constructor)
  kReplication,  // a walsender session (replication=database)
  kPooler,       // pgbouncer's admin console: no session settings at all
};

class Connection {
 public:
  // role names the connection in messages ("source", "target"). The
  // server sees application_name "switchyard-<purpose>", or
  // "switchyard-<role>" without one.
  Connection(const std::string& conninfo, std::string role, Mode mode = Mode::kNormal,
             const std::string& purpose = {});
  ~Connection();
  Connection(Connection&&) noexcept;
  Connection& operator=(Connection&&) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  const std::string& role() const { return role_; }
  int server_version() const;    // 150004
  std::string database() const;  // the database connected to, known without asking
  int socket() const;
  bool ok() const;              // connection still usable
  bool in_transaction() const;  // a transaction block is open (or failed and not ended)

  // Runs one or more statements with the simple protocol; returns the last
  // result. Throws on any error.
  Result exec(const std::string& sql);
  // One statement with text parameters ($1...).
  Result exec(const std::string& sql, const Params& params);
  // exec(sql, params) in two halves: send() returns once the statement is
  // on its way; receive() waits for its result (throwing its error). In
  // between, the connection takes nothing else. For a write whose answer
  // need not hold up the caller (the cutover journal inside the freeze);
  // a statement sent whole is run by the server even if this process dies.
  void send(const std::string& sql, const Params& params);
  Result receive();
  // Like exec(sql), but gives up at `deadline`: the statement is cancelled
  // and Error(kTimeout) thrown. For the steps of a write freeze, where
  // waiting is never unbounded. If the server does not answer the cancel
  // within 100 ms the connection is closed (ok() is then false).
  Result exec_until(const std::string& sql, std::chrono::steady_clock::time_point deadline);

  // COPY ... TO STDOUT: call copy_out_start, then copy_out_row until it
  // returns false. The view stays valid until the next call.
  void copy_out_start(const std::string& sql);
  bool copy_out_row(std::string_view& row);

  // COPY ... FROM STDIN: start, put any number of buffers, end.
  void copy_in_start(const std::string& sql);
  void copy_in_put(std::string_view data);
  uint64_t copy_in_end();  // returns rows copied

  // Raw handle for the other libpq wrappers in this folder.
  pg_conn* native() const { return conn_; }

  // Throws the connection's current error as an Error, with `query`.
  [[noreturn]] void throw_error(const std::string& query, pg_result* result = nullptr) const;

 private:
  Result check(pg_result* result, const std::string& query) const;

  pg_conn* conn_ = nullptr;
  std::string role_;
  std::string sent_;             // the statement send() left for receive()
  char* copy_buffer_ = nullptr;  // owned libpq buffer from the last copy_out_row
};

// Lets go of every session the job `job` opened (common/shutdown.h): their
// connections are shut down, so that a call blocked in libpq on a server
// that stopped answering returns with a broken connection. For a stop that
// cannot wait any longer; as safe as the process being killed (every unit
// of work commits whole or not at all). Returns how many sessions.
int interrupt_sessions(const std::stop_source& job);

// A transaction on a connection: BEGIN in the constructor, ROLLBACK in the
// destructor unless commit() ran (as libpqxx's work does), so an exception
// between the two never leaves the session inside a failed transaction.
class Transaction {
 public:
  explicit Transaction(Connection& connection) : connection_(connection) {
    connection_.exec("BEGIN");
  }
  ~Transaction() {
    if (open_ && connection_.ok()) {
      try {
        connection_.exec("ROLLBACK");
      } catch (...) {  // the connection is unusable; its owner finds out
      }
    }
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  void commit() {
    connection_.exec("COMMIT");
    open_ = false;
  }

 private:
  Connection& connection_;
  bool open_ = true;
};

}  // namespace switchyard::pg
