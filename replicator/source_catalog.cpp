#include "replicator/source_catalog.h"

#include <map>
#include <set>

#include "common/error.h"
#include "common/log.h"
#include "drivers/pg/sql.h"
#include "replicator/table_filter.h"

namespace switchyard {

std::string SourceTable::qualified_name() const {
  return pg::qualified(schema, name);
}
std::string SourceTable::display_name() const {
  return schema + "." + name;
}

namespace {

constexpr const char* kListTables = R"SQL(
SELECT c.oid, n.nspname, c.relname, c.relkind = 'p', c.relreplident,
       EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisprimary),
       EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisreplident)
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relpersistence = 'p'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'switchyard')
   AND n.nspname NOT LIKE 'pg\_%'
 ORDER BY n.nspname, c.relname
)SQL";

constexpr const char* kReplicatedColumns = R"SQL(
SELECT a.attname, a.atttypid < 16384 FROM pg_catalog.pg_attribute a
 WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
 ORDER BY a.attnum
)SQL";

// The heap relations holding a table's rows: itself, or its leaf partitions
// (pg_partition_tree returns nothing for an unpartitioned table).
constexpr const char* kLeaves = R"SQL(
SELECT n.nspname, c.relname, pg_catalog.pg_relation_size(c.oid) / 8192
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.oid = $1::oid AND c.relkind = 'r'
UNION ALL
SELECT * FROM (
  SELECT n.nspname, c.relname, pg_catalog.pg_relation_size(c.oid) / 8192
    FROM pg_catalog.pg_partition_tree($1::oid) t
    JOIN pg_catalog.pg_class c ON c.oid = t.relid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE t.isleaf AND c.relkind = 'r' AND t.relid <> $1::oid
   ORDER BY t.level, c.relname) partitions
)SQL";

std::string oid_array(const std::vector<SourceTable>& tables, const std::vector<bool>& missing) {
  std::string out = "{";
  for (size_t table_idx = 0; table_idx < tables.size(); ++table_idx) {
    if (!missing[table_idx]) continue;
    if (out.size() > 1) out += ',';
    out += std::to_string(tables[table_idx].oid);
  }
  return out + "}";
}

// ---- types ----------------------------------------------------------------

// User-defined types reachable from the missing tables' columns, through
// array element types and domain base types.
constexpr const char* kUsedTypes = R"SQL(
WITH RECURSIVE used(oid) AS (
    SELECT a.atttypid FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
  UNION
    SELECT v.x FROM used u
      JOIN pg_catalog.pg_type t ON t.oid = u.oid,
      LATERAL (VALUES (t.typelem), (t.typbasetype)) v(x)
     WHERE v.x <> 0
)
SELECT t.oid, n.nspname, t.typname, t.typtype,
       CASE WHEN t.typtype = 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END,
       t.typnotnull, t.typdefault,
       (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(e.enumlabel), ', '
                                     ORDER BY e.enumsortorder)
          FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid),
       (SELECT pg_catalog.string_agg('CONSTRAINT ' || pg_catalog.quote_ident(c.conname) || ' ' ||
                                     pg_catalog.pg_get_constraintdef(c.oid), ' ' ORDER BY c.conname)
          FROM pg_catalog.pg_constraint c WHERE c.contypid = t.oid),
       t.typbasetype,
       EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                WHERE d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND d.objid = t.oid
                  AND d.deptype = 'e')
  FROM used u
  JOIN pg_catalog.pg_type t ON t.oid = u.oid
  JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type a WHERE a.typarray = t.oid)
 ORDER BY t.oid
)SQL";

bool target_has_type(pg::Connection& target, const std::string& schema, const std::string& name) {
  return target
             .exec(
                 "SELECT 1 FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n "
                 "ON n.oid = t.typnamespace WHERE n.nspname = $1 AND t.typname = $2",
                 {schema, name})
             .rows() > 0;
}

