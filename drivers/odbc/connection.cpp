#include "drivers/odbc/connection.h"

#include <sql.h>
#include <sqlext.h>

#include <cstring>
#include <mutex>
#include <string_view>

#include "common/error.h"

namespace switchyard::odbc {
namespace {

static_assert(sizeof(SQLLEN) == sizeof(long), "SQLLEN is a long on this platform");

// Character columns wider than this, and the long types, are not bound but
// read with SQLGetData, row by row.
constexpr uint64_t kMaxBoundBytes = 16 * 1024;

bool ok(SQLRETURN rc) {
  return rc == SQL_SUCCESS || rc == SQL_SUCCESS_WITH_INFO;
}

// The process's ODBC environment (ODBC 3 behaviour), created once.
SQLHENV environment() {
  static SQLHENV env = [] {
    SQLHENV handle = SQL_NULL_HENV;
    if (!ok(SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &handle)) ||
        !ok(SQLSetEnvAttr(handle, SQL_ATTR_ODBC_VERSION, reinterpret_cast<SQLPOINTER>(SQL_OV_ODBC3),
                          0))) {
      throw Error(ErrorKind::kInternal, "odbc: cannot allocate the ODBC environment");
    }
    return handle;
  }();
  return env;
}

struct Diagnostic {
  std::string sqlstate;
  std::string message;
};

Diagnostic first_diagnostic(SQLSMALLINT handle_type, SQLHANDLE handle) {
  Diagnostic out;
  SQLCHAR state[6] = {};
  SQLINTEGER native = 0;
  SQLCHAR text[1024] = {};
  SQLSMALLINT length = 0;
  for (SQLSMALLINT record = 1;; ++record) {
    const SQLRETURN rc =
        SQLGetDiagRec(handle_type, handle, record, state, &native, text, sizeof text, &length);
    if (!ok(rc)) break;
    if (out.sqlstate.empty()) out.sqlstate = reinterpret_cast<const char*>(state);
    if (!out.message.empty()) out.message += "; ";
    // Without the vendor tags drivers prefix ("[unixODBC][Driver Manager]",
    // "[ma-3.1.15][10.11.19-MariaDB]"): the message names the connection.
    std::string_view message(reinterpret_cast<const char*>(text));
    while (!message.empty() && message.front() == '[') {
      const size_t close = message.find(']');
      if (close == std::string_view::npos) break;
      message.remove_prefix(close + 1);
    }
    out.message += message;
    if (record >= 3) break;
  }
  // One line: drivers end messages with newlines.
  for (char& c : out.message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  while (!out.message.empty() && out.message.back() == ' ') out.message.pop_back();
  return out;
}

// The keyword's value in a connection string ("Driver={MariaDB Unicode};...").
std::string keyword(const std::string& conninfo, const std::string& name) {
  size_t start = 0;
  while (start < conninfo.size()) {
    const size_t end = conninfo.find(';', start);
    const std::string part =
        conninfo.substr(start, end == std::string::npos ? std::string::npos : end - start);
    const size_t equals = part.find('=');
    if (equals != std::string::npos) {
      std::string key = part.substr(0, equals);
      while (!key.empty() && key.front() == ' ') key.erase(key.begin());
      while (!key.empty() && key.back() == ' ') key.pop_back();
      if (strcasecmp(key.c_str(), name.c_str()) == 0) {
        std::string value = part.substr(equals + 1);
        if (value.size() >= 2 && value.front() == '{' && value.back() == '}') {
          value = value.substr(1, value.size() - 2);
        }
        return value;
      }
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return {};
}

// A password as a connection-string value: braced, with '}' doubled.
std::string braced(const std::string& value) {
  std::string out = "{";
  for (char c : value) {
    out += c;
    if (c == '}') out += '}';
  }
  return out + "}";
}

void bind_params(Connection& connection, SQLHSTMT stmt,
                 const std::vector<std::optional<std::string>>& params, std::vector<long>& lengths,
                 const std::string& sql) {
  lengths.assign(params.size(), 0);
  for (size_t idx = 0; idx < params.size(); ++idx) {
    const auto& param = params[idx];
    lengths[idx] = param ? static_cast<long>(param->size()) : SQL_NULL_DATA;
    const SQLRETURN rc = SQLBindParameter(
        stmt, static_cast<SQLUSMALLINT>(idx + 1), SQL_PARAM_INPUT, SQL_C_CHAR, SQL_VARCHAR,
        param ? std::max<SQLULEN>(param->size(), 1) : 1, 0,
        param ? const_cast<char*>(param->data()) : nullptr,
        param ? static_cast<SQLLEN>(param->size()) : 0, reinterpret_cast<SQLLEN*>(&lengths[idx]));
    if (!ok(rc)) connection.throw_error(SQL_HANDLE_STMT, stmt, "binding a parameter", sql);
  }
}

}  // namespace

// ---- Connection ---------------------------------------------------------

Connection::Connection(const std::string& conninfo, std::string role, const std::string& password)
    : role_(std::move(role)) {
  SQLHDBC dbc = SQL_NULL_HDBC;
  if (!ok(SQLAllocHandle(SQL_HANDLE_DBC, environment(), &dbc))) {
    throw Error(ErrorKind::kInternal, role_ + ": cannot allocate an ODBC connection handle");
  }
  dbc_ = dbc;
  SQLSetConnectAttr(dbc, SQL_ATTR_LOGIN_TIMEOUT, reinterpret_cast<SQLPOINTER>(10), 0);
  std::string full = conninfo;
  // SQLite's driver creates a missing database file: a mistyped path would
  // leave an empty database on the legacy's host and look like one without
  // tables. NoCreat makes it refuse instead.
  const std::string driver = keyword(conninfo, "Driver");
  const bool sqlite = strcasestr(driver.c_str(), "sqlite") != nullptr;
  if (sqlite && keyword(conninfo, "NoCreat").empty()) {
    full += (full.empty() || full.back() == ';' ? "" : ";") + std::string("NoCreat=1");
  }
  if (!password.empty())
    full +=
        (full.empty() || full.back() == ';' ? "" : ";") + std::string("PWD=") + braced(password);
  SQLCHAR out[1024];
  SQLSMALLINT out_length = 0;
  const SQLRETURN rc = SQLDriverConnect(dbc, nullptr, reinterpret_cast<SQLCHAR*>(full.data()),
                                        static_cast<SQLSMALLINT>(full.size()), out, sizeof out,
                                        &out_length, SQL_DRIVER_NOPROMPT);
  std::fill(full.begin(), full.end(), '\0');
  if (!ok(rc)) {
    const Diagnostic diagnostic = first_diagnostic(SQL_HANDLE_DBC, dbc);
    SQLFreeHandle(SQL_HANDLE_DBC, dbc);
    dbc_ = nullptr;
    // IM002: no such data source or driver; IM003: the driver would not
    // load. unixODBC takes an unknown driver name for a library path and
    // says so with 01000, "Can't open lib".
    const bool no_driver = diagnostic.sqlstate == "IM002" || diagnostic.sqlstate == "IM003" ||
                           diagnostic.message.find("Can't open lib") != std::string::npos;
    if (no_driver) {
      const std::string dsn = keyword(conninfo, "DSN");
      const std::string what = !driver.empty() ? "ODBC driver '" + driver + "'"
                               : !dsn.empty()  ? "ODBC data source '" + dsn + "'"
                                              : "an ODBC driver (the connection string names none)";
      throw Error(
          ErrorKind::kUsage,
          role_ + ": " + what +
              (diagnostic.sqlstate == "IM003" ? " could not be loaded" : " is not installed") +
              " (installed drivers: odbcinst -q -d; data sources: odbcinst -q -s)",
          diagnostic.sqlstate);
    }
    if (sqlite && !keyword(conninfo, "Database").empty()) {
      throw Error(ErrorKind::kUsage,
                  role_ + ": cannot open SQLite database '" + keyword(conninfo, "Database") +
                      "' (" + diagnostic.message +
                      "): no such file, or not readable by this user; switchyard never creates "
                      "one",
                  diagnostic.sqlstate);
    }
    ErrorKind kind = kind_for_sqlstate(diagnostic.sqlstate);
    if (kind == ErrorKind::kDatabase) kind = ErrorKind::kConnection;
    throw Error(kind, role_ + ": " + diagnostic.message, diagnostic.sqlstate);
  }
  SQLCHAR info[256] = {};
  SQLSMALLINT length = 0;
  if (ok(SQLGetInfo(dbc, SQL_DBMS_NAME, info, sizeof info, &length))) {
    dbms_name_ = reinterpret_cast<const char*>(info);
  }
  if (ok(SQLGetInfo(dbc, SQL_DBMS_VER, info, sizeof info, &length))) {
    dbms_version_ = reinterpret_cast<const char*>(info);
  }
}

Connection::~Connection() {
  if (!dbc_) return;
  SQLDisconnect(dbc_);
  SQLFreeHandle(SQL_HANDLE_DBC, dbc_);
}

void Connection::throw_error(short handle_type, void* handle, const std::string& what,
                             const std::string& query) const {
  const Diagnostic diagnostic = first_diagnostic(handle_type, handle);
  const std::string message = diagnostic.message.empty() ? what : diagnostic.message;
  throw Error(kind_for_sqlstate(diagnostic.sqlstate), role_ + ": " + message, diagnostic.sqlstate,
              query);
}

int64_t Connection::exec(const std::string& sql,
                         const std::vector<std::optional<std::string>>& params) {
  SQLHSTMT stmt = SQL_NULL_HSTMT;
  if (!ok(SQLAllocHandle(SQL_HANDLE_STMT, dbc_, &stmt))) {
    throw_error(SQL_HANDLE_DBC, dbc_, "cannot allocate a statement", sql);
  }
  std::unique_ptr<void, void (*)(void*)> guard(stmt,
                                               [](void* h) { SQLFreeHandle(SQL_HANDLE_STMT, h); });
  std::vector<long> lengths;
  bind_params(*this, stmt, params, lengths, sql);
  const SQLRETURN rc =
      SQLExecDirect(stmt, reinterpret_cast<SQLCHAR*>(const_cast<char*>(sql.c_str())), SQL_NTS);
  if (!ok(rc) && rc != SQL_NO_DATA) throw_error(SQL_HANDLE_STMT, stmt, "statement failed", sql);
  SQLLEN affected = -1;
  if (rc != SQL_NO_DATA) SQLRowCount(stmt, &affected);
  return rc == SQL_NO_DATA ? 0 : static_cast<int64_t>(affected);
}

void Connection::begin() {
  if (!ok(SQLSetConnectAttr(dbc_, SQL_ATTR_AUTOCOMMIT,
                            reinterpret_cast<SQLPOINTER>(SQL_AUTOCOMMIT_OFF), 0))) {
    throw_error(SQL_HANDLE_DBC, dbc_, "cannot begin a transaction");
  }
}

void Connection::commit() {
  end_transaction(true);
}
void Connection::rollback() {
  end_transaction(false);
}

void Connection::end_transaction(bool commit) {
  if (!ok(SQLEndTran(SQL_HANDLE_DBC, dbc_, commit ? SQL_COMMIT : SQL_ROLLBACK))) {
    throw_error(SQL_HANDLE_DBC, dbc_, commit ? "commit failed" : "rollback failed");
  }
  SQLSetConnectAttr(dbc_, SQL_ATTR_AUTOCOMMIT, reinterpret_cast<SQLPOINTER>(SQL_AUTOCOMMIT_ON), 0);
}

// ---- Statement ----------------------------------------------------------

// How one column is read: the C type asked of the driver, and the typed
// value it becomes.
struct Statement::Binding {
  SQLSMALLINT c_type = SQL_C_CHAR;
  ValueType type = ValueType::kText;
  size_t width = 0;        // bytes per row in `data` (bound columns)
  bool long_data = false;  // too wide or of unknown size: never bound
  std::vector<char> data;
  std::vector<SQLLEN> indicator;
};

namespace {

// The C type and typed value for a column's SQL type.
void plan_column(const Column& column, Statement::Binding& binding);

}  // namespace

Statement::Statement(Connection& connection, const std::string& sql,
                     const std::vector<std::optional<std::string>>& params, size_t block_rows)
    : connection_(connection),
      sql_(sql),
      block_rows_(std::max<size_t>(block_rows, 1)),
      params_(params) {
  SQLHSTMT stmt = SQL_NULL_HSTMT;
  if (!ok(SQLAllocHandle(SQL_HANDLE_STMT, connection_.native(), &stmt))) {
    connection_.throw_error(SQL_HANDLE_DBC, connection_.native(), "cannot allocate a statement",
                            sql_);
  }
  stmt_ = stmt;
  // Read once, front to back: a driver that can hand rows over as they
  // arrive (MariaDB's with its no-cache option) does so only for this.
  SQLSetStmtAttr(stmt, SQL_ATTR_CURSOR_TYPE, reinterpret_cast<SQLPOINTER>(SQL_CURSOR_FORWARD_ONLY),
                 0);
  bind_params(connection_, stmt, params_, param_lengths_, sql_);
  const SQLRETURN rc =
      SQLExecDirect(stmt, reinterpret_cast<SQLCHAR*>(const_cast<char*>(sql_.c_str())), SQL_NTS);
  if (rc == SQL_NO_DATA) {
    done_ = true;
    return;
  }
  if (!ok(rc)) {
    // The destructor does not run for a throwing constructor.
    Diagnostic diagnostic = first_diagnostic(SQL_HANDLE_STMT, stmt);
    SQLFreeHandle(SQL_HANDLE_STMT, stmt);
    stmt_ = nullptr;
    throw Error(kind_for_sqlstate(diagnostic.sqlstate),
                connection_.role() + ": " + diagnostic.message, diagnostic.sqlstate, sql_);
  }
  SQLSMALLINT count = 0;
  SQLNumResultCols(stmt, &count);
  columns_.resize(static_cast<size_t>(count));
  bindings_.resize(columns_.size());
  scratch_.resize(columns_.size());
  bool any_long = false;
  for (SQLUSMALLINT idx = 1; idx <= count; ++idx) {
    Column& column = columns_[idx - 1];
    SQLCHAR name[256] = {};
    SQLSMALLINT name_length = 0, nullable = 0;
    SQLULEN size = 0;
    SQLDescribeCol(stmt, idx, name, sizeof name, &name_length, &column.sql_type, &size,
                   &column.decimal_digits, &nullable);
    column.name = reinterpret_cast<const char*>(name);
    column.size = size;
    SQLLEN is_unsigned = SQL_FALSE;
    SQLColAttribute(stmt, idx, SQL_DESC_UNSIGNED, nullptr, 0, nullptr, &is_unsigned);
    column.is_unsigned = is_unsigned == SQL_TRUE;
    plan_column(column, bindings_[idx - 1]);
    any_long |= bindings_[idx - 1].long_data;
  }
  // Block fetch needs every column bound; one that cannot be is read with
  // SQLGetData, and then all are, row by row.
  bound_ = !any_long && block_rows_ > 1;
  if (!bound_) {
    block_rows_ = 1;
    return;
  }
  SQLSetStmtAttr(stmt, SQL_ATTR_ROW_BIND_TYPE, reinterpret_cast<SQLPOINTER>(SQL_BIND_BY_COLUMN), 0);
  SQLSetStmtAttr(stmt, SQL_ATTR_ROW_ARRAY_SIZE, reinterpret_cast<SQLPOINTER>(block_rows_), 0);
  SQLSetStmtAttr(stmt, SQL_ATTR_ROWS_FETCHED_PTR, &fetched_, 0);
  for (size_t idx = 0; idx < bindings_.size(); ++idx) {
    Binding& binding = bindings_[idx];
    binding.data.resize(binding.width * block_rows_);
    binding.indicator.resize(block_rows_);
    if (!ok(SQLBindCol(stmt, static_cast<SQLUSMALLINT>(idx + 1), binding.c_type,
                       binding.data.data(), static_cast<SQLLEN>(binding.width),
                       binding.indicator.data()))) {
      connection_.throw_error(SQL_HANDLE_STMT, stmt, "binding a column", sql_);
    }
  }
}

Statement::~Statement() {
  if (stmt_) SQLFreeHandle(SQL_HANDLE_STMT, stmt_);
}

bool Statement::fetch_block() {
  fetched_ = 0;
  const SQLRETURN rc = SQLFetch(stmt_);
  if (rc == SQL_NO_DATA) return false;
  if (!ok(rc)) connection_.throw_error(SQL_HANDLE_STMT, stmt_, "fetch failed", sql_);
  position_ = 0;
  return true;
}

bool Statement::next(std::vector<Value>& row) {
  if (done_) return false;
  if (!bound_) {
    if (!fetch_block()) {
      done_ = true;
      return false;
    }
    read_row_by_row(row);
    return true;
  }
  if (position_ >= fetched_) {
    if (!fetch_block() || fetched_ == 0) {
      done_ = true;
      return false;
    }
  }
  row.resize(columns_.size());
  for (size_t column = 0; column < columns_.size(); ++column) {
    row[column] = value_at(column, position_);
  }
  ++position_;
  return true;
}

namespace {

// Days since 1970-01-01; nullopt for a date that is no date (MariaDB's
// zero dates, 0000-00-00: they become NULL).
std::optional<int64_t> days(int year, unsigned month, unsigned day) {
  if (month == 0 || day == 0) return std::nullopt;
  return days_from_civil(year, month, day);
}

Value timestamp_value(const SQL_TIMESTAMP_STRUCT& ts) {
  const auto day = days(ts.year, ts.month, ts.day);
  if (!day) return Value::null();
  const int64_t micros = *day * 86'400'000'000LL +
                         (int64_t{ts.hour} * 3600 + ts.minute * 60 + ts.second) * 1'000'000LL +
                         (ts.fraction + 500) / 1000;
  return Value::of_int(ValueType::kTimestamp, micros);
}

void plan_column(const Column& column, Statement::Binding& binding) {
  auto text = [&](ValueType type, uint64_t chars) {
    binding.c_type = SQL_C_CHAR;
    binding.type = type;
    // UTF-8: up to four bytes a character, and the terminating zero.
    binding.width = chars * 4 + 1;
    binding.long_data = chars == 0 || binding.width > kMaxBoundBytes;
  };
  switch (column.sql_type) {
    case SQL_BIT:
      binding.c_type = SQL_C_SBIGINT;
      binding.type = ValueType::kBool;
      binding.width = sizeof(int64_t);
      break;
    case SQL_TINYINT:
    case SQL_SMALLINT:
    case SQL_INTEGER:
      binding.c_type = SQL_C_SBIGINT;
      binding.type = ValueType::kInt;
      binding.width = sizeof(int64_t);
      break;
    case SQL_BIGINT:
      if (column.is_unsigned) {
        text(ValueType::kNumeric, 21);  // up to 18446744073709551615
      } else {
        binding.c_type = SQL_C_SBIGINT;
        binding.type = ValueType::kInt;
        binding.width = sizeof(int64_t);
      }
      break;
    case SQL_REAL:
    case SQL_FLOAT:
    case SQL_DOUBLE:
      binding.c_type = SQL_C_DOUBLE;
      binding.type = ValueType::kFloat;
      binding.width = sizeof(double);
      break;
    case SQL_DECIMAL:
    case SQL_NUMERIC:
      text(ValueType::kNumeric, column.size + 3);  // sign, point, and a digit to spare
      break;
    case SQL_TYPE_DATE:
    case SQL_DATE:
      binding.c_type = SQL_C_TYPE_DATE;
      binding.type = ValueType::kDate;
      binding.width = sizeof(SQL_DATE_STRUCT);
      break;
    case SQL_TYPE_TIMESTAMP:
    case SQL_TIMESTAMP:
      binding.c_type = SQL_C_TYPE_TIMESTAMP;
      binding.type = ValueType::kTimestamp;
      binding.width = sizeof(SQL_TIMESTAMP_STRUCT);
      break;
    case SQL_TYPE_TIME:
    case SQL_TIME:
      text(ValueType::kTime, 32);  // as text: TIME_STRUCT has no fraction
      break;
    case SQL_BINARY:
    case SQL_VARBINARY:
      binding.c_type = SQL_C_BINARY;
      binding.type = ValueType::kBytes;
      binding.width = column.size;
      binding.long_data = column.size == 0 || column.size > kMaxBoundBytes;
      break;
    case SQL_LONGVARBINARY:
      binding.c_type = SQL_C_BINARY;
      binding.type = ValueType::kBytes;
      binding.long_data = true;
      break;
    case SQL_LONGVARCHAR:
    case SQL_WLONGVARCHAR:
      binding.c_type = SQL_C_CHAR;
      binding.type = ValueType::kText;
      binding.long_data = true;
      break;
    default:  // CHAR, VARCHAR, WCHAR, WVARCHAR, GUID and the rest: as text
      text(ValueType::kText, column.size);
      break;
  }
}

}  // namespace

// A column's value from what the driver wrote: for the fixed-size C types
// the struct or number at `data`, else `length` bytes of text or binary.
Value Statement::decode(size_t column, const char* data, size_t length) const {
  const Binding& binding = bindings_[column];
  switch (binding.c_type) {
    case SQL_C_SBIGINT: {
      int64_t integer;
      std::memcpy(&integer, data, sizeof integer);
      return Value::of_int(binding.type, binding.type == ValueType::kBool ? integer != 0 : integer);
    }
    case SQL_C_DOUBLE: {
      double real;
      std::memcpy(&real, data, sizeof real);
      return Value::of_real(real);
    }
    case SQL_C_TYPE_DATE: {
      SQL_DATE_STRUCT date;
      std::memcpy(&date, data, sizeof date);
      const auto day = days(date.year, date.month, date.day);
      return day ? Value::of_int(ValueType::kDate, *day) : Value::null();
    }
    case SQL_C_TYPE_TIMESTAMP: {
      SQL_TIMESTAMP_STRUCT ts;
      std::memcpy(&ts, data, sizeof ts);
      return timestamp_value(ts);
    }
    default:
      break;
  }
  const std::string_view bytes(data, length);
  if (binding.type != ValueType::kTime) return Value::of_bytes(binding.type, bytes);
  const auto micros = parse_time(bytes);
  if (!micros) {
    throw Error(ErrorKind::kDatabase, connection_.role() + ": column " + columns_[column].name +
                                          ": '" + std::string(bytes) + "' is not a time");
  }
  return Value::of_int(ValueType::kTime, *micros);
}

bool Statement::fixed_size(const Binding& binding) {
  return binding.c_type == SQL_C_SBIGINT || binding.c_type == SQL_C_DOUBLE ||
         binding.c_type == SQL_C_TYPE_DATE || binding.c_type == SQL_C_TYPE_TIMESTAMP;
}

// A bound column's value in the current block.
Value Statement::value_at(size_t column, size_t row_in_block) const {
  const Binding& binding = bindings_[column];
  const SQLLEN indicator = binding.indicator[row_in_block];
  if (indicator == SQL_NULL_DATA) return Value::null();
  const char* data = binding.data.data() + row_in_block * binding.width;
  if (fixed_size(binding)) return decode(column, data, binding.width);
  const size_t capacity = binding.c_type == SQL_C_CHAR ? binding.width - 1 : binding.width;
  if (indicator == SQL_NO_TOTAL || static_cast<size_t>(indicator) > capacity) {
    throw Error(ErrorKind::kInternal, connection_.role() + ": column " + columns_[column].name +
                                          " returned a value longer than its declared size");
  }
  return decode(column, data, static_cast<size_t>(indicator));
}

// Row by row: every column with SQLGetData, long values in pieces.
void Statement::read_row_by_row(std::vector<Value>& row) {
  row.resize(columns_.size());
  for (size_t column = 0; column < columns_.size(); ++column) {
    const Binding& binding = bindings_[column];
    const auto index = static_cast<SQLUSMALLINT>(column + 1);
    SQLLEN indicator = 0;
    std::string& value = scratch_[column];
    value.clear();
    if (fixed_size(binding)) {
      value.resize(sizeof(SQL_TIMESTAMP_STRUCT));  // the largest of them
      if (!ok(SQLGetData(stmt_, index, binding.c_type, value.data(),
                         static_cast<SQLLEN>(value.size()), &indicator))) {
        connection_.throw_error(SQL_HANDLE_STMT, stmt_, "reading a column", sql_);
      }
      row[column] =
          indicator == SQL_NULL_DATA ? Value::null() : decode(column, value.data(), value.size());
      continue;
    }
    // Character and binary data, in pieces until the driver has no more.
    char piece[8192];
    bool is_null = false;
    for (;;) {
      const SQLRETURN rc =
          SQLGetData(stmt_, index, binding.c_type, piece, sizeof piece, &indicator);
      if (rc == SQL_NO_DATA) break;
      if (!ok(rc)) connection_.throw_error(SQL_HANDLE_STMT, stmt_, "reading a column", sql_);
      if (indicator == SQL_NULL_DATA) {
        is_null = true;
        break;
      }
      const size_t room = binding.c_type == SQL_C_CHAR ? sizeof piece - 1 : sizeof piece;
      const size_t got = indicator == SQL_NO_TOTAL || static_cast<size_t>(indicator) > room
                             ? room
                             : static_cast<size_t>(indicator);
      value.append(piece, got);
      if (rc == SQL_SUCCESS) break;  // the last piece
    }
    row[column] = is_null ? Value::null() : decode(column, value.data(), value.size());
  }
}

}  // namespace switchyard::odbc
