#include "replicator/apply_statements.h"

#include <algorithm>

#include "drivers/pg/sql.h"

namespace switchyard {
namespace {

std::string param(size_t number) {
  return "$" + std::to_string(number);
}

// "(k0, k1, c0, ...)" alias list and "($1::int4, ...), (...)" rows.
std::string values_rows(const TableShape& table, const std::vector<size_t>& columns, size_t rows) {
  std::string out;
  size_t number = 1;
  for (size_t row = 0; row < rows; ++row) {
    out += row ? ", (" : "(";
    for (size_t idx = 0; idx < columns.size(); ++idx) {
      if (idx) out += ", ";
      out += param(number++) + "::" + table.types[columns[idx]];
    }
    out += ")";
  }
  return out;
}

std::string key_join(const TableShape& table, std::string_view target_alias) {
  std::string out;
  for (size_t idx = 0; idx < table.key_columns.size(); ++idx) {
    if (idx) out += " AND ";
    out += std::string(target_alias) + "." +
           pg::quote_ident(table.columns[table.key_columns[idx]]) + " = v.k" + std::to_string(idx);
  }
  return out;
}

// WHERE for one row: key = $n, or for REPLICA IDENTITY FULL the first row
// equal in every sent column.
std::string where_one(const TableShape& table, std::string_view key_mask, bool full_identity,
                      size_t first_param) {
  std::string condition;
  size_t number = first_param;
  for (size_t mask_idx = 0; mask_idx < key_mask.size(); ++mask_idx) {
    if (key_mask[mask_idx] != 'k') continue;
    const size_t column_idx = full_identity ? mask_idx : table.key_columns[mask_idx];
    if (!condition.empty()) condition += " AND ";
    const std::string column = pg::quote_ident(table.columns[column_idx]);
    if (!full_identity) {
      condition += column + " = " + param(number++);
    } else if (table.compare_as_text[column_idx]) {
      condition += column + "::text IS NOT DISTINCT FROM " + param(number++) + "::text";
    } else {
      condition += column + " IS NOT DISTINCT FROM " + param(number++);
    }
  }
  if (!full_identity) return " WHERE " + condition;
  return " WHERE ctid = (SELECT ctid FROM " + table.qualified + " WHERE " + condition + " LIMIT 1)";
}

}  // namespace

bool TableShape::has_identity_always() const {
  return std::find(identity_always.begin(), identity_always.end(), true) != identity_always.end();
}

std::string insert_rows_sql(const TableShape& table, size_t rows) {
  std::string sql =
      "INSERT INTO " + table.qualified + " (" + pg::ident_list(table.columns) +
      (table.has_identity_always() ? ") OVERRIDING SYSTEM VALUE VALUES " : ") VALUES ");
  size_t number = 1;
  for (size_t row = 0; row < rows; ++row) {
    sql += row ? ", (" : "(";
    for (size_t column_idx = 0; column_idx < table.columns.size(); ++column_idx) {
      sql += (column_idx ? ", " : "") + param(number++);
    }
    sql += ")";
  }
  if (table.upsert && !table.key_columns.empty()) {
    std::vector<std::string> key;
    for (size_t column_idx : table.key_columns) key.push_back(table.columns[column_idx]);
    std::string set;
    for (size_t column_idx = 0; column_idx < table.columns.size(); ++column_idx) {
      if (std::find(table.key_columns.begin(), table.key_columns.end(), column_idx) !=
          table.key_columns.end()) {
        continue;
      }
      const std::string column = pg::quote_ident(table.columns[column_idx]);
      set += (set.empty() ? "" : ", ") + column + " = EXCLUDED." + column;
    }
    sql += " ON CONFLICT (" + pg::ident_list(key) + ")" +
           (set.empty() ? " DO NOTHING" : " DO UPDATE SET " + set);
  }
  return sql;
}

std::string update_rows_sql(const TableShape& table, std::string_view set_mask, size_t rows) {
  std::vector<size_t> bound = table.key_columns;
  std::string set;
  std::string aliases;
  for (size_t idx = 0; idx < table.key_columns.size(); ++idx) {
    aliases += (idx ? ", k" : "k") + std::to_string(idx);
  }
  size_t set_idx = 0;
  for (size_t column_idx = 0; column_idx < table.columns.size(); ++column_idx) {
    if (set_mask[column_idx] != 's') continue;
    bound.push_back(column_idx);
    const std::string alias = "c" + std::to_string(set_idx++);
    aliases += ", " + alias;
    set += (set.empty() ? "" : ", ") + pg::quote_ident(table.columns[column_idx]) + " = v." + alias;
  }
  return "UPDATE " + table.qualified + " AS t SET " + set + " FROM (VALUES " +
         values_rows(table, bound, rows) + ") AS v (" + aliases + ") WHERE " + key_join(table, "t");
}

std::string delete_rows_sql(const TableShape& table, size_t rows) {
  std::string aliases;
  for (size_t idx = 0; idx < table.key_columns.size(); ++idx) {
    aliases += (idx ? ", k" : "k") + std::to_string(idx);
  }
  return "DELETE FROM " + table.qualified + " AS t USING (VALUES " +
         values_rows(table, table.key_columns, rows) + ") AS v (" + aliases + ") WHERE " +
         key_join(table, "t");
}

std::string update_one_sql(const TableShape& table, std::string_view set_mask,
                           std::string_view key_mask, bool full_identity) {
  std::string set;
  size_t number = 1;
  for (size_t column_idx = 0; column_idx < table.columns.size(); ++column_idx) {
    if (set_mask[column_idx] != 's') continue;
    set += (set.empty() ? "" : ", ") + pg::quote_ident(table.columns[column_idx]) + " = " +
           param(number++);
  }
  return "UPDATE " + table.qualified + " SET " + set +
         where_one(table, key_mask, full_identity, number);
}

std::string delete_one_sql(const TableShape& table, std::string_view key_mask, bool full_identity) {
  return "DELETE FROM " + table.qualified + where_one(table, key_mask, full_identity, 1);
}

std::string replace_one_sql(const TableShape& table, std::string_view set_mask,
                            std::string_view key_mask, bool full_identity) {
  std::string values;
  size_t number = 1;
  for (size_t column_idx = 0; column_idx < table.columns.size(); ++column_idx) {
    if (column_idx) values += ", ";
    if (set_mask[column_idx] == 's') {
      values += param(number++) + "::" + table.types[column_idx];
    } else {
      values += "gone." + pg::quote_ident(table.columns[column_idx]);
    }
  }
  return "WITH gone AS (DELETE FROM " + table.qualified +
         where_one(table, key_mask, full_identity, number) + " RETURNING *) INSERT INTO " +
         table.qualified + " (" + pg::ident_list(table.columns) +
         ") OVERRIDING SYSTEM VALUE SELECT " + values + " FROM gone";
}

// ---- the row log of tables without a key ----------------------------------

namespace {

constexpr const char* kLogColumns =
    "INSERT INTO switchyard.keyless_images (stream, schema_name, table_name, sign, lsns, images) ";

size_t sent_count(std::string_view mask, char sent) {
  return static_cast<size_t>(std::count(mask.begin(), mask.end(), sent));
}

}  // namespace

std::string log_images_sql() {
  return std::string(kLogColumns) + "VALUES ($1, $2, $3, $4, $5::pg_lsn[], $6::text[])";
}

std::string logged_update_one_sql(const TableShape& table, std::string_view set_mask,
                                  std::string_view key_mask) {
  const size_t next = sent_count(set_mask, 's') + sent_count(key_mask, 'k') + 1;
  return "WITH changed AS (" + update_one_sql(table, set_mask, key_mask, true) + " RETURNING 1) " +
         kLogColumns + "SELECT " + param(next) + ", " + param(next + 1) + ", " + param(next + 2) +
         ", CASE WHEN EXISTS (SELECT FROM changed) THEN x.sign ELSE 0 END, " + "ARRAY[" +
         param(next + 3) + "::pg_lsn], ARRAY[x.image] FROM (VALUES (-1::smallint, " +
         param(next + 4) + "::text[]), (1::smallint, " + param(next + 5) +
         "::text[])) AS x (sign, image)";
}

std::string logged_delete_one_sql(const TableShape& table, std::string_view key_mask) {
  const size_t next = sent_count(key_mask, 'k') + 1;
  return "WITH changed AS (" + delete_one_sql(table, key_mask, true) + " RETURNING 1) " +
         kLogColumns + "SELECT " + param(next) + ", " + param(next + 1) + ", " + param(next + 2) +
         ", CASE WHEN EXISTS (SELECT FROM changed) THEN -1 ELSE 0 END, ARRAY[" + param(next + 3) +
         "::pg_lsn], ARRAY[" + param(next + 4) + "::text[]]";
}

void append_image_literal(std::string& out, const std::vector<const std::string*>& row) {
  out += '{';
  for (size_t column_idx = 0; column_idx < row.size(); ++column_idx) {
    if (column_idx) out += ',';
    if (!row[column_idx]) {
      out += "NULL";
      continue;
    }
    out += '"';
    for (char c : *row[column_idx]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
}

}  // namespace switchyard
