// What differs between the engines an ODBC legacy source can be: how
// identifiers are quoted and how the catalog is read. One Dialect per
// engine, chosen from SQLGetInfo(SQL_DBMS_NAME); the capture DDL, the
// watermark and the upsert of later releases join it here.
//
// The catalog is read as the engine declares it (MariaDB's COLUMN_TYPE,
// "int(10) unsigned", "tinyint(1)", "enum('new','paid')"; SQLite's declared
// type, which it does not enforce), for the schema translation to map to
// PostgreSQL types.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "drivers/odbc/connection.h"

namespace switchyard::odbc {

struct LegacyColumn {
  std::string name;
  std::string declared;  // the engine's full declaration: "decimal(10,2) unsigned"
  std::string base;      // its type name in lower case: "decimal", "varchar", "enum"
  bool nullable = true;
  bool is_unsigned = false;
  bool auto_increment = false;
  std::optional<std::string> default_value;  // as declared (an expression or a literal)
  std::string charset;  // MariaDB's character set of text ("latin1"); empty otherwise
};

struct LegacyForeignKey {
  std::string name;
  std::vector<std::string> columns;
  std::string referenced_table;
  std::vector<std::string> referenced_columns;
  std::string on_delete;  // "NO ACTION", "CASCADE", "SET NULL", "RESTRICT", "SET DEFAULT"
  std::string on_update;
};

struct LegacyTable {
  std::string schema;  // MariaDB: the database; SQLite: "main"
  std::string name;
  std::vector<LegacyColumn> columns;
  std::vector<std::string> primary_key;
  // Unique keys whose columns are all NOT NULL: each can identify rows
  // when there is no primary key.
  std::vector<std::vector<std::string>> unique_keys;
  std::vector<LegacyForeignKey> foreign_keys;
};

// binary, varbinary, *blob: captured and read in hex.
bool is_binary(const LegacyColumn& column);

// The row format of trigger capture: each value as its length in characters,
// a colon and its text ("3:abc"), or "N" for NULL, one after another with
// nothing between ("2:423:abcN"). Built by the engine's own string
// functions inside the application's transaction, it costs the trigger far
// less than a JSON array (which escapes and re-encodes every character).
// Appends the values of `text` to `values`; false when it is not a whole
// number of well-formed values. The views point into `text`.
bool parse_captured_row(std::string_view text,
                        std::vector<std::optional<std::string_view>>& values);

class Dialect {
 public:
  virtual ~Dialect() = default;

  // The dialect of the engine behind `connection`; throws Error(kPrecondition)
  // naming the engine when switchyard does not support it.
  static std::unique_ptr<Dialect> detect(const Connection& connection);

  virtual std::string engine() const = 0;  // "MariaDB", "SQLite"
  virtual std::string quote(std::string_view identifier) const = 0;
  // A column of `row` (NEW, OLD, or a table alias) in the text form the
  // capture records it in, the same for the snapshot's reads: binary
  // values in hex; MariaDB TIMESTAMP as "@" + seconds since the epoch
  // (whatever the session's time zone); SQLite REAL with 17 digits.
  virtual std::string captured_value(const std::string& row, const LegacyColumn& column) const = 0;
  // A table's size as the engine estimates it (SQLite counts its rows).
  struct TableSize {
    uint64_t rows = 0;
    uint64_t bytes = 0;
  };
  virtual TableSize table_size(Connection& connection, const std::string& table) const = 0;
  // Every base table of the connection's database, ordered by name.
  virtual std::vector<LegacyTable> tables(Connection& connection) const = 0;
  // The same tables by schema and name only (no columns or keys): one cheap
  // query, for noticing a table created while the stream runs.
  virtual std::vector<LegacyTable> table_names(Connection& connection) const = 0;

  // ---- trigger capture ------------------------------------------------------
  // A changelog table, and per captured table AFTER INSERT / UPDATE / DELETE
  // row triggers that append each change to it inside the application's own
  // transaction: the table, the kind ('I', 'U', 'D'), the old key (updates
  // and deletes) and the new row (inserts and updates), each a captured
  // row (parse_captured_row) of the values in column order, as
  // captured_value() writes them. `seq` orders the changes; it is allocated
  // at insert time, so it commits out of order (see the safe watermark).
  static std::string changelog_name(const std::string& stream);
  std::vector<std::string> capture_install(const std::string& stream,
                                           const std::vector<LegacyTable>& tables) const;
  // The highest changelog sequence committed now, and then (in that order)
  // the transactions open at that moment: once all of those have ended,
  // nothing at or below `highest` can still appear (a sequence value is
  // allocated when the row is written, so one allocated later is higher).
  // SQLite, a single writer, has none open.
  struct ChangelogProbe {
    uint64_t highest = 0;
    std::vector<std::string> open;  // the engine's transaction ids
  };
  virtual ChangelogProbe probe_changelog(Connection& connection,
                                         const std::string& stream) const = 0;
  // The highest changelog sequence committed now (0: none). Every change
  // visible to a read made before this call is at or below it.
  uint64_t highest_sequence(Connection& connection, const std::string& stream) const;
  // Whether every one of `open` has ended (committed or rolled back).
  virtual bool transactions_ended(Connection& connection,
                                  const std::vector<std::string>& open) const = 0;

