// Reading PostgreSQL rows as typed values through binary COPY.
//
// The verifier reads both databases with COPY (SELECT ...) TO STDOUT
// (FORMAT binary). Binary COPY hands over each value in its type's send
// form: integers and floats as their bits, timestamps as microseconds in
// UTC, numerics as base-10000 digits. None of it depends on the session's
// DateStyle, TimeZone, extra_float_digits or lc_monetary, which is why two
// servers configured differently still produce identical values. Types
// without a decoder here are read through their text form (`col::text`).
//
// A BinaryCopyReader is bound to one Connection; not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/pg/connection.h"
#include "drivers/typed_value.h"

namespace switchyard::pg {

// Days from the Unix epoch to PostgreSQL's, 2000-01-01: binary dates and
// timestamps count from the latter.
inline constexpr int64_t kPostgresEpochDays = 10957;

// The send/recv format a column arrives in.
enum class WireType : uint8_t {
  kBool,
  kInt2,
  kInt4,
  kInt8,  // also money (cents)
  kOid,
  kFloat4,
  kFloat8,
  kNumeric,
  kDate,
  kTime,
  kTimestamp,  // timestamp and timestamptz: both microseconds, the latter in UTC
  kText,       // text, varchar, bpchar, name, and every type read as `::text`
  kBytea,
  kJsonb,  // json is read as `::jsonb`, so both spell a document one way
  kUuid,
};

struct ColumnRead {
  std::string expression;  // select-list expression, e.g. "col" or "col::text"
  WireType wire;
};

// How to read a column whose (domain-resolved) type is `type_oid`.
ColumnRead column_read(const std::string& quoted_column, uint32_t type_oid);

// Decodes one non-NULL field. `scratch` holds a numeric's decimal text; the
// returned Value may point into it or into `bytes`. Throws Error(kDatabase)
// on a malformed field.
Value decode_field(WireType wire, std::string_view bytes, std::string& scratch);

// Base-10000 numeric send format -> decimal text ("-12.3400", "NaN").
void numeric_to_text(std::string_view bytes, std::string& out);

struct Field {
  std::string_view bytes;
  bool null = false;
};

// Splits one binary COPY tuple (after the header) into its fields, which
// view `message`. False for the trailer (field count -1). Throws
// Error(kDatabase) on a malformed tuple.
bool split_tuple(std::string_view message, std::vector<Field>& fields);

class BinaryCopyReader {
 public:
  explicit BinaryCopyReader(Connection& connection) : connection_(connection) {}

  // `select` is a query; it runs as COPY (select) TO STDOUT (FORMAT binary).
  void start(const std::string& select);
  // The next row's fields; false after the last row. Views stay valid until
  // the next call. `tuple`, if given, receives the row's whole message (its
  // field count, lengths and bytes).
  bool next(std::vector<Field>& fields, std::string_view* tuple = nullptr);
  uint64_t bytes_read() const { return bytes_read_; }

 private:
  Connection& connection_;
  bool header_seen_ = false;
  uint64_t bytes_read_ = 0;
};

}  // namespace switchyard::pg
