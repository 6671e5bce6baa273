// RAII wrapper of unixODBC: the only place (with its .cpp) where the ODBC
// API is used. A legacy source that is not PostgreSQL (MariaDB, SQLite,
// later SQL Server) is reached through it.
//
// A Connection opens in its constructor (SQLDriverConnect, never prompting)
// and closes in its destructor; a Statement is one SQLHSTMT. Every failure
// is thrown as switchyard::Error with the SQLSTATE, a one-line message
// prefixed with the connection's role, and the query at fault; the kind
// follows the SQLSTATE as for libpq (08: connection, 28: authentication),
// and a driver or data source the driver manager cannot find is a usage
// error naming it, with where installed drivers are listed.
//
// Passwords: a password given apart (from a file or the environment) is
// added to the connection string only for SQLDriverConnect, and the
// connection string is never part of a message.
//
// Results are read with bound columns in blocks of rows (SQL_ATTR_ROW_ARRAY_SIZE)
// and handed out as typed values (drivers/typed_value.h), the same model
// the libpq driver decodes binary COPY into, so verify compares engines
// value by value. Not thread-safe: one Connection per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "drivers/typed_value.h"

namespace switchyard::odbc {

class Statement;

class Connection {
 public:
  // `conninfo`: "Driver=MariaDB Unicode;Server=...;Database=...;Uid=..." or
  // "DSN=name"; `role` names the connection in messages ("source").
  Connection(const std::string& conninfo, std::string role, const std::string& password = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  const std::string& role() const { return role_; }
  // SQLGetInfo(SQL_DBMS_NAME) and (SQL_DBMS_VER): "MariaDB", "SQLite".
  const std::string& dbms_name() const { return dbms_name_; }
  const std::string& dbms_version() const { return dbms_version_; }

  // One statement without a result (DDL, DML); returns rows affected, or
  // -1 when the driver does not say.
  int64_t exec(const std::string& sql, const std::vector<std::optional<std::string>>& params = {});

  // Transactions: autocommit is on until begin(), and back on after
  // commit() or rollback().
  void begin();
  void commit();
  void rollback();

  // Raw handle for Statement.
  void* native() const { return dbc_; }
  // Throws the diagnostics of `handle` (of `handle_type`) as an Error.
  [[noreturn]] void throw_error(short handle_type, void* handle, const std::string& what,
                                const std::string& query = {}) const;

 private:
  void end_transaction(bool commit);

  std::string role_;
  void* dbc_ = nullptr;
  std::string dbms_name_;
  std::string dbms_version_;
};

// A column of a result, as the driver describes it.
struct Column {
  std::string name;
  short sql_type = 0;  // SQL_INTEGER, SQL_VARCHAR, SQL_TYPE_TIMESTAMP...
  uint64_t size = 0;   // characters or bytes (0: unknown)
  short decimal_digits = 0;
  bool is_unsigned = false;
};

// A query's result, read in blocks of rows.
class Statement {
 public:
  // Executes `sql` with text parameters (nullopt: NULL). `block_rows`: rows
  // fetched per round trip (1 reads row by row, every column with
  // SQLGetData, for drivers that do not know their columns' sizes).
  Statement(Connection& connection, const std::string& sql,
            const std::vector<std::optional<std::string>>& params = {}, size_t block_rows = 1024);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  const std::vector<Column>& columns() const { return columns_; }

  // The next row's values, valid until the next call; false at the end.
  bool next(std::vector<Value>& row);

  struct Binding;  // how a column is read (connection.cpp)

 private:
  bool fetch_block();
  void read_row_by_row(std::vector<Value>& row);
  Value value_at(size_t column, size_t row_in_block) const;
  Value decode(size_t column, const char* data, size_t length) const;
  static bool fixed_size(const Binding& binding);

  Connection& connection_;
  std::string sql_;
  void* stmt_ = nullptr;
  std::vector<Column> columns_;
  std::vector<Binding> bindings_;
  size_t block_rows_;
  bool bound_ = false;  // columns bound, block fetch
  uint64_t fetched_ = 0;
  size_t position_ = 0;  // next row of the block
  bool done_ = false;
  std::vector<std::string> scratch_;                // per column: a value read or reformatted
  std::vector<std::optional<std::string>> params_;  // kept alive while executing
  std::vector<long> param_lengths_;
};

}  // namespace switchyard::odbc