void add_types(pg::Connection& source, pg::Connection& target, const std::string& oids,
               std::set<std::string>& schemas, std::vector<DdlStatement>& out) {
  struct TypeDef {
    std::string schema, name, sql;
    uint32_t base = 0;
  };
  std::map<uint32_t, TypeDef> pending;  // domains wait for their base domain
  std::vector<DdlStatement> enums;
  pg::Result types = source.exec(kUsedTypes, {oids});
  for (int row = 0; row < types.rows(); ++row) {
    const std::string schema = types.str(row, 1);
    const std::string name = types.str(row, 2);
    const char typtype = types.get(row, 3)[0];
    const std::string qualified = pg::qualified(schema, name);
    if (target_has_type(target, schema, name)) continue;
    // An extension's type comes with the extension (schema_dump creates it,
    // or refuses naming it).
    if (types.boolean(row, 10)) continue;
    if (typtype == 'e') {
      schemas.insert(schema);
      enums.push_back({"type " + schema + "." + name,
                       "CREATE TYPE " + qualified + " AS ENUM (" + types.str(row, 7) + ")"});
    } else if (typtype == 'd') {
      schemas.insert(schema);
      std::string sql = "CREATE DOMAIN " + qualified + " AS " + types.str(row, 4);
      if (!types.is_null(row, 6)) sql += " DEFAULT " + types.str(row, 6);
      if (types.boolean(row, 5)) sql += " NOT NULL";
      if (!types.is_null(row, 8)) sql += " " + types.str(row, 8);
      pending[static_cast<uint32_t>(types.int64(row, 0))] = {
          schema, name, sql, static_cast<uint32_t>(types.int64(row, 9))};
    } else {
      throw Error(ErrorKind::kPrecondition,
                  "type " + schema + "." + name +
                      " is used by a selected table but does not exist on the target; create it "
                      "(or its extension) there first");
    }
  }
  out.insert(out.end(), enums.begin(), enums.end());
  // Domains in dependency order: a domain over another domain comes after it.
  while (!pending.empty()) {
    for (auto it = pending.begin(); it != pending.end();) {
      if (pending.count(it->second.base)) {
        ++it;
        continue;
      }
      out.push_back({"domain " + it->second.schema + "." + it->second.name, it->second.sql});
      it = pending.erase(it);
    }
  }
}

// ---- sequences ------------------------------------------------------------

// Sequences owned by (serial) or used in defaults of the missing tables;
// identity sequences come with their table.
constexpr const char* kSequences = R"SQL(
SELECT n.nspname, c.relname, pg_catalog.format_type(s.seqtypid, NULL),
       s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
       (SELECT pg_catalog.quote_ident(tn.nspname) || '.' || pg_catalog.quote_ident(tc.relname)
               || '.' || pg_catalog.quote_ident(a.attname)
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_class tc ON tc.oid = d.refobjid
          JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace
          JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
         WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid
           AND d.deptype = 'a' AND d.refobjid = ANY($1::oid[]))
  FROM pg_catalog.pg_sequence s
  JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE s.seqrelid IN (
         SELECT d.objid FROM pg_catalog.pg_depend d
          WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
            AND d.refobjid = ANY($1::oid[]) AND d.deptype = 'a'
         UNION
         SELECT d.refobjid FROM pg_catalog.pg_depend d
           JOIN pg_catalog.pg_attrdef ad ON ad.oid = d.objid
          WHERE d.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass
            AND ad.adrelid = ANY($1::oid[]))
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                      AND d.objid = c.oid AND d.deptype = 'i')
 ORDER BY 1, 2
)SQL";

void add_sequences(pg::Connection& source, pg::Connection& target, const std::string& oids,
                   std::set<std::string>& schemas, std::vector<DdlStatement>& create,
                   std::vector<DdlStatement>& owned_by) {
  pg::Result sequences = source.exec(kSequences, {oids});
  for (int row = 0; row < sequences.rows(); ++row) {
    const std::string schema = sequences.str(row, 0);
    const std::string name = sequences.str(row, 1);
    const std::string qualified = pg::qualified(schema, name);
    if (!target.exec("SELECT pg_catalog.to_regclass($1)", {qualified}).is_null(0, 0)) continue;
    schemas.insert(schema);
    create.push_back({"sequence " + schema + "." + name,
                      "CREATE SEQUENCE " + qualified + " AS " + sequences.str(row, 2) + " START " +
                          sequences.str(row, 3) + " INCREMENT " + sequences.str(row, 4) +
                          " MINVALUE " + sequences.str(row, 5) + " MAXVALUE " +
                          sequences.str(row, 6) + " CACHE " + sequences.str(row, 7) +
                          (sequences.boolean(row, 8) ? " CYCLE" : " NO CYCLE")});
    if (!sequences.is_null(row, 9)) {
      owned_by.push_back({"sequence " + schema + "." + name + " ownership",
                          "ALTER SEQUENCE " + qualified + " OWNED BY " + sequences.str(row, 9)});
    }
  }
}

