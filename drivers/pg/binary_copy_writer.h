// Writing rows into PostgreSQL through binary COPY, from values in text form.
//
// An ODBC legacy's values arrive as text (replicator/legacy_values.h turns
// each into the text PostgreSQL's input function for the target column
// accepts). Handing them to COPY FROM in text format makes the server
// scan every byte for escapes and run each type's input parser; binary
// COPY takes each field by its length in the type's receive form, which
// costs the server less for every type, and is what the snapshot of an
// ODBC source sends.
//
// A value is encoded exactly as the type's input function would read it:
// integers range-checked, floats rounded to nearest like float4in/float8in,
// numerics in base-10000 digits with the scale they were written with (the
// server then applies the column's typmod, as it does for text), dates and
// timestamps as days and microseconds since 2000-01-01 (a timestamp without
// time zone ignores a zone in its text, as timestamp_in does), bytea from
// its \x hex form, bit strings from their binary digits, SETs' text[] from
// {"a","b"}. What cannot be encoded (a value the column's input function
// would refuse too) is reported, never written.
//
// Types without an encoder here make the caller fall back to text COPY for
// the table (binary COPY is all or nothing per COPY).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace switchyard::pg {

enum class SendForm : uint8_t {
  kBool,
  kInt2,
  kInt4,
  kInt8,
  kFloat4,
  kFloat8,
  kNumeric,
  kDate,
  kTime,
  kTimestamp,    // without time zone: a zone in the text is ignored
  kTimestampTz,  // with time zone: the text's zone applies (none: UTC)
  kText,         // text, varchar, bpchar, json, enum labels: the bytes as they are
  kJsonb,
  kBytea,      // from "\x0a1b..."
  kBits,       // bit(n), varbit: from "0101"
  kTextArray,  // text[]: from {"a","b"} (quoted elements, \-escaped)
  kUuid,
};

// The send form of a column of type `type_oid` whose pg_type.typtype is
// `typtype` ('e' for an enum, whose values travel as their labels), or
// nullopt when there is no encoder for it.
std::optional<SendForm> send_form(uint32_t type_oid, char typtype);

// The fixed start of a binary COPY stream (signature, flags, extension).
void append_copy_header(std::string& out);
// The trailer: a field count of -1.
void append_copy_trailer(std::string& out);
// A tuple's field count.
void append_field_count(std::string& out, uint16_t fields);
void append_null_field(std::string& out);

// Appends one field (its length, then its bytes). False, with `out`
// unchanged, when `text` is not a value of the form: the column's input
// function would have refused it too.
bool append_field(std::string& out, SendForm form, std::string_view text);

}  // namespace switchyard::pg
