#include "verify/table_plan.h"

#include <algorithm>

#include "common/error.h"
#include "drivers/pg/catalog.h"
#include "drivers/pg/sql.h"

namespace switchyard::verify {
namespace {

struct CatalogColumn {
  std::string name;
  uint32_t base_type;  // the column's type with domains resolved to their base
  std::string type_name;
};

// Columns in attnum order. Types are reported by their base type, so a
// domain over int4 reads like int4.
std::vector<CatalogColumn> read_columns(pg::Connection& connection, const std::string& qualified) {
  pg::Result rows = connection.exec(
      "WITH RECURSIVE base (attnum, type_oid) AS ("
      "  SELECT a.attnum, a.atttypid FROM pg_catalog.pg_attribute a "
      "   WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped "
      "  UNION ALL "
      "  SELECT b.attnum, t.typbasetype FROM base b "
      "    JOIN pg_catalog.pg_type t ON t.oid = b.type_oid WHERE t.typbasetype <> 0) "
      "SELECT a.attname, b.type_oid, pg_catalog.format_type(a.atttypid, a.atttypmod) "
      "  FROM pg_catalog.pg_attribute a "
      "  JOIN base b ON b.attnum = a.attnum "
      "  JOIN pg_catalog.pg_type t ON t.oid = b.type_oid AND t.typbasetype = 0 "
      " WHERE a.attrelid = pg_catalog.to_regclass($1) "
      " ORDER BY a.attnum",
      {qualified});
  std::vector<CatalogColumn> columns;
  for (int row = 0; row < rows.rows(); ++row) {
    columns.push_back(
        {rows.str(row, 0), static_cast<uint32_t>(rows.int64(row, 1)), rows.str(row, 2)});
  }
  return columns;
}

// True if the column reaches both sides' readers as the same bytes for the
// same value. Floats are left out: the canonical encoding takes -0 for 0
// and every NaN for one, which their bytes do not.
bool same_bytes(const PlanColumn& column) {
  const auto& [source, target] = column.read;
  return column.type_name[0] == column.type_name[1] && source.expression == target.expression &&
         source.wire == target.wire && source.wire != pg::WireType::kFloat4 &&
         source.wire != pg::WireType::kFloat8;
}

}  // namespace

const char* to_string(Side side) {
  return side == Side::kSource ? "source" : "target";
}

void prepare_session(pg::Connection& connection) {
  // The text settings are every session's (pg::kTextSettings); verify also
  // renders timestamps in UTC and names every object qualified.
  connection.exec("SET TimeZone = 'UTC'; SET statement_timeout = 0; SET search_path = pg_catalog");
}

TablePlan plan_table(pg::Connection& source, pg::Connection& target, const std::string& schema,
                     const std::string& name) {
  TablePlan plan;
  plan.schema = schema;
  plan.name = name;
  plan.display = schema + "." + name;
  plan.qualified = pg::qualified(schema, name);
  const auto source_columns = read_columns(source, plan.qualified);
  const auto target_columns = read_columns(target, plan.qualified);
  if (source_columns.empty()) {
    throw Error(ErrorKind::kPrecondition,
                source.role() + ": table " + plan.display +
                    " does not exist (dropped there?); `replicate` takes a table dropped on the "
                    "source out of the stream within seconds of starting");
  }
  if (target_columns.empty()) {
    throw Error(ErrorKind::kPrecondition,
                target.role() + ": table " + plan.display + " does not exist");
  }
  for (const auto& column : source_columns) {
    auto match =
        std::find_if(target_columns.begin(), target_columns.end(),
                     [&](const CatalogColumn& other) { return other.name == column.name; });
    if (match == target_columns.end()) {
      throw Error(ErrorKind::kSchemaDrift, "schema drift: column " + column.name + " of table " +
                                               plan.display + " exists on the " + source.role() +
                                               " but not on the " + target.role());
    }
    const std::string quoted = pg::quote_ident(column.name);
    plan.columns.push_back({column.name,
                            {pg::column_read("t." + quoted, column.base_type),
                             pg::column_read("t." + quoted, match->base_type)},
                            {column.type_name, match->type_name}});
  }
  plan.same_bytes = std::all_of(plan.columns.begin(), plan.columns.end(), same_bytes);
  for (const auto& key_column : pg::identity_key_columns(source, plan.qualified)) {
    auto found = std::find_if(plan.columns.begin(), plan.columns.end(),
                              [&](const PlanColumn& column) { return column.name == key_column; });
    plan.key.push_back(static_cast<size_t>(found - plan.columns.begin()));
  }
  if (plan.key.size() == 1) {
    const auto& column = source_columns[plan.key[0]];
    plan.integer_key = column.base_type == 20 || column.base_type == 21 || column.base_type == 23;
  }
  pg::Result size = source.exec(
      "SELECT GREATEST(c.reltuples, 0), pg_catalog.pg_table_size(c.oid) "
      "FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1)",
      {plan.qualified});
  plan.estimated_rows = std::stod(size.str(0, 0));
  plan.estimated_bytes = static_cast<uint64_t>(size.int64(0, 1));
  return plan;
}

// ---- SQL ------------------------------------------------------------------

// Every column, as `side` reads it; the table is aliased t.
std::string TablePlan::select_list(Side side) const {
  std::string list;
  for (size_t column_idx = 0; column_idx < columns.size(); ++column_idx) {
    list += (column_idx ? ", " : "") + columns[column_idx].read[static_cast<int>(side)].expression +
            " AS v" + std::to_string(column_idx);
  }
  return list;
}

std::string TablePlan::key_tuple() const {
  std::string tuple;
  for (size_t key_idx = 0; key_idx < key.size(); ++key_idx) {
    tuple += (key_idx ? ", t." : "t.") + pg::quote_ident(columns[key[key_idx]].name);
  }
  return key.size() == 1 ? tuple : "(" + tuple + ")";
}

std::string TablePlan::key_literal(Side side, size_t key_idx, const std::string& text) const {
  return pg::quote_literal(text) + "::" + columns[key[key_idx]].type_name[static_cast<int>(side)];
}

std::string TablePlan::literal_tuple(Side side, const KeyText& value) const {
  std::string tuple;
  for (size_t key_idx = 0; key_idx < key.size(); ++key_idx) {
    tuple += (key_idx ? ", " : "") + key_literal(side, key_idx, value[key_idx]);
  }
  return key.size() == 1 ? tuple : "(" + tuple + ")";
}

std::string TablePlan::order_by() const {
  std::string order;
  for (size_t key_idx = 0; key_idx < key.size(); ++key_idx) {
    order += (key_idx ? ", t." : "t.") + pg::quote_ident(columns[key[key_idx]].name);
  }
  return order;
}

std::string TablePlan::select_range(Side side, const KeyText* lower, const KeyText* upper) const {
  std::string sql = "SELECT " + select_list(side) + " FROM " + qualified + " t";
  std::string where;
  if (lower) where += key_tuple() + " > " + literal_tuple(side, *lower);
  if (upper)
    where += (where.empty() ? "" : " AND ") + key_tuple() + " <= " + literal_tuple(side, *upper);
  if (!where.empty()) sql += " WHERE " + where;
  // No ORDER BY: digests are order-free and rows are matched by key, so the
  // server may read the range however is cheapest. (A target filled by a
  // parallel copy has rows out of key order; sorting each range there cost
  // more than the scan itself.)
  return sql;
}

// One index probe per key: the LATERAL subquery (kept apart by OFFSET 0)
// stops the planner from turning a long key list into a hash join over a
// scan of the whole table.
std::string TablePlan::select_keys(Side side, const std::vector<KeyText>& keys) const {
  return probe_keys(side, keys, select_list(side));
}

std::string TablePlan::select_all(Side side) const {
  return select_from(side, qualified);
}

std::string TablePlan::select_from(Side side, const std::string& relation) const {
  return "SELECT " + select_list(side) + " FROM " + relation + " t";
}

std::string TablePlan::split_point(const KeyText* lower, uint64_t rows) const {
  std::string list;
  for (size_t key_idx = 0; key_idx < key.size(); ++key_idx) {
    list += (key_idx ? ", t." : "t.") + pg::quote_ident(columns[key[key_idx]].name) + "::text";
  }
  std::string sql = "SELECT " + list + " FROM " + qualified + " t";
  if (lower) sql += " WHERE " + key_tuple() + " > " + literal_tuple(Side::kSource, *lower);
  return sql + " ORDER BY " + order_by() + " OFFSET " + std::to_string(rows - 1) + " LIMIT 1";
}

std::string TablePlan::select_keys_as_text(Side side, const std::vector<KeyText>& keys) const {
  std::string list;
  for (size_t column_idx = 0; column_idx < columns.size(); ++column_idx) {
    list += (column_idx ? ", t." : "t.") + pg::quote_ident(columns[column_idx].name) +
            "::text AS v" + std::to_string(column_idx);
  }
  return probe_keys(side, keys, list);
}

// One index probe per key: the LATERAL subquery (kept apart by OFFSET 0)
// stops the planner from turning a long key list into a hash join over a
// scan of the whole table.
std::string TablePlan::probe_keys(Side side, const std::vector<KeyText>& keys,
                                  const std::string& list) const {
  return "SELECT r.* FROM " + key_table(side, keys) + " CROSS JOIN LATERAL (SELECT " + list +
         " FROM " + qualified + " t WHERE " + key_match() + " OFFSET 0) r";
}

std::string TablePlan::key_table(Side side, const std::vector<KeyText>& keys) const {
  std::string arrays, names;
  for (size_t key_idx = 0; key_idx < key.size(); ++key_idx) {
    std::string array = "ARRAY[";
    for (size_t row = 0; row < keys.size(); ++row) {
      array += (row ? ", " : "") + pg::quote_literal(keys[row][key_idx]);
    }
    arrays += (key_idx ? ", " : "") + array +
              "]::" + columns[key[key_idx]].type_name[static_cast<int>(side)] + "[]";
    names += (key_idx ? ", k" : "k") + std::to_string(key_idx);
  }
  return "unnest(" + arrays + ") AS k (" + names + ")";
}

std::string TablePlan::key_match() const {
  std::string match;
  for (size_t key_idx = 0; key_idx < key.size(); ++key_idx) {
    match += (key_idx ? " AND t." : "t.") + pg::quote_ident(columns[key[key_idx]].name) + " = k.k" +
             std::to_string(key_idx);
  }
  return match;
}

}  // namespace switchyard::verify
