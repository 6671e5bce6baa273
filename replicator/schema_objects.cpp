#include "replicator/schema_objects.h"

#include "control/control_schema.h"

namespace switchyard {
namespace {

constexpr const char* kObjects = R"SQL(
WITH s AS (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = ANY($1::text[])),
objects(classid, objid, relation) AS (
  SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, p.oid, NULL::oid
    FROM pg_catalog.pg_proc p WHERE p.pronamespace IN (SELECT oid FROM s)
  UNION ALL
  SELECT 'pg_catalog.pg_class', c.oid, NULL FROM pg_catalog.pg_class c
   WHERE c.relkind IN ('v', 'm') AND c.relnamespace IN (SELECT oid FROM s)
  UNION ALL
  SELECT 'pg_catalog.pg_class', i.indexrelid, i.indrelid FROM pg_catalog.pg_index i
    JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
   WHERE c.relkind = 'm' AND c.relnamespace IN (SELECT oid FROM s)
  UNION ALL
  -- Triggers cloned onto partitions come with their parent's.
  SELECT 'pg_catalog.pg_trigger', t.oid, t.tgrelid FROM pg_catalog.pg_trigger t
    JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
   WHERE NOT t.tgisinternal AND t.tgparentid = 0 AND c.relnamespace IN (SELECT oid FROM s)
  UNION ALL
  SELECT 'pg_catalog.pg_rewrite', r.oid, r.ev_class FROM pg_catalog.pg_rewrite r
    JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
   WHERE r.rulename <> '_RETURN' AND c.relnamespace IN (SELECT oid FROM s)
  UNION ALL
  SELECT 'pg_catalog.pg_policy', p.oid, p.polrelid FROM pg_catalog.pg_policy p
    JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
   WHERE c.relnamespace IN (SELECT oid FROM s)
)
SELECT i.type, i.identity,
       coalesce(CASE WHEN rc.relkind IN ('r', 'p') THEN rn.nspname || '.' || rc.relname END, ''),
       o.classid::oid, o.objid
  FROM objects o
 CROSS JOIN LATERAL pg_catalog.pg_identify_object(o.classid, o.objid, 0) i
  LEFT JOIN pg_catalog.pg_class rc ON rc.oid = o.relation
  LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = o.classid AND d.objid = o.objid AND d.deptype = 'e')
UNION ALL
SELECT 'row security', pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),
       n.nspname || '.' || c.relname, 0, c.oid
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relrowsecurity AND c.relnamespace IN (SELECT oid FROM s)
ORDER BY 1, 2
)SQL";

// An extension is needed when it lives in one of the schemas (the
// application may call its functions from code the catalog cannot see into,
// such as plpgsql bodies), or when an object of the schemas depends on one
// of its members (a column's type, a function's language, a default).
constexpr const char* kNeededExtensions = R"SQL(
WITH s AS (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = ANY($1::text[])),
members AS (
  SELECT d.classid, d.objid, d.refobjid AS ext FROM pg_catalog.pg_depend d
   WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.deptype = 'e'
),
users AS (
  SELECT m.ext, d.classid, d.objid, d.objsubid
    FROM pg_catalog.pg_depend d
    JOIN members m ON m.classid = d.refclassid AND m.objid = d.refobjid
   WHERE d.deptype = 'n'
     AND NOT EXISTS (SELECT 1 FROM members o WHERE o.classid = d.classid AND o.objid = d.objid)
     AND ((d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
           AND d.objid IN (SELECT oid FROM pg_catalog.pg_class WHERE relnamespace IN (SELECT oid FROM s)))
       OR (d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
           AND d.objid IN (SELECT oid FROM pg_catalog.pg_proc WHERE pronamespace IN (SELECT oid FROM s)))
       OR (d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass
           AND d.objid IN (SELECT oid FROM pg_catalog.pg_type WHERE typnamespace IN (SELECT oid FROM s)))
       OR (d.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass
           AND d.objid IN (SELECT a.oid FROM pg_catalog.pg_attrdef a JOIN pg_catalog.pg_class c
                             ON c.oid = a.adrelid WHERE c.relnamespace IN (SELECT oid FROM s)))
       OR (d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
           AND d.objid IN (SELECT r.oid FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c
                             ON c.oid = r.ev_class WHERE c.relnamespace IN (SELECT oid FROM s)))
       OR (d.classid = 'pg_catalog.pg_trigger'::pg_catalog.regclass
           AND d.objid IN (SELECT t.oid FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c
                             ON c.oid = t.tgrelid WHERE c.relnamespace IN (SELECT oid FROM s))))
)
SELECT e.extname, n.nspname, e.extversion,
       coalesce((SELECT pg_catalog.pg_describe_object(u.classid, u.objid, u.objsubid)
                   FROM users u WHERE u.ext = e.oid ORDER BY 1 LIMIT 1),
                'installed in schema ' || n.nspname)
  FROM pg_catalog.pg_extension e
  JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extnamespace IN (SELECT oid FROM s) OR EXISTS (SELECT 1 FROM users u WHERE u.ext = e.oid)
 ORDER BY 1
)SQL";