// ---- tables ---------------------------------------------------------------

constexpr const char* kColumns = R"SQL(
SELECT pg_catalog.quote_ident(a.attname), pg_catalog.format_type(a.atttypid, a.atttypmod),
       a.attnotnull, pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated,
       CASE WHEN a.attcollation <> t.typcollation AND a.attcollation <> 0 THEN
         (SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname)
            FROM pg_catalog.pg_collation co
            JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
           WHERE co.oid = a.attcollation) END
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum
)SQL";

std::string create_table_sql(pg::Connection& source, const SourceTable& table) {
  pg::Result columns = source.exec(kColumns, {std::to_string(table.oid)});
  std::string sql = "CREATE TABLE " + table.qualified_name() + " (";
  for (int row = 0; row < columns.rows(); ++row) {
    sql += row ? ",\n  " : "\n  ";
    sql += columns.str(row, 0) + " " + columns.str(row, 1);
    if (!columns.is_null(row, 6)) sql += " COLLATE " + columns.str(row, 6);
    const std::string identity = columns.str(row, 4);
    const std::string generated = columns.str(row, 5);
    if (!generated.empty()) {
      sql += " GENERATED ALWAYS AS (" + columns.str(row, 3) + ") STORED";
    } else if (!identity.empty()) {
      // BY DEFAULT even for ALWAYS columns: the apply loop writes the
      // source's values into them.
      sql += " GENERATED BY DEFAULT AS IDENTITY";
    } else if (!columns.is_null(row, 3)) {
      sql += " DEFAULT " + columns.str(row, 3);
    }
    if (columns.boolean(row, 2)) sql += " NOT NULL";
  }
  sql += "\n)";
  if (table.partitioned) {
    sql += " PARTITION BY " +
           source.exec("SELECT pg_catalog.pg_get_partkeydef($1)", {std::to_string(table.oid)})
               .str(0, 0);
  }
  return sql;
}

constexpr const char* kPartitions = R"SQL(
SELECT c.oid, n.nspname, c.relname, pn.nspname, pc.relname,
       pg_catalog.pg_get_expr(c.relpartbound, c.oid),
       CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END
  FROM pg_catalog.pg_partition_tree($1) t
  JOIN pg_catalog.pg_class c ON c.oid = t.relid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_class pc ON pc.oid = t.parentrelid
  JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
 WHERE t.level > 0
 ORDER BY t.level, c.relname
)SQL";

// Keys, unique and exclusion constraints and checks defined on `oid` itself
// (inherited ones come from the parent), then its own indexes.
constexpr const char* kConstraints = R"SQL(
SELECT pg_catalog.quote_ident(c.conname), pg_catalog.pg_get_constraintdef(c.oid), c.contype
  FROM pg_catalog.pg_constraint c
 WHERE c.conrelid = $1 AND c.contype IN ('p', 'u', 'x', 'c') AND c.conislocal
 ORDER BY c.contype <> 'p', c.conname
)SQL";

constexpr const char* kIndexes = R"SQL(
SELECT pg_catalog.pg_get_indexdef(i.indexrelid), ic.relname, i.indisreplident
  FROM pg_catalog.pg_index i
  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
 WHERE i.indrelid = $1
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c WHERE c.conindid = i.indexrelid
                      AND c.conrelid = i.indrelid)
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhrelid = i.indexrelid)
 ORDER BY ic.relname
)SQL";

constexpr const char* kForeignKeys = R"SQL(
SELECT pg_catalog.quote_ident(c.conname), pg_catalog.pg_get_constraintdef(c.oid), c.confrelid
  FROM pg_catalog.pg_constraint c
 WHERE c.conrelid = $1 AND c.contype = 'f' AND c.conislocal
 ORDER BY c.conname
)SQL";

