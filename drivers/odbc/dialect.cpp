#include "drivers/odbc/dialect.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "common/error.h"

namespace switchyard::odbc {
namespace {

using TextRow = std::vector<std::optional<std::string>>;

// A catalog query's rows as text (NULL as nullopt).
std::vector<TextRow> text_rows(Connection& connection, const std::string& sql) {
  Statement statement(connection, sql, {}, 256);
  std::vector<TextRow> rows;
  std::vector<Value> row;
  while (statement.next(row)) {
    TextRow text;
    for (const Value& value : row) {
      if (value.type == ValueType::kNull) {
        text.emplace_back();
      } else if (value.type == ValueType::kText || value.type == ValueType::kNumeric ||
                 value.type == ValueType::kBytes) {
        text.emplace_back(std::string(value.bytes));
      } else {
        text.emplace_back(to_text(value));
      }
    }
    rows.push_back(std::move(text));
  }
  return rows;
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// "decimal(10,2) unsigned" -> "decimal"; "UNSIGNED BIG INT" -> "unsigned big int".
std::string base_of(const std::string& declared) {
  const size_t paren = declared.find('(');
  std::string base = lower(declared.substr(0, paren));
  while (!base.empty() && base.back() == ' ') base.pop_back();
  return base;
}

LegacyTable* find(std::vector<LegacyTable>& tables, const std::string& name) {
  for (auto& table : tables) {
    if (table.name == name) return &table;
  }
  return nullptr;
}

bool all_not_null(const LegacyTable& table, const std::vector<std::string>& columns) {
  return std::all_of(columns.begin(), columns.end(), [&](const std::string& name) {
    return std::any_of(table.columns.begin(), table.columns.end(), [&](const LegacyColumn& column) {
      return column.name == name && !column.nullable;
    });
  });
}

// ---- trigger capture, shared ------------------------------------------------

std::vector<std::string> all_columns(const LegacyTable& table) {
  std::vector<std::string> all;
  for (const auto& column : table.columns) all.push_back(column.name);
  return all;
}

// FNV-1a: a stable short name for an identifier that would be too long.
std::string short_hash(const std::string& text) {
  uint64_t hash = 14695981039346656037ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (int shift = 60; shift >= 0; shift -= 4) out += kDigits[(hash >> shift) & 0xf];
  return out;
}

// sy_<stream>_<table>_<suffix>, within the engines' 64-character limit.
std::string trigger_name(const std::string& stream, const std::string& table,
                         const std::string& suffix) {
  std::string name = "sy_" + stream + "_" + table + "_" + suffix;
  if (name.size() > 64) name = "sy_" + short_hash(stream + "." + table) + "_" + suffix;
  return name;
}

// The columns that identify a row: the primary key, else the first unique
// key of NOT NULL columns, else every column.
std::vector<std::string> key_columns(const LegacyTable& table) {
  if (!table.primary_key.empty()) return table.primary_key;
  if (!table.unique_keys.empty()) return table.unique_keys.front();
  return all_columns(table);
}

}  // namespace

bool is_binary(const LegacyColumn& column) {
  static const char* kBinary[] = {"binary", "varbinary",  "tinyblob",
                                  "blob",   "mediumblob", "longblob"};
  return std::any_of(std::begin(kBinary), std::end(kBinary),
                     [&](const char* name) { return column.base == name; });
}

namespace {

// MariaDB's character data: text in a character set, with a collation.
bool is_character(const LegacyColumn& column) {
  static const char* kCharacter[] = {"char",       "varchar",  "tinytext", "text",
                                     "mediumtext", "longtext", "enum",     "set"};
  return std::any_of(std::begin(kCharacter), std::end(kCharacter),
                     [&](const char* base) { return column.base == base; });
}

// ---- MariaDB ----------------------------------------------------------------

// Longer than InnoDB's refresh interval of information_schema.INNODB_TRX
// (TRX_I_S_CACHE_MIN_REFRESH_TIME, 100 ms).
constexpr auto kTrxCacheAge = std::chrono::milliseconds(110);

class MariaDB final : public Dialect {
 public:
  std::string engine() const override { return "MariaDB"; }

