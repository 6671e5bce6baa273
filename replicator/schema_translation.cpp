#include "replicator/schema_translation.h"

#include <cctype>
#include <optional>

#include "common/error.h"
#include "drivers/pg/sql.h"

namespace switchyard {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// "decimal(10,2) unsigned" -> "10,2"; "" when there are no parentheses.
std::string arguments(const std::string& declared) {
  const size_t open = declared.find('(');
  const size_t close = declared.find(')', open);
  if (open == std::string::npos || close == std::string::npos) return {};
  return declared.substr(open + 1, close - open - 1);
}

// enum('new','it''s') -> {"new", "it's"}
std::vector<std::string> quoted_list(const std::string& text) {
  std::vector<std::string> values;
  std::string current;
  bool inside = false;
  for (size_t idx = 0; idx < text.size(); ++idx) {
    const char c = text[idx];
    if (!inside) {
      if (c == '\'') {
        inside = true;
        current.clear();
      }
      continue;
    }
    if (c == '\'' && idx + 1 < text.size() && text[idx + 1] == '\'') {
      current += '\'';
      ++idx;
    } else if (c == '\'') {
      inside = false;
      values.push_back(current);
    } else {
      current += c;
    }
  }
  return values;
}

// The enum list of "enum('a','b')": what lies between the outer parentheses.
std::string enum_body(const std::string& declared) {
  const size_t open = declared.find('(');
  const size_t close = declared.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return {};
  return declared.substr(open + 1, close - open - 1);
}

std::string with_precision(const std::string& type, const std::string& args) {
  return args.empty() ? type : type + "(" + args + ")";
}

std::optional<std::string> mariadb_type(const odbc::LegacyColumn& column,
                                        const std::string& table_type_prefix,
                                        ColumnTranslation& out) {
  const std::string declared = lower(column.declared);
  const std::string& base = column.base;
  const std::string args = arguments(declared);
  const bool is_unsigned = column.is_unsigned;
  if ((base == "tinyint" && args == "1") || (base == "bit" && (args.empty() || args == "1"))) {
    return "boolean";
  }
  if (base == "tinyint") return "smallint";
  if (base == "smallint") return is_unsigned ? "integer" : "smallint";
  if (base == "mediumint") return "integer";
  if (base == "int" || base == "integer") return is_unsigned ? "bigint" : "integer";
  if (base == "bigint") return is_unsigned ? "numeric(20)" : "bigint";
  if (base == "decimal" || base == "numeric") return with_precision("numeric", args);
  if (base == "float") return "real";
  if (base == "double" || base == "real") return "double precision";
  if (base == "date") return "date";
  if (base == "datetime") return with_precision("timestamp", args);
  if (base == "timestamp") return with_precision("timestamptz", args);
  if (base == "time") return with_precision("time", args);
  if (base == "year") return "smallint";
  if (base == "char") return with_precision("char", args);
  if (base == "varchar") return with_precision("varchar", args);
  if (base == "tinytext" || base == "text" || base == "mediumtext" || base == "longtext") {
    return "text";
  }
  if (base == "binary" || base == "varbinary" || base == "tinyblob" || base == "blob" ||
      base == "mediumblob" || base == "longblob") {
    return "bytea";
  }
  if (base == "enum") {
    out.enum_values = quoted_list(enum_body(column.declared));
    return table_type_prefix + pg_identifier(column.name);
  }
  if (base == "set") return "text[]";
  if (base == "json") return "jsonb";
  if (base == "bit") return with_precision("bit", args);
  return std::nullopt;
}

// SQLite's type affinity (https://sqlite.org/datatype3.html, 3.1), with the
// date and boolean names applications declare.
std::optional<std::string> sqlite_type(const odbc::LegacyColumn& column) {
  const std::string declared = lower(column.declared);
  const std::string& base = column.base;
  if (declared.empty()) return std::nullopt;
  if (contains(declared, "int")) return "bigint";
  if (base == "boolean" || base == "bool") return "boolean";
  if (contains(declared, "char") || contains(declared, "clob") || contains(declared, "text")) {
    return "text";
  }
  if (contains(declared, "blob")) return "bytea";
  if (contains(declared, "real") || contains(declared, "floa") || contains(declared, "doub")) {
    return "double precision";
  }
  if (base == "date") return "date";
  if (base == "datetime" || base == "timestamp") return "timestamp";
  if (base == "numeric" || base == "decimal") return with_precision("numeric", arguments(declared));
  return std::nullopt;
}

}  // namespace

