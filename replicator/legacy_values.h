// A legacy row's values on their way into PostgreSQL.
//
// An ODBC source's values arrive as the text its capture records them in
// (odbc::Dialect::captured_value), whether from the changelog or from the
// snapshot's reads, so one conversion serves both. It turns each into the
// text PostgreSQL's input function for the target column accepts, and
// refuses a value that does not fit the column, naming table, key and
// column, instead of letting a cast decide:
//  - boolean (tinyint(1), bit(1), SQLite BOOLEAN): 0 and 1 only; tinyint(1)
//    is a boolean by convention, and a 2 in one is not silently true;
//  - binary values, captured in hex, become bytea's \x form;
//  - MariaDB's zero dates ("0000-00-00", also "2024-00-10") become NULL,
//    counted per column; its TIMESTAMP, captured as "@" + epoch seconds,
//    becomes an ISO timestamp in UTC;
//  - a SET's "a,b" becomes the text[] {"a","b"}; bit(n) values, captured
//    as numbers, become their n binary digits;
//  - SQLite enforces no declared type: integers, floats, numerics, dates
//    and timestamps are checked to be what the target column is.
//
// Pure: no connection. Not thread-safe (the zero-date counts).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/odbc/dialect.h"
#include "drivers/typed_value.h"
#include "drivers/value.h"
#include "replicator/schema_translation.h"

namespace switchyard {

class LegacyValues {
 public:
  // `engine`: the dialect's, "MariaDB" or "SQLite".
  LegacyValues(const std::string& engine, const odbc::LegacyTable& legacy,
               const TableTranslation& translation);

  // One column's value (nullopt: NULL) as a PostgreSQL text datum. `key`
  // names the row in an error ("(42)"), computed only then.
  Datum to_target(size_t column, std::optional<std::string_view> legacy,
                  const std::function<std::string()>& key) const;

  // Throws Error(kPrecondition) naming table, row, column and value, and
  // the override that would take the value as it is: `what` says why it
  // does not fit ("is not a boolean ...").
  [[noreturn]] void refuse(size_t column, std::string_view value, const std::string& what,
                           const std::function<std::string()>& key) const;

  // Zero dates turned into NULL so far, per column.
  const std::vector<uint64_t>& zero_dates() const { return zero_dates_; }
  const TableTranslation& translation() const { return translation_; }
  const odbc::LegacyTable& legacy() const { return legacy_; }

 private:
  enum class Form : uint8_t {
    kAsIs,
    kBoolean,
    kBytea,
    kSet,
    kBits,
    kInteger,  // checked (SQLite)
    kFloat,    // checked (SQLite)
    kNumeric,  // checked (SQLite)
    kDate,
    kTimestamp,
    kEpoch,  // MariaDB TIMESTAMP
  };
  const odbc::LegacyTable& legacy_;
  const TableTranslation& translation_;
  std::vector<Form> forms_;
  std::vector<int> bit_widths_;
  bool checked_ = false;  // SQLite: values may be of any type
  mutable std::vector<uint64_t> zero_dates_;
};

// A value of a capture expression as ODBC returned it, in its text form:
// integer and character columns are selected as they are (the capture
// records them without a cast), the rest arrive as text already.
// `scratch` holds an integer's digits. nullopt for NULL.
std::optional<std::string_view> captured_text(const Value& value, std::string& scratch);

// "(42)" or "(acme, 2024-01-01)": a key's values for messages.
std::string describe_key(const std::vector<std::optional<std::string>>& values);

}  // namespace switchyard