  std::string quote(std::string_view identifier) const override {
    std::string out = "`";
    for (char c : identifier) {
      out += c;
      if (c == '`') out += '`';
    }
    return out + "`";
  }

  std::vector<LegacyTable> table_names(Connection& connection) const override {
    std::vector<LegacyTable> tables;
    for (auto& row : text_rows(connection,
                               "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
                               "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' "
                               "ORDER BY TABLE_NAME")) {
      LegacyTable table;
      table.schema = row[0].value_or("");
      table.name = row[1].value_or("");
      tables.push_back(std::move(table));
    }
    return tables;
  }

  std::vector<LegacyTable> tables(Connection& connection) const override {
    std::vector<LegacyTable> tables = table_names(connection);
    for (auto& row : text_rows(
             connection,
             "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE, COLUMN_DEFAULT, "
             "EXTRA, CHARACTER_SET_NAME FROM information_schema.COLUMNS "
             "WHERE TABLE_SCHEMA = DATABASE() "
             "ORDER BY TABLE_NAME, ORDINAL_POSITION")) {
      LegacyTable* table = find(tables, row[0].value_or(""));
      if (!table) continue;  // a view's columns
      LegacyColumn column;
      column.name = row[1].value_or("");
      column.declared = row[2].value_or("");
      column.base = lower(row[3].value_or(""));
      column.nullable = row[4] == "YES";
      column.is_unsigned = lower(column.declared).find(" unsigned") != std::string::npos;
      column.auto_increment =
          lower(row[6].value_or("")).find("auto_increment") != std::string::npos;
      // MariaDB says NULL for "no default" on a nullable column.
      if (row[5] && *row[5] != "NULL") column.default_value = row[5];
      column.charset = row[7].value_or("");
      table->columns.push_back(std::move(column));
    }
    std::map<std::pair<std::string, std::string>, std::vector<std::string>> uniques;
    for (auto& row : text_rows(
             connection,
             "SELECT tc.TABLE_NAME, tc.CONSTRAINT_NAME, tc.CONSTRAINT_TYPE, k.COLUMN_NAME "
             "FROM information_schema.TABLE_CONSTRAINTS tc "
             "JOIN information_schema.KEY_COLUMN_USAGE k ON k.CONSTRAINT_SCHEMA = "
             "  tc.CONSTRAINT_SCHEMA AND k.TABLE_NAME = tc.TABLE_NAME AND k.CONSTRAINT_NAME = "
             "  tc.CONSTRAINT_NAME "
             "WHERE tc.TABLE_SCHEMA = DATABASE() AND tc.CONSTRAINT_TYPE IN ('PRIMARY KEY', "
             "'UNIQUE') "
             "ORDER BY tc.TABLE_NAME, tc.CONSTRAINT_NAME, k.ORDINAL_POSITION")) {
      LegacyTable* table = find(tables, row[0].value_or(""));
      if (!table) continue;
      if (row[2] == "PRIMARY KEY") {
        table->primary_key.push_back(row[3].value_or(""));
      } else {
        uniques[{table->name, row[1].value_or("")}].push_back(row[3].value_or(""));
      }
    }
    for (auto& [key, columns] : uniques) {
      LegacyTable* table = find(tables, key.first);
      if (all_not_null(*table, columns)) table->unique_keys.push_back(columns);
    }
    for (auto& row : text_rows(
             connection,
             "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, "
             "k.REFERENCED_COLUMN_NAME, r.DELETE_RULE, r.UPDATE_RULE "
             "FROM information_schema.KEY_COLUMN_USAGE k "
             "JOIN information_schema.REFERENTIAL_CONSTRAINTS r ON r.CONSTRAINT_SCHEMA = "
             "  k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = "
             "  k.TABLE_NAME "
             "WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL "
             "ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION")) {
      LegacyTable* table = find(tables, row[0].value_or(""));
      if (!table) continue;
      const std::string name = row[1].value_or("");
      if (table->foreign_keys.empty() || table->foreign_keys.back().name != name) {
        LegacyForeignKey key;
        key.name = name;
        key.referenced_table = row[3].value_or("");
        key.on_delete = row[5].value_or("NO ACTION");
        key.on_update = row[6].value_or("NO ACTION");
        table->foreign_keys.push_back(std::move(key));
      }
      table->foreign_keys.back().columns.push_back(row[2].value_or(""));
      table->foreign_keys.back().referenced_columns.push_back(row[4].value_or(""));
    }
    return tables;
  }
  ChangelogProbe probe_changelog(Connection& connection, const std::string& stream) const override {
    ChangelogProbe probe;
    // Each statement with autocommit sees what is committed when it starts:
    // the highest sequence first, then who is still open.
    const auto highest =
        text_rows(connection, "SELECT COALESCE(MAX(seq), 0) FROM " + quote(changelog_name(stream)));
    probe.highest = std::stoull(highest.at(0).at(0).value_or("0"));
    // INNODB_TRX is a cache InnoDB refreshes when it is read and more than
    // 100 ms old: read sooner, it could predate a transaction that wrote a
    // sequence below `highest`. After this wait, it is younger than that
    // highest sequence.
    std::this_thread::sleep_for(kTrxCacheAge);
    for (auto& row : text_rows(connection,
                               "SELECT trx_id FROM information_schema.INNODB_TRX "
                               "WHERE trx_mysql_thread_id <> CONNECTION_ID()")) {
      probe.open.push_back(row[0].value_or(""));
    }
    return probe;
  }

