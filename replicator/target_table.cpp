#include "replicator/target_table.h"

#include <algorithm>
#include <set>

#include "common/error.h"
#include "drivers/pg/catalog.h"

namespace switchyard {
namespace {

constexpr uint32_t kFirstUserOid = 16384;

// pgoutput may describe a domain column by its base type: walk the target
// column's domains down to the base until one level matches.
// A target column of a wider type takes every value of the source's as it
// is, and verify sees them equal (its canonical form has one integer kind
// and one text kind): the expand step of a type change, made on the target
// first. smallint -> integer -> bigint, varchar -> text.
bool widens(uint32_t source_type, uint32_t target_type) {
  constexpr uint32_t kInt2 = 21, kInt4 = 23, kInt8 = 20, kText = 25, kVarchar = 1043;
  switch (source_type) {
    case kInt2:
      return target_type == kInt4 || target_type == kInt8;
    case kInt4:
      return target_type == kInt8;
    case kVarchar:
      return target_type == kText;
    default:
      return false;
  }
}

bool same_type(pg::Connection& catalog, const change::RelationColumn& column, uint32_t target_type,
               const FeedTypes& types) {
  if (widens(column.type_oid, target_type)) return true;
  const auto user_type = types.find(column.type_oid);
  // A user type the feed did not describe: trust it.
  if (column.type_oid >= kFirstUserOid && user_type == types.end()) return true;
  uint32_t level_oid = target_type;
  for (int depth = 0; depth < 8 && level_oid != 0; ++depth) {
    pg::Result level = catalog.exec(
        "SELECT n.nspname, t.typname, t.typbasetype FROM pg_catalog.pg_type t "
        "JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE t.oid = $1",
        {std::to_string(level_oid)});
    if (level.rows() == 0) break;
    if (level_oid == column.type_oid ||
        (user_type != types.end() && user_type->second.first == level.get(0, 0) &&
         user_type->second.second == level.get(0, 1))) {
      return true;
    }
    level_oid = static_cast<uint32_t>(level.int64(0, 2));
  }
  return false;
}

[[noreturn]] void drift(const std::string& what) {
  throw Error(ErrorKind::kSchemaDrift, "schema drift: " + what);
}

}  // namespace

TargetTable read_target_table(pg::Connection& catalog, const std::string& qualified,
                              const change::Relation& relation, const FeedTypes& types) {
  TargetTable table;
  pg::Result columns = catalog.exec(
      "SELECT a.attname, a.atttypid, pg_catalog.format_type(a.atttypid, a.atttypmod), "
      "       a.attnotnull AND NOT a.atthasdef AND a.attidentity = '', a.attgenerated <> '', "
      "       a.attidentity = 'a' "
      "  FROM pg_catalog.pg_attribute a "
      " WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped "
      " ORDER BY a.attnum",
      {qualified});
  for (int row = 0; row < columns.rows(); ++row) {
    TargetColumn column;
    column.name = columns.str(row, 0);
    column.type = columns.str(row, 2);
    column.needs_value = columns.boolean(row, 3);
    column.generated = columns.boolean(row, 4);
    column.identity_always = columns.boolean(row, 5);
    for (const auto& source : relation.columns) {
      if (source.name == column.name) {
        column.same_type =
            same_type(catalog, source, static_cast<uint32_t>(columns.int64(row, 1)), types);
      }
    }
    table.columns.push_back(std::move(column));
  }
  if (table.columns.empty()) return table;
  table.other_unique = catalog
                           .exec(
                               "SELECT count(*) FROM pg_catalog.pg_index i "
                               " WHERE i.indrelid = pg_catalog.to_regclass($1) "
                               "   AND (i.indisunique OR i.indisexclusion) "
                               "   AND NOT i.indisprimary AND NOT i.indisreplident",
                               {qualified})
                           .int64(0, 0) > 0;
  table.identity_key = pg::identity_key_columns(catalog, qualified);
  return table;
}

TargetPlan plan_target(const std::string& display, const change::Relation& relation,
                       const std::vector<size_t>& key_columns, const TargetTable& target) {
  if (target.columns.empty()) drift("table " + display + " does not exist on the target");
  TargetPlan plan;
  std::set<std::string> source_names;
  for (const auto& column : relation.columns) {
    source_names.insert(column.name);
    auto match = std::find_if(target.columns.begin(), target.columns.end(),
                              [&](const TargetColumn& other) { return other.name == column.name; });
    const std::string where = "column " + column.name + " of table " + display;
    if (match == target.columns.end()) {
      drift(where +
            " exists on the source but not on the target; add it to the target first "
            "(expand/contract, see README)");
    }
    if (match->generated) drift(where + " is generated on the target but not on the source");
    if (!match->same_type) {
      drift(where + " has another type on the target (" + match->type +
            "); change the target's to the source's, or to one that holds every value of it "
            "unchanged (smallint -> integer -> bigint, varchar -> text)");
    }
    // The cast keeps the column's modifier: a bare ::character would be
    // char(1) and cut 'ab ' to 'a'.
    plan.types.push_back(match->type);
    plan.identity_always.push_back(match->identity_always);
  }
  for (const auto& column : target.columns) {
    if (column.needs_value && !source_names.count(column.name)) {
      drift("column " + column.name + " of table " + display +
            " is NOT NULL without a default on the target and missing on the source");
    }
  }
  bool identity_outside_key = false;
  for (size_t column_idx = 0; column_idx < plan.identity_always.size(); ++column_idx) {
    identity_outside_key |=
        plan.identity_always[column_idx] &&
        std::find(key_columns.begin(), key_columns.end(), column_idx) == key_columns.end();
  }
  plan.batched = relation.replica_identity != 'f' && !key_columns.empty() && !target.other_unique &&
                 !identity_outside_key;
  for (const auto& key_column : target.identity_key) {
    auto found = std::find_if(
        relation.columns.begin(), relation.columns.end(),
        [&](const change::RelationColumn& column) { return column.name == key_column; });
    if (found == relation.columns.end()) {  // a key column the source does not send
      plan.verify_key.clear();
      break;
    }
    plan.verify_key.push_back(static_cast<size_t>(found - relation.columns.begin()));
  }
  return plan;
}

}  // namespace switchyard