void add_post_data(pg::Connection& source, uint32_t oid, const std::string& display,
                   const std::string& qualified, char replica_identity,
                   std::vector<DdlStatement>& out) {
  const std::string oid_text = std::to_string(oid);
  pg::Result constraints = source.exec(kConstraints, {oid_text});
  for (int row = 0; row < constraints.rows(); ++row) {
    out.push_back({"constraint " + constraints.str(row, 0) + " on " + display,
                   "ALTER TABLE " + qualified + " ADD CONSTRAINT " + constraints.str(row, 0) + " " +
                       constraints.str(row, 1)});
  }
  pg::Result indexes = source.exec(kIndexes, {oid_text});
  std::string identity_index;
  for (int row = 0; row < indexes.rows(); ++row) {
    out.push_back({"index " + indexes.str(row, 1) + " on " + display, indexes.str(row, 0)});
    if (indexes.boolean(row, 2)) identity_index = indexes.str(row, 1);
  }
  if (replica_identity == 'f') {
    out.push_back(
        {"replica identity of " + display, "ALTER TABLE " + qualified + " REPLICA IDENTITY FULL"});
  } else if (replica_identity == 'i' && !identity_index.empty()) {
    out.push_back({"replica identity of " + display, "ALTER TABLE " + qualified +
                                                         " REPLICA IDENTITY USING INDEX " +
                                                         pg::quote_ident(identity_index)});
  }
}

}  // namespace

std::vector<SourceTable> list_source_tables(pg::Connection& source,
                                            const TableSelection& selection) {
  std::vector<std::string> unusable;
  std::vector<SourceTable> tables = list_source_tables(source, selection, unusable);
  if (!unusable.empty()) throw Error(ErrorKind::kPrecondition, unusable.front());
  if (tables.empty()) {
    std::string patterns;
    for (const auto& pattern : selection.include)
      patterns += (patterns.empty() ? "" : ", ") + pattern;
    throw Error(ErrorKind::kPrecondition,
                "tables.include (" + patterns + ") matches no table on the source");
  }
  return tables;
}

std::vector<SourceTable> list_source_tables(pg::Connection& source, const TableSelection& selection,
                                            std::vector<std::string>& unusable,
                                            const TableWanted& wanted) {
  std::vector<SourceTable> tables;
  pg::Result candidates = source.exec(kListTables);
  for (int row = 0; row < candidates.rows(); ++row) {
    SourceTable table;
    table.schema = candidates.str(row, 1);
    table.name = candidates.str(row, 2);
    if (!table_selected(selection, table.schema, table.name)) continue;
    if (wanted && !wanted(table.schema, table.name)) continue;
    table.oid = static_cast<uint32_t>(candidates.int64(row, 0));
    table.partitioned = candidates.boolean(row, 3);
    table.replica_identity = candidates.get(row, 4)[0];
    table.has_primary_key = candidates.boolean(row, 5);
    const bool has_identity_index = candidates.boolean(row, 6);
    const bool usable = (table.replica_identity == 'd' && table.has_primary_key) ||
                        table.replica_identity == 'f' ||
                        (table.replica_identity == 'i' && has_identity_index);
    if (!usable) {
      unusable.push_back("table " + table.display_name() +
                         " has no primary key and no replica identity; add a primary key or run "
                         "ALTER TABLE " +
                         table.qualified_name() + " REPLICA IDENTITY FULL");
      continue;
    }
    const std::string oid_text = std::to_string(table.oid);
    pg::Result columns = source.exec(kReplicatedColumns, {oid_text});
    table.builtin_types = true;
    for (int column_row = 0; column_row < columns.rows(); ++column_row) {
      table.columns.push_back(columns.str(column_row, 0));
      table.builtin_types = table.builtin_types && columns.boolean(column_row, 1);
    }
    pg::Result leaves = source.exec(kLeaves, {oid_text});
    for (int leaf_row = 0; leaf_row < leaves.rows(); ++leaf_row) {
      table.leaves.push_back(
          {leaves.str(leaf_row, 0), leaves.str(leaf_row, 1), leaves.int64(leaf_row, 2)});
    }
    tables.push_back(std::move(table));
  }
  return tables;
}