  bool transactions_ended(Connection& connection,
                          const std::vector<std::string>& open) const override {
    if (open.empty()) return true;
    std::string list;
    for (const auto& id : open) {
      // Transaction ids are numbers; anything else is not ours to quote.
      if (id.empty() || !std::all_of(id.begin(), id.end(), ::isdigit)) {
        throw Error(ErrorKind::kInternal, "odbc: unexpected InnoDB transaction id '" + id + "'");
      }
      list += (list.empty() ? "" : ", ") + id;
    }
    const auto left = text_rows(connection,
                                "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE "
                                "trx_id IN (" +
                                    list + ")");
    return left.at(0).at(0) == "0";
  }

 protected:
  std::string changelog_ddl(const std::string& changelog) const override {
    return "CREATE TABLE IF NOT EXISTS " + changelog +
           " (seq BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, table_name VARCHAR(64) NOT NULL, "
           "kind CHAR(1) NOT NULL, old_key LONGTEXT NULL, new_row LONGTEXT NULL, "
           "captured_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) "
           "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
  }

  std::string captured_value(const std::string& row, const LegacyColumn& column) const override {
    const std::string ref = row + "." + quote(column.name);
    if (is_binary(column)) return "HEX(" + ref + ")";
    if (column.base == "bit") return "CAST(" + ref + " + 0 AS CHAR)";
    // Integers and utf8mb4 text need no conversion (a cast is a tenth of a
    // trigger's cost): CONCAT and CHAR_LENGTH take them as they are. Text
    // in any other character set is converted: CONCAT refuses to mix two
    // that are not Unicode (latin1 and cp1251), and that error would fail
    // the application's own write.
    static const char* kIntegers[] = {"tinyint", "smallint", "mediumint",
                                      "int",     "integer",  "bigint"};
    if (std::any_of(std::begin(kIntegers), std::end(kIntegers),
                    [&](const char* base) { return column.base == base; })) {
      return ref;
    }
    if (is_character(column)) {
      return column.charset == "utf8mb4" ? ref : "CONVERT(" + ref + " USING utf8mb4)";
    }
    if (column.base == "timestamp") {
      // Shown in the session's time zone otherwise, which the application
      // chooses. UNIX_TIMESTAMP is 0 only for the zero timestamp.
      return "CASE WHEN UNIX_TIMESTAMP(" + ref +
             ") = 0 THEN '0000-00-00 00:00:00' ELSE CONCAT('@', UNIX_TIMESTAMP(" + ref + ")) END";
    }
    return "CAST(" + ref + " AS CHAR CHARACTER SET utf8mb4)";
  }

