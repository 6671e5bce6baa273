// The schema objects an application uses besides its tables, read from a
// server's catalog the same way on either side: init asks it which objects
// the target already has, the cutover preflight which ones the new primary
// lacks.
//
// Objects are named by the server's own pg_identify_object identity
// ("public.film_in_stock(integer,integer)", "film_fulltext on public.film"),
// which is canonical and schema-qualified, so the two sides compare as
// strings. Objects that belong to an extension are the extension's and are
// compared as the extension.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "drivers/pg/connection.h"

namespace switchyard {

struct SchemaObject {
  std::string kind;      // function, procedure, aggregate, view, materialized view, index,
                         // trigger, rule, policy, row security
  std::string identity;  // as pg_identify_object names it
  std::string relation;  // trigger/rule/policy/row security on a table: schema.name
  uint32_t catalog_oid = 0;
  uint32_t object_oid = 0;

  std::string display() const { return kind + " " + identity; }
};

// Functions, procedures and aggregates, views, materialized views and
// their indexes, triggers (not internal ones), rules (not a view's own),
// policies and row security enablement, in the given schemas.
std::vector<SchemaObject> read_schema_objects(pg::Connection& database,
                                              const std::vector<std::string>& schemas);

struct NeededExtension {
  std::string name;
  std::string schema;  // where its objects live
  std::string version;
  std::string needed_by;  // why, for messages: "installed in schema public" or an object
};

// Extensions installed in one of the schemas, or whose objects the
// schemas' columns, functions, views or triggers use. plpgsql included.
std::vector<NeededExtension> needed_extensions(pg::Connection& database,
                                               const std::vector<std::string>& schemas);

struct RoleUse {
  std::string role;
  std::string use;  // "granted privileges on table public.film", "owns function ..."
};

// Roles named by the schemas' objects: grantees of their privileges and
// roles of their policies, and with `owners` their owners too. One use per
// role (the first), sorted by role.
std::vector<RoleUse> roles_used(pg::Connection& database, const std::vector<std::string>& schemas,
                                bool owners);

// Those of `uses` whose role does not exist on `database`.
std::vector<RoleUse> missing_roles(pg::Connection& database, const std::vector<RoleUse>& uses);

}  // namespace switchyard
