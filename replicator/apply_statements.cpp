#include "replicator/apply_statements.h"

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

std::string insert_rows_sql(const TableShape& table, size_t rows) {
  std::string sql =
      "INSERT INTO " + table.qualified + " (" + pg::ident_list(table.columns) + ") VALUES ";
  size_t number = 1;
  for (size_t row = 0; row < rows; ++row) {
    sql += row ? ", (" : "(";
    for (size_t column_idx = 0; column_idx < table.columns.size(); ++column_idx) {
      sql += (column_idx ? ", " : "") + param(number++);
    }
    sql += ")";
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

}  // namespace switchyard