  std::string char_length(const std::string& text) const override {
    return "CHAR_LENGTH(" + text + ")";
  }
  std::string concat(const std::vector<std::string>& parts) const override {
    std::string out;
    for (const auto& part : parts) out += (out.empty() ? "CONCAT(" : ", ") + part;
    return out + ")";
  }
  std::string captured_epoch() const override { return "UNIX_TIMESTAMP(captured_at)"; }
  std::string exactly_equal(const std::string& a, const std::string& b,
                            const LegacyColumn& column) const override {
    // Character data byte for byte: a collation would call 'a' and 'A', or
    // 'b' and 'b ', the same key.
    if (!is_character(column)) return a + " <=> " + b;
    return "CAST(" + a + " AS BINARY) <=> CAST(" + b + " AS BINARY)";
  }
  CaptureRights capture_rights(Connection& connection) const override {
    CaptureRights rights;
    // information_schema spells a grantee 'user'@'host'.
    const std::string grantee =
        "CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', "
        "SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')";
    const auto head = text_rows(connection, "SELECT " + grantee +
                                                ", DATABASE(), @@log_bin, "
                                                "@@log_bin_trust_function_creators");
    rights.grantee = head.at(0).at(0).value_or("");
    rights.database = head.at(0).at(1).value_or("");
    std::set<std::string> held;
    for (const auto& row :
         text_rows(connection,
                   "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE "
                   "GRANTEE = " +
                       grantee +
                       " UNION SELECT PRIVILEGE_TYPE FROM "
                       "information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = " +
                       grantee + " AND TABLE_SCHEMA = DATABASE()")) {
      held.insert(row.at(0).value_or(""));
    }
    for (const char* privilege :
         {"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "TRIGGER"}) {
      if (!held.count(privilege)) rights.missing.push_back(privilege);
    }
    rights.process = held.count("PROCESS") > 0;
    rights.binlog_allows_triggers = head.at(0).at(2).value_or("0") == "0" ||
                                    head.at(0).at(3).value_or("0") == "1" || held.count("SUPER");
    return rights;
  }
  TableSize table_size(Connection& connection, const std::string& table) const override {
    TableSize size;
    for (const auto& row :
         text_rows(connection,
                   "SELECT TABLE_ROWS, DATA_LENGTH FROM information_schema.TABLES "
                   "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = " +
                       string_literal(table))) {
      size.rows = std::stoull(row.at(0).value_or("0"));
      size.bytes = std::stoull(row.at(1).value_or("0"));
    }
    return size;
  }
  std::vector<std::string> capture_triggers(Connection& connection,
                                            const std::string& stream) const override {
    std::vector<std::string> out;
    for (const auto& row : text_rows(connection,
                                     "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE "
                                     "TRIGGER_SCHEMA = DATABASE() AND ACTION_STATEMENT LIKE " +
                                         string_literal("%" + changelog_name(stream) + "%") +
                                         " ORDER BY TRIGGER_NAME")) {
      out.push_back(row.at(0).value_or(""));
    }
    return out;
  }
  std::string consistent_read_begin() const override {
    return "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY";
  }
  std::string epoch_now() const override { return "UNIX_TIMESTAMP(NOW(6))"; }

  std::string string_literal(const std::string& text) const override {
    std::string out = "'";
    for (char c : text) {
      if (c == '\\' || c == '\'') out += c;
      out += c;
    }
    return out + "'";
  }

  std::string row_trigger(const std::string& name, const std::string& timing,
                          const std::string& event, const std::string& table,
                          const std::vector<std::string>& statements) const override {
    std::string body = statements.front();
    if (statements.size() > 1) {
      body = "BEGIN ";
      for (const auto& statement : statements) body += statement + "; ";
      body += "END";
    }
    return "CREATE TRIGGER IF NOT EXISTS " + quote(name) + " " + timing + " " + event + " ON " +
           quote(table) + " FOR EACH ROW " + body;
  }
  bool fk_actions_fire_triggers() const override { return false; }
};

// ---- SQLite -----------------------------------------------------------------

class SQLite final : public Dialect {
 public:
  std::string engine() const override { return "SQLite"; }