std::vector<std::string> sql_of(const std::vector<DdlStatement>& statements) {
  std::vector<std::string> out;
  for (const auto& statement : statements) out.push_back(statement.sql);
  return out;
}

control::TableRow table_row(const std::vector<SourceTable>& tables, size_t table_idx,
                            const std::vector<bool>& missing, const SchemaScript& script) {
  control::TableRow row;
  row.schema = tables[table_idx].schema;
  row.name = tables[table_idx].name;
  row.source_oid = tables[table_idx].oid;
  row.created_by_switchyard = missing[table_idx];
  row.post_data = sql_of(script.post_data[table_idx]);
  row.foreign_keys = sql_of(script.foreign_keys[table_idx]);
  row.post_data_done = !missing[table_idx];
  return row;
}

SchemaScript extract_schema(pg::Connection& source, pg::Connection& target,
                            const std::vector<SourceTable>& tables,
                            const std::vector<bool>& missing) {
  SchemaScript script;
  script.post_data.resize(tables.size());
  script.foreign_keys.resize(tables.size());
  const std::string oids = oid_array(tables, missing);
  if (oids == "{}") return script;

  // Render every name schema-qualified.
  source.exec("SET search_path = pg_catalog");
  std::set<std::string> schemas;
  std::vector<DdlStatement> types, sequences, created_tables, owned_by;
  add_types(source, target, oids, schemas, types);
  add_sequences(source, target, oids, schemas, sequences, owned_by);

  std::set<uint32_t> selected;
  for (const auto& table : tables) selected.insert(table.oid);

  for (size_t table_idx = 0; table_idx < tables.size(); ++table_idx) {
    if (!missing[table_idx]) continue;
    const SourceTable& table = tables[table_idx];
    schemas.insert(table.schema);
    created_tables.push_back({"table " + table.display_name(), create_table_sql(source, table)});
    auto& post = script.post_data[table_idx];
    add_post_data(source, table.oid, table.display_name(), table.qualified_name(),
                  table.replica_identity, post);
    if (table.partitioned) {
      pg::Result partitions = source.exec(kPartitions, {std::to_string(table.oid)});
      for (int row = 0; row < partitions.rows(); ++row) {
        const std::string display = partitions.str(row, 1) + "." + partitions.str(row, 2);
        const std::string qualified = pg::qualified(partitions.str(row, 1), partitions.str(row, 2));
        schemas.insert(partitions.str(row, 1));
        std::string sql = "CREATE TABLE " + qualified + " PARTITION OF " +
                          pg::qualified(partitions.str(row, 3), partitions.str(row, 4)) + " " +
                          partitions.str(row, 5);
        if (!partitions.is_null(row, 6)) sql += " PARTITION BY " + partitions.str(row, 6);
        created_tables.push_back({"partition " + display, sql});
        add_post_data(source, static_cast<uint32_t>(partitions.int64(row, 0)), display, qualified,
                      'd', post);
      }
    }
    pg::Result foreign_keys = source.exec(kForeignKeys, {std::to_string(table.oid)});
    for (int row = 0; row < foreign_keys.rows(); ++row) {
      const std::string name = foreign_keys.str(row, 0);
      if (!selected.count(static_cast<uint32_t>(foreign_keys.int64(row, 2)))) {
        spdlog::warn(
            "foreign key {} on {} references a table outside tables.include; "
            "not created on the target",
            name, table.display_name());
        continue;
      }
      script.foreign_keys[table_idx].push_back(
          {"foreign key " + name + " on " + table.display_name(),
           "ALTER TABLE " + table.qualified_name() + " ADD CONSTRAINT " + name + " " +
               foreign_keys.str(row, 1)});
    }
  }
  source.exec("RESET search_path");

  for (const auto& schema : schemas) {
    script.pre_data.push_back(
        {"schema " + schema, "CREATE SCHEMA IF NOT EXISTS " + pg::quote_ident(schema)});
  }
  script.first_table = script.pre_data.size() + types.size() + sequences.size();
  for (auto* group : {&types, &sequences, &created_tables, &owned_by}) {
    script.pre_data.insert(script.pre_data.end(), group->begin(), group->end());
  }
  return script;
}

}  // namespace switchyard