  // The changelog's rows from `first` (a parameter) up to `last` (a
  // parameter), in order, at most `limit`: seq, table_name, kind, old_key,
  // new_row, and when the row was captured in seconds since the epoch.
  std::string changelog_read(const std::string& stream, size_t limit) const;
  // A read transaction every statement of which sees one snapshot (the
  // snapshot copy's), begun and ended with exec().
  virtual std::string consistent_read_begin() const = 0;
  // The engine's time now, in seconds since the epoch.
  virtual std::string epoch_now() const = 0;

  // What the connected user may do of what capture needs (check, before
  // init tries): MariaDB's privileges on the database and globally, and
  // whether binary logging lets it create triggers. SQLite has no rights.
  struct CaptureRights {
    std::string grantee;               // 'app'@'10.0.0.%'
    std::string database;              // the connection's
    std::vector<std::string> missing;  // of SELECT ... TRIGGER on the database
    bool process = true;               // PROCESS: the open transactions
    bool binlog_allows_triggers = true;
  };
  virtual CaptureRights capture_rights(Connection& connection) const = 0;

  // Capture triggers of `stream` on the database now (those writing to its
  // changelog), by name.
  virtual std::vector<std::string> capture_triggers(Connection& connection,
                                                    const std::string& stream) const = 0;

  // What capture_install created, as statements that do not fail when an
  // object is already gone (a teardown after a half-done init).
  std::vector<std::string> capture_remove(const std::string& stream,
                                          const std::vector<LegacyTable>& tables) const;

  // SQL true when `a` and `b` (values of `column`) are the same bytes, NULL
  // equal to NULL, whatever the column's collation says (capture's key
  // comparison, repair's exact row).
  virtual std::string exactly_equal(const std::string& a, const std::string& b,
                                    const LegacyColumn& column) const = 0;

 protected:
  // What the engines spell differently in the capture's DDL.
  virtual std::string changelog_ddl(const std::string& changelog) const = 0;
  // The changelog's captured_at in seconds since the epoch.
  virtual std::string captured_epoch() const = 0;
  // The length in characters of a text expression, and the concatenation of
  // expressions (NULL if any is NULL).
  virtual std::string char_length(const std::string& text) const = 0;
  virtual std::string concat(const std::vector<std::string>& parts) const = 0;
  virtual std::string string_literal(const std::string& text) const = 0;
  // A row trigger `timing` ("AFTER", "BEFORE") `event` on `table` running
  // `statements` (one or more, each without its ';').
  virtual std::string row_trigger(const std::string& name, const std::string& timing,
                                  const std::string& event, const std::string& table,
                                  const std::vector<std::string>& statements) const = 0;
  // Whether rows a foreign key's action (CASCADE, SET NULL) changes fire
  // their own table's triggers. SQLite's do; MariaDB's do not, so its
  // capture records them from a BEFORE trigger on the parent instead.
  virtual bool fk_actions_fire_triggers() const = 0;

 private:
  // A captured row of `values` (captured_value() expressions, or "NULL"),
  // each flagged whether it can be NULL.
  std::string captured_row(const std::vector<std::pair<std::string, bool>>& values) const;
  // The captured row of `names`' values of `row` (NEW, OLD, an alias).
  std::string captured_row_of(const std::string& row, const LegacyTable& table,
                              const std::vector<std::string>& names) const;
  // The changelog inserts that record, for a change of `parent` (DELETE or
  // UPDATE), the rows its referencing tables' foreign key actions change:
  // children deleted or updated, and (DELETE CASCADE) their children too.
  std::vector<std::string> fk_action_captures(const std::string& changelog,
                                              const LegacyTable& parent,
                                              const std::vector<LegacyTable>& tables,
                                              const std::string& event) const;
};

}  // namespace switchyard::odbc