  std::string quote(std::string_view identifier) const override {
    std::string out = "\"";
    for (char c : identifier) {
      out += c;
      if (c == '"') out += '"';
    }
    return out + "\"";
  }

  std::vector<LegacyTable> table_names(Connection& connection) const override {
    std::vector<LegacyTable> tables;
    for (auto& row : text_rows(connection,
                               "SELECT name FROM sqlite_master WHERE type = 'table' "
                               "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")) {
      LegacyTable table;
      table.schema = "main";
      table.name = row[0].value_or("");
      tables.push_back(std::move(table));
    }
    return tables;
  }

  std::vector<LegacyTable> tables(Connection& connection) const override {
    std::vector<LegacyTable> tables = table_names(connection);
    for (LegacyTable& table : tables) {
      std::vector<std::pair<int, std::string>> key;
      for (auto& column_row :
           text_rows(connection, "PRAGMA table_info(" + quote(table.name) + ")")) {
        LegacyColumn column;
        column.name = column_row[1].value_or("");
        column.declared = column_row[2].value_or("");
        column.base = base_of(column.declared);
        column.nullable = column_row[3] != "1";
        column.default_value = column_row[4];
        const int position = std::stoi(column_row[5].value_or("0"));
        if (position > 0) key.emplace_back(position, column.name);
        table.columns.push_back(std::move(column));
      }
      std::sort(key.begin(), key.end());
      for (auto& [position, name] : key) table.primary_key.push_back(name);
      // INTEGER PRIMARY KEY is the rowid: SQLite assigns it (and without
      // AUTOINCREMENT may reuse the highest after a delete).
      if (key.size() == 1) {
        for (auto& column : table.columns) {
          if (column.name == key.front().second && column.base == "integer") {
            column.auto_increment = true;
            column.nullable = false;
          }
        }
      }
      for (auto& index : text_rows(connection, "PRAGMA index_list(" + quote(table.name) + ")")) {
        if (index[2] != "1" || index[3] == "pk") continue;
        std::vector<std::string> columns;
        for (auto& part :
             text_rows(connection, "PRAGMA index_info(" + quote(index[1].value_or("")) + ")")) {
          columns.push_back(part[2].value_or(""));
        }
        if (all_not_null(table, columns)) table.unique_keys.push_back(columns);
      }
      for (auto& fk : text_rows(connection, "PRAGMA foreign_key_list(" + quote(table.name) + ")")) {
        const std::string id = fk[0].value_or("");
        if (table.foreign_keys.empty() || table.foreign_keys.back().name != id) {
          LegacyForeignKey key_of;
          key_of.name = id;
          key_of.referenced_table = fk[2].value_or("");
          key_of.on_update = fk[5].value_or("NO ACTION");
          key_of.on_delete = fk[6].value_or("NO ACTION");
          table.foreign_keys.push_back(std::move(key_of));
        }
        table.foreign_keys.back().columns.push_back(fk[3].value_or(""));
        // A reference to the parent's primary key may leave "to" empty.
        table.foreign_keys.back().referenced_columns.push_back(fk[4].value_or(""));
      }
    }
    return tables;
  }
  ChangelogProbe probe_changelog(Connection& connection, const std::string& stream) const override {
    // One writer at a time: sequences commit in their order.
    ChangelogProbe probe;
    const auto highest =
        text_rows(connection, "SELECT COALESCE(MAX(seq), 0) FROM " + quote(changelog_name(stream)));
    probe.highest = std::stoull(highest.at(0).at(0).value_or("0"));
    return probe;
  }

  bool transactions_ended(Connection&, const std::vector<std::string>& open) const override {
    return open.empty();
  }

 protected:
  std::string changelog_ddl(const std::string& changelog) const override {
    return "CREATE TABLE IF NOT EXISTS " + changelog +
           " (seq INTEGER PRIMARY KEY AUTOINCREMENT, table_name TEXT NOT NULL, kind TEXT NOT "
           "NULL, old_key TEXT, new_row TEXT, "
           "captured_at REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0))";
  }