std::string pg_identifier(std::string_view legacy) {
  return lower(legacy);
}

std::string pg_schema(const std::string& engine, const std::string& legacy_schema) {
  if (engine == "SQLite") return "public";
  return pg_identifier(legacy_schema);
}

TableTranslation translate_table(const std::string& engine, const odbc::LegacyTable& table,
                                 const TypeOverrides& overrides) {
  TableTranslation out;
  out.schema = pg_schema(engine, table.schema);
  out.name = pg_identifier(table.name);
  const std::string display = table.schema + "." + table.name;
  // Overrides of this table must name its columns.
  for (const auto& [key, type] : overrides) {
    if (key.rfind(display + ".", 0) != 0) continue;
    const std::string column = key.substr(display.size() + 1);
    bool found = false;
    for (const auto& legacy : table.columns) found |= legacy.name == column;
    if (!found) {
      throw Error(ErrorKind::kUsage,
                  "types: \"" + key + "\": table " + display + " has no column " + column);
    }
  }
  const std::string enum_prefix = out.schema + "." + out.name + "_";
  for (const auto& column : table.columns) {
    ColumnTranslation translated;
    translated.name = pg_identifier(column.name);
    translated.not_null = !column.nullable;
    translated.identity = column.auto_increment;
    const auto override = overrides.find(display + "." + column.name);
    std::optional<std::string> type;
    if (override != overrides.end()) {
      type = override->second;
      translated.overridden = true;
    } else if (engine == "MariaDB") {
      type = mariadb_type(column, enum_prefix, translated);
    } else if (engine == "SQLite") {
      type = sqlite_type(column);
      // The rowid may hold any 64-bit integer.
      if (translated.identity) type = "bigint";
    }
    if (!type) {
      throw Error(
          ErrorKind::kPrecondition,
          "source: column " + column.name + " of table " + display +
              (column.declared.empty() ? " has no declared type (SQLite keeps any value there)"
                                       : " has type '" + column.declared +
                                             "', which switchyard does not map to PostgreSQL") +
              "; choose one with types: { \"" + display + "." + column.name + "\": text }");
    }
    translated.type = *type;
    out.columns.push_back(std::move(translated));
  }
  for (const auto& column : table.primary_key) out.primary_key.push_back(pg_identifier(column));
  return out;
}

TranslatedDdl target_ddl(const TableTranslation& table) {
  TranslatedDdl ddl;
  const std::string qualified = pg::qualified(table.schema, table.name);
  ddl.pre_data.push_back("CREATE SCHEMA IF NOT EXISTS " + pg::quote_ident(table.schema));
  std::string columns;
  for (const auto& column : table.columns) {
    std::string type = column.type;
    if (!column.enum_values.empty()) {
      const size_t dot = type.find('.');
      type = pg::qualified(type.substr(0, dot), type.substr(dot + 1));
      std::string values;
      for (const auto& value : column.enum_values) {
        values += (values.empty() ? "" : ", ") + pg::quote_literal(value);
      }
      ddl.pre_data.push_back("CREATE TYPE " + type + " AS ENUM (" + values + ")");
    }
    columns += (columns.empty() ? "" : ", ") + pg::quote_ident(column.name) + " " + type;
    if (column.identity) columns += " GENERATED BY DEFAULT AS IDENTITY";
    if (column.not_null) columns += " NOT NULL";
  }
  ddl.pre_data.push_back("CREATE TABLE " + qualified + " (" + columns + ")");
  if (!table.primary_key.empty()) {
    ddl.post_data.push_back("ALTER TABLE " + qualified + " ADD PRIMARY KEY (" +
                            pg::ident_list(table.primary_key) + ")");
  }
  return ddl;
}

}  // namespace switchyard
