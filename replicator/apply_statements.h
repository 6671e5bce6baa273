// SQL text for the apply loop's statements. Pure functions of a table's
// shape, so every form is unit-tested without a server.
//
// Two families:
//  - multi-row statements for runs of same-kind changes to a table with a
//    key: INSERT ... VALUES (...), (...); UPDATE ... FROM (VALUES ...);
//    DELETE ... USING (VALUES ...). Values are cast to the target column's
//    type inside VALUES, where PostgreSQL cannot infer them.
//  - single-row statements for changes that must keep their exact place:
//    updates that change the key, and tables with REPLICA IDENTITY FULL
//    (matched on every column, one row at a time, duplicates allowed).
//
// Parameter order: multi-row statements take, row after row, the key
// columns (in key order) then the columns being set; single-row updates take
// the columns being set, then the key.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard {

struct TableShape {
  std::string qualified;              // "schema"."table"
  std::vector<std::string> columns;   // source column names, in order
  std::vector<std::string> types;     // the target column's type, per column, for casts
  std::vector<size_t> key_columns;    // replica identity columns
  std::vector<bool> compare_as_text;  // type has no usable '=' (json, geometric)
  // GENERATED ALWAYS AS IDENTITY on the target (a schema prepared with
  // pg_dump keeps it): inserted with OVERRIDING SYSTEM VALUE, never SET.
  std::vector<bool> identity_always;
  // Trigger capture (an ODBC source): an insert is "this is the row of its
  // key now", and replaces a row the initial copy already holds (INSERT ...
  // ON CONFLICT (key) DO UPDATE). Updates arrive as such inserts too.
  bool upsert = false;

  bool has_identity_always() const;

  // Equal shapes render every statement alike.
  bool operator==(const TableShape&) const = default;
};

// set_mask / key_mask: one char per column (per key column for key_mask):
// 's' or 'k' = sent, anything else = not sent (unchanged TOAST).

std::string insert_rows_sql(const TableShape& table, size_t rows);
std::string update_rows_sql(const TableShape& table, std::string_view set_mask, size_t rows);
std::string delete_rows_sql(const TableShape& table, size_t rows);

// Single row. full_identity: key_mask covers every column, matched with
// IS NOT DISTINCT FROM on the first equal row (by ctid).
std::string update_one_sql(const TableShape& table, std::string_view set_mask,
                           std::string_view key_mask, bool full_identity);
std::string delete_one_sql(const TableShape& table, std::string_view key_mask, bool full_identity);
// An update that changes a GENERATED ALWAYS identity value, which no UPDATE
// may set: the row is deleted and inserted again, in one statement, with
// OVERRIDING SYSTEM VALUE; a column not sent (unchanged TOAST) keeps the
// deleted row's value. Parameters as update_one_sql's.
std::string replace_one_sql(const TableShape& table, std::string_view set_mask,
                            std::string_view key_mask, bool full_identity);

// ---- the row log of tables without a key (switchyard.keyless_images) -------
// While a cutover prepares, the apply loop logs what it writes to a table
// without a key, so that the cutover can prove it equal by what changed
// (cutover/keyless_proof.h). Parameters: stream, schema, table, sign,
// lsns (pg_lsn[]), images (two-dimensional text[]).
std::string log_images_sql();
// update_one_sql / delete_one_sql (REPLICA IDENTITY FULL) that also log the
// row removed (-1) and the row added (+1), or a 0 when no row matched.
// After the statement's own parameters: stream, schema, table, lsn, then
// the old image (and for an update the new one), each a text[] literal.
std::string logged_update_one_sql(const TableShape& table, std::string_view set_mask,
                                  std::string_view key_mask);
std::string logged_delete_one_sql(const TableShape& table, std::string_view key_mask);
// Appends one row of column texts as a text[] literal, {"a",NULL,...}, to
// `out`; a null pointer is SQL NULL.
void append_image_literal(std::string& out, const std::vector<const std::string*>& row);

}  // namespace switchyard