  std::string captured_value(const std::string& row, const LegacyColumn& column) const override {
    const std::string ref = row + "." + quote(column.name);
    if (column.base.find("blob") != std::string::npos) return "hex(" + ref + ")";
    // CAST(real AS TEXT) keeps 15 digits: not every double round-trips.
    return "CASE typeof(" + ref + ") WHEN 'real' THEN printf('%.17g', " + ref +
           ") WHEN 'blob' THEN hex(" + ref + ") ELSE CAST(" + ref + " AS TEXT) END";
  }

  std::string char_length(const std::string& text) const override {
    return "length(" + text + ")";  // characters, for text
  }
  std::string concat(const std::vector<std::string>& parts) const override {
    std::string out;
    for (const auto& part : parts) out += (out.empty() ? "" : " || ") + part;
    return out;
  }
  std::string captured_epoch() const override { return "captured_at"; }
  CaptureRights capture_rights(Connection&) const override { return {}; }
  std::string exactly_equal(const std::string& a, const std::string& b,
                            const LegacyColumn&) const override {
    return a + " IS " + b + " COLLATE BINARY";  // IS: NULL-safe
  }
  TableSize table_size(Connection& connection, const std::string& table) const override {
    // No statistics kept: the rows are counted, their size estimated.
    TableSize size;
    for (const auto& row : text_rows(connection, "SELECT COUNT(*) FROM " + quote(table))) {
      size.rows = std::stoull(row.at(0).value_or("0"));
    }
    size.bytes = size.rows * 100;
    return size;
  }
  std::vector<std::string> capture_triggers(Connection& connection,
                                            const std::string& stream) const override {
    std::vector<std::string> out;
    for (const auto& row :
         text_rows(connection,
                   "SELECT name FROM sqlite_master WHERE type = 'trigger' AND "
                   "sql LIKE " +
                       string_literal("%" + changelog_name(stream) + "%") + " ORDER BY name")) {
      out.push_back(row.at(0).value_or(""));
    }
    return out;
  }
  std::string consistent_read_begin() const override { return "BEGIN"; }
  std::string epoch_now() const override { return "((julianday('now') - 2440587.5) * 86400.0)"; }

  std::string string_literal(const std::string& text) const override {
    std::string out = "'";
    for (char c : text) {
      if (c == '\'') out += c;
      out += c;
    }
    return out + "'";
  }