// Built-in roles (oid below 16384) exist on every server, except the
// bootstrap superuser (oid 10), whose name differs between installations.
constexpr const char* kRolesUsed = R"SQL(
WITH s AS (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = ANY($1::text[])),
objects(what, acl, owner) AS (
  SELECT pg_catalog.pg_describe_object('pg_catalog.pg_class'::pg_catalog.regclass, c.oid, 0),
         c.relacl, c.relowner
    FROM pg_catalog.pg_class c
   WHERE c.relnamespace IN (SELECT oid FROM s) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  UNION ALL
  SELECT pg_catalog.pg_describe_object('pg_catalog.pg_class'::pg_catalog.regclass, a.attrelid,
                                       a.attnum), a.attacl, NULL
    FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
   WHERE a.attacl IS NOT NULL AND c.relnamespace IN (SELECT oid FROM s)
  UNION ALL
  SELECT pg_catalog.pg_describe_object('pg_catalog.pg_proc'::pg_catalog.regclass, p.oid, 0),
         p.proacl, p.proowner
    FROM pg_catalog.pg_proc p
   WHERE p.pronamespace IN (SELECT oid FROM s)
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                        AND d.objid = p.oid AND d.deptype = 'e')
  UNION ALL
  SELECT pg_catalog.pg_describe_object('pg_catalog.pg_type'::pg_catalog.regclass, t.oid, 0),
         t.typacl, t.typowner
    FROM pg_catalog.pg_type t
   WHERE t.typnamespace IN (SELECT oid FROM s) AND t.typrelid = 0 AND t.typelem = 0
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass
                        AND d.objid = t.oid AND d.deptype = 'e')
  UNION ALL
  SELECT 'schema ' || n.nspname, n.nspacl, n.nspowner
    FROM pg_catalog.pg_namespace n WHERE n.oid IN (SELECT oid FROM s)
),
uses(role, use, rank) AS (
  SELECT (pg_catalog.aclexplode(o.acl)).grantee, 'granted privileges on ' || o.what, 1
    FROM objects o WHERE o.acl IS NOT NULL
  UNION ALL
  SELECT r.role, 'named by ' || pg_catalog.pg_describe_object(
                   'pg_catalog.pg_policy'::pg_catalog.regclass, p.oid, 0), 2
    FROM pg_catalog.pg_policy p
    JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
   CROSS JOIN LATERAL pg_catalog.unnest(p.polroles) r(role)
   WHERE c.relnamespace IN (SELECT oid FROM s)
  UNION ALL
  SELECT o.owner, 'owns ' || o.what, 3 FROM objects o WHERE $2::bool AND o.owner IS NOT NULL
)
SELECT DISTINCT ON (a.rolname) a.rolname, u.use
  FROM uses u JOIN pg_catalog.pg_roles a ON a.oid = u.role
 WHERE a.oid >= 16384 OR a.oid = 10
 ORDER BY a.rolname, u.rank, u.use
)SQL";

// pg_describe_object names an object schema-qualified unless its schema is
// on the search_path: for messages, only pg_catalog is.
class QualifiedNames {
 public:
  explicit QualifiedNames(pg::Connection& database)
      : database_(database), saved_(database.exec("SHOW search_path").str(0, 0)) {
    database_.exec("SET search_path = pg_catalog");
  }
  ~QualifiedNames() {
    try {
      if (database_.ok()) {
        database_.exec("SELECT pg_catalog.set_config('search_path', $1, false)", {saved_});
      }
    } catch (...) {  // a broken connection is reported by its next use
    }
  }
  QualifiedNames(const QualifiedNames&) = delete;
  QualifiedNames& operator=(const QualifiedNames&) = delete;

 private:
  pg::Connection& database_;
  std::string saved_;
};

}  // namespace

std::vector<SchemaObject> read_schema_objects(pg::Connection& database,
                                              const std::vector<std::string>& schemas) {
  std::vector<SchemaObject> objects;
  pg::Result rows = database.exec(kObjects, {control::text_array_literal(schemas)});
  for (int row = 0; row < rows.rows(); ++row) {
    objects.push_back({rows.str(row, 0), rows.str(row, 1), rows.str(row, 2),
                       static_cast<uint32_t>(rows.int64(row, 3)),
                       static_cast<uint32_t>(rows.int64(row, 4))});
  }
  return objects;
}

std::vector<NeededExtension> needed_extensions(pg::Connection& database,
                                               const std::vector<std::string>& schemas) {
  std::vector<NeededExtension> extensions;
  QualifiedNames qualified(database);
  pg::Result rows = database.exec(kNeededExtensions, {control::text_array_literal(schemas)});
  for (int row = 0; row < rows.rows(); ++row) {
    extensions.push_back({rows.str(row, 0), rows.str(row, 1), rows.str(row, 2), rows.str(row, 3)});
  }
  return extensions;
}

std::vector<RoleUse> roles_used(pg::Connection& database, const std::vector<std::string>& schemas,
                                bool owners) {
  std::vector<RoleUse> uses;
  QualifiedNames qualified(database);
  pg::Result rows = database.exec(
      kRolesUsed, {control::text_array_literal(schemas), std::string(owners ? "t" : "f")});
  for (int row = 0; row < rows.rows(); ++row) uses.push_back({rows.str(row, 0), rows.str(row, 1)});
  return uses;
}

std::vector<RoleUse> missing_roles(pg::Connection& database, const std::vector<RoleUse>& uses) {
  std::vector<std::string> names;
  for (const auto& use : uses) names.push_back(use.role);
  pg::Result absent = database.exec(
      "SELECT r FROM pg_catalog.unnest($1::text[]) r "
      "WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r)",
      {control::text_array_literal(names)});
  std::vector<RoleUse> missing;
  for (int row = 0; row < absent.rows(); ++row) {
    for (const auto& use : uses) {
      if (use.role == absent.get(row, 0)) missing.push_back(use);
    }
  }
  return missing;
}

}  // namespace switchyard