  std::string row_trigger(const std::string& name, const std::string& timing,
                          const std::string& event, const std::string& table,
                          const std::vector<std::string>& statements) const override {
    std::string body;
    for (const auto& statement : statements) body += statement + "; ";
    return "CREATE TRIGGER IF NOT EXISTS " + quote(name) + " " + timing + " " + event + " ON " +
           quote(table) + " BEGIN " + body + "END";
  }
  bool fk_actions_fire_triggers() const override { return true; }
};

}  // namespace

std::string Dialect::changelog_name(const std::string& stream) {
  return "switchyard_" + stream + "_changelog";
}

std::string Dialect::captured_row(const std::vector<std::pair<std::string, bool>>& values) const {
  std::vector<std::string> parts;
  for (const auto& [value, nullable] : values) {
    if (value == "NULL") {
      parts.push_back("'N'");
    } else if (nullable) {
      parts.push_back("IFNULL(" + concat({char_length(value), "':'", value}) + ", 'N')");
    } else {
      // One flat concatenation for the values that cannot be NULL.
      parts.insert(parts.end(), {char_length(value), "':'", value});
    }
  }
  return concat(parts);
}

std::string Dialect::captured_row_of(const std::string& row, const LegacyTable& table,
                                     const std::vector<std::string>& names) const {
  std::vector<std::pair<std::string, bool>> values;
  for (const auto& name : names) {
    for (const auto& column : table.columns) {
      if (column.name == name) values.emplace_back(captured_value(row, column), column.nullable);
    }
  }
  return captured_row(values);
}

bool parse_captured_row(std::string_view text,
                        std::vector<std::optional<std::string_view>>& values) {
  size_t at = 0;
  while (at < text.size()) {
    if (text[at] == 'N') {
      values.emplace_back(std::nullopt);
      ++at;
      continue;
    }
    size_t length = 0;
    const size_t digits_from = at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      if (length > text.size()) return false;
      length = length * 10 + static_cast<size_t>(text[at++] - '0');
    }
    if (at == digits_from || at >= text.size() || text[at] != ':') return false;
    const size_t from = ++at;
    // `length` characters of UTF-8: each starts with a byte that is not a
    // continuation byte (10xxxxxx).
    for (size_t left = length; left > 0; --left) {
      if (at >= text.size()) return false;
      ++at;
      while (at < text.size() && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) ++at;
    }
    values.emplace_back(text.substr(from, at - from));
  }
  return true;
}

std::vector<std::string> Dialect::capture_install(const std::string& stream,
                                                  const std::vector<LegacyTable>& tables) const {
  const std::string changelog = quote(changelog_name(stream));
  std::vector<std::string> out{changelog_ddl(changelog)};
  for (const auto& table : tables) {
    const std::string into = "INSERT INTO " + changelog +
                             " (table_name, kind, old_key, new_row) VALUES (" +
                             string_literal(table.name) + ", ";
    const std::string all = captured_row_of("NEW", table, all_columns(table));
    const std::string old_key = captured_row_of("OLD", table, key_columns(table));
    out.push_back(row_trigger(trigger_name(stream, table.name, "ins"), "AFTER", "INSERT",
                              table.name, {into + "'I', NULL, " + all + ")"}));
    // An update records its old key only when the key changed (most do
    // not): a smaller row, built with less work, in the application's
    // transaction.
    std::string same_key;
    for (const auto& name : key_columns(table)) {
      for (const auto& column : table.columns) {
        if (column.name != name) continue;
        same_key += (same_key.empty() ? "" : " AND ") +
                    exactly_equal("NEW." + quote(name), "OLD." + quote(name), column);
      }
    }
    out.push_back(row_trigger(trigger_name(stream, table.name, "upd"), "AFTER", "UPDATE",
                              table.name,
                              {into + "'U', CASE WHEN " + same_key + " THEN NULL ELSE " + old_key +
                               " END, " + all + ")"}));
    out.push_back(row_trigger(trigger_name(stream, table.name, "del"), "AFTER", "DELETE",
                              table.name, {into + "'D', " + old_key + ", NULL)"}));
    if (fk_actions_fire_triggers()) continue;
    for (const char* event : {"DELETE", "UPDATE"}) {
      const auto captures = fk_action_captures(changelog, table, tables, event);
      if (captures.empty()) continue;
      out.push_back(row_trigger(trigger_name(stream, table.name, event[0] == 'D' ? "fkd" : "fku"),
                                "BEFORE", event, table.name, captures));
    }
  }
  return out;
}

std::vector<std::string> Dialect::fk_action_captures(const std::string& changelog,
                                                     const LegacyTable& parent,
                                                     const std::vector<LegacyTable>& tables,
                                                     const std::string& event) const {
  // Updates (SET NULL, ON UPDATE CASCADE) come before deletes: a row both
  // set to NULL through one key and deleted through another is gone,
  // whichever the engine did first.
  std::vector<std::string> updates, deletes;
  // `joins` and `where`: the child's rows that the parent's row (OLD)
  // reaches, through the chain of tables joined so far.
  std::function<void(const LegacyTable&, const std::string&, const std::string&, const std::string&,
                     int)>
      visit = [&](const LegacyTable& referenced, const std::string& alias, const std::string& chain,
                  const std::string& chain_where, int depth) {
        for (const LegacyTable& child : tables) {
          for (const LegacyForeignKey& key : child.foreign_keys) {
            if (key.referenced_table != referenced.name) continue;
            const std::string& action = event == "DELETE" ? key.on_delete : key.on_update;
            if (action != "CASCADE" && action != "SET NULL") continue;
            const std::string child_alias = "c" + std::to_string(depth);
            std::string match;
            for (size_t idx = 0; idx < key.columns.size(); ++idx) {
              match += std::string(idx ? " AND " : "") + child_alias + "." +
                       quote(key.columns[idx]) + " = " + alias + "." +
                       quote(key.referenced_columns[idx]);
            }
            const std::string joins =
                chain.empty()
                    ? " FROM " + quote(child.name) + " " + child_alias
                    : chain + " JOIN " + quote(child.name) + " " + child_alias + " ON " + match;
            const std::string where = chain.empty() ? match : chain_where;
            const std::string rows = joins + " WHERE " + where;
            // Only when the referenced columns really change.
            std::string changed;
            if (event == "UPDATE") {
              for (const auto& column : key.referenced_columns) {
                changed += std::string(changed.empty() ? " AND NOT (" : " AND ") + "OLD." +
                           quote(column) + " <=> NEW." + quote(column);
              }
              changed += ")";
            }
            const std::string old_key = captured_row_of(child_alias, child, key_columns(child));
            std::string head = "INSERT INTO " + changelog +
                               " (table_name, kind, old_key, new_row) SELECT " +
                               string_literal(child.name) + ", ";
            if (event == "DELETE" && action == "CASCADE") {
              // Its own children first, as the engine removes them.
              if (depth < 4) visit(child, child_alias, joins, where, depth + 1);
              deletes.push_back(head + "'D', " + old_key + ", NULL" + rows + changed);
              continue;
            }
            // SET NULL, or ON UPDATE CASCADE: the row as the action leaves it.
            std::vector<std::pair<std::string, bool>> items;
            for (const auto& column : child.columns) {
              std::string value = captured_value(child_alias, column);
              for (size_t idx = 0; idx < key.columns.size(); ++idx) {
                if (key.columns[idx] != column.name) continue;
                value = "NULL";
                if (action == "CASCADE") {
                  for (const auto& referenced_column : referenced.columns) {
                    if (referenced_column.name == key.referenced_columns[idx]) {
                      value = captured_value("NEW", referenced_column);
                    }
                  }
                }
              }
              // The parent's new value may be NULL where the child's was not.
              items.emplace_back(value, true);
            }
            updates.push_back(head + "'U', " + old_key + ", " + captured_row(items) + rows +
                              changed);
          }
        }
      };
  visit(parent, "OLD", "", "", 1);
  updates.insert(updates.end(), deletes.begin(), deletes.end());
  return updates;
}

uint64_t Dialect::highest_sequence(Connection& connection, const std::string& stream) const {
  Statement statement(connection, "SELECT MAX(seq) FROM " + quote(changelog_name(stream)), {}, 1);
  std::vector<Value> row;
  if (!statement.next(row) || row[0].type == ValueType::kNull) return 0;
  if (row[0].type == ValueType::kInt) return static_cast<uint64_t>(row[0].integer);
  return std::stoull(std::string(row[0].bytes));
}

std::string Dialect::changelog_read(const std::string& stream, size_t limit) const {
  return "SELECT seq, table_name, kind, old_key, new_row, " + captured_epoch() + " FROM " +
         quote(changelog_name(stream)) + " WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT " +
         std::to_string(limit);
}

std::vector<std::string> Dialect::capture_remove(const std::string& stream,
                                                 const std::vector<LegacyTable>& tables) const {
  std::vector<std::string> out;
  for (const auto& table : tables) {
    for (const char* suffix : {"ins", "upd", "del", "fkd", "fku"}) {
      out.push_back("DROP TRIGGER IF EXISTS " + quote(trigger_name(stream, table.name, suffix)));
    }
  }
  out.push_back("DROP TABLE IF EXISTS " + quote(changelog_name(stream)));
  return out;
}

std::unique_ptr<Dialect> Dialect::detect(const Connection& connection) {
  const std::string name = lower(connection.dbms_name());
  if (name.find("mariadb") != std::string::npos || name.find("mysql") != std::string::npos) {
    return std::make_unique<MariaDB>();
  }
  if (name.find("sqlite") != std::string::npos) return std::make_unique<SQLite>();
  throw Error(ErrorKind::kPrecondition,
              connection.role() + ": the ODBC source is " +
                  (connection.dbms_name().empty() ? "an engine that does not name itself"
                                                  : connection.dbms_name()) +
                  "; switchyard supports MariaDB (and MySQL) and SQLite through ODBC");
}

}  // namespace switchyard::odbc
