#include "replicator/requirements.h"

#include <algorithm>
#include <map>
#include <random>
#include <utility>

#include "common/error.h"
#include "common/log.h"
#include "drivers/pg/sql.h"
#include "replicator/schema_objects.h"
#include "replicator/source_slot.h"

namespace switchyard {
namespace {

// One server, as the role switchyard connects as sees it.
struct Server {
  Server(pg::Connection& connection, std::string connect_with)
      : db(connection), conninfo(std::move(connect_with)) {}

  pg::Connection& db;
  std::string conninfo;
  std::string user;      // current_user
  std::string database;  // current_database()
  int version = 0;
  bool superuser = false;
  bool replication = false;
  bool create_on_database = false;
  bool in_recovery = false;
  std::string wal_level;
  int64_t free_slots = 0;
  bool owns_database = false;
  std::string database_owner;
  bool database_owner_superuser = false;
  bool signal_backend = false;

  std::string user_ident() const { return pg::quote_ident(user); }
  std::string database_ident() const { return pg::quote_ident(database); }
};

Server read_server(pg::Connection& db, const std::string& conninfo) {
  pg::Result facts = db.exec(
      "SELECT current_user, pg_catalog.current_database(), r.rolsuper, r.rolreplication, "
      "       pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CREATE'), "
      "       pg_catalog.pg_is_in_recovery(), pg_catalog.current_setting('wal_level'), "
      "       pg_catalog.current_setting('max_replication_slots')::int - "
      "         (SELECT count(*) FROM pg_catalog.pg_replication_slots), "
      "       r.rolsuper OR pg_catalog.pg_has_role(d.datdba, 'MEMBER'), "
      "       pg_catalog.pg_get_userbyid(d.datdba), "
      "       (SELECT rolsuper FROM pg_catalog.pg_roles WHERE oid = d.datdba), "
      "       r.rolsuper OR pg_catalog.pg_has_role('pg_signal_backend', 'MEMBER') "
      "FROM pg_catalog.pg_roles r, pg_catalog.pg_database d "
      "WHERE r.rolname = current_user AND d.datname = pg_catalog.current_database()");
  Server server(db, conninfo);
  server.user = facts.str(0, 0);
  server.database = facts.str(0, 1);
  server.version = db.server_version();
  server.superuser = facts.boolean(0, 2);
  server.replication = facts.boolean(0, 2) || facts.boolean(0, 3);
  server.create_on_database = facts.boolean(0, 4);
  server.in_recovery = facts.boolean(0, 5);
  server.wal_level = facts.str(0, 6);
  server.free_slots = facts.int64(0, 7);
  server.owns_database = facts.boolean(0, 8);
  server.database_owner = facts.str(0, 9);
  server.database_owner_superuser = facts.boolean(0, 10);
  server.signal_backend = facts.boolean(0, 11);
  return server;
}

// What the stream's tables look like on one server, from the role's view.
struct TableRights {
  // Existing tables whose owner the role has no rights of (it cannot add
  // them to a publication), by owner.
  std::map<std::string, std::vector<std::string>> foreign_owners;
  std::vector<std::string> superuser_owners;  // of those, the superusers
  // Existing tables the role may not read and write in full.
  std::vector<std::string> not_writable;
  // Schemas that exist but where the role may not create the tables
  // missing there.
  std::vector<std::string> schemas_without_create;
};

TableRights read_table_rights(pg::Connection& db, const std::vector<TableName>& tables) {
  std::string names;
  for (const auto& table : tables) {
    if (!names.empty()) names += '\n';
    names += pg::qualified(table.schema, table.name);
  }
  TableRights rights;
  if (names.empty()) return rights;
  pg::Result found = db.exec(
      "SELECT wanted.name, pg_catalog.format('%I.%I', n.nspname, c.relname), "
      "       pg_catalog.pg_get_userbyid(c.relowner), "
      "       pg_catalog.pg_has_role(c.relowner, 'USAGE'), "
      "       pg_catalog.has_table_privilege(c.oid, 'SELECT') "
      "       AND pg_catalog.has_table_privilege(c.oid, 'INSERT') "
      "       AND pg_catalog.has_table_privilege(c.oid, 'UPDATE') "
      "       AND pg_catalog.has_table_privilege(c.oid, 'DELETE') "
      "       AND pg_catalog.has_table_privilege(c.oid, 'TRUNCATE'), owner.rolsuper "
      "FROM pg_catalog.regexp_split_to_table($1, E'\\n') AS wanted(name) "
      "JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(wanted.name) "
      "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
      "JOIN pg_catalog.pg_roles owner ON owner.oid = c.relowner ORDER BY 2",
      {names});
  std::vector<std::string> existing;
  for (int row = 0; row < found.rows(); ++row) {
    existing.push_back(found.str(row, 0));
    if (!found.boolean(row, 3)) {
      auto& owned = rights.foreign_owners[found.str(row, 2)];
      if (owned.empty() && found.boolean(row, 5))
        rights.superuser_owners.push_back(found.str(row, 2));
      owned.push_back(found.str(row, 1));
    }
    if (!found.boolean(row, 4)) rights.not_writable.push_back(found.str(row, 1));
  }
  // Tables still to be created: their schema, if it exists, must let the
  // role create in it (a missing schema is created, under CREATE on the
  // database).
  std::vector<std::string> schemas;
  for (const auto& table : tables) {
    const bool exists = std::find(existing.begin(), existing.end(),
                                  pg::qualified(table.schema, table.name)) != existing.end();
    if (!exists && std::find(schemas.begin(), schemas.end(), table.schema) == schemas.end()) {
      schemas.push_back(table.schema);
    }
  }
  for (const auto& schema : schemas) {
    pg::Result create = db.exec(
        "SELECT pg_catalog.has_schema_privilege(oid, 'CREATE') FROM pg_catalog.pg_namespace "
        "WHERE nspname = $1",
        {schema});
    if (create.rows() > 0 && !create.boolean(0, 0)) {
      rights.schemas_without_create.push_back(pg::quote_ident(schema));
    }
  }
  return rights;
}

std::string join(const std::vector<std::string>& items, const char* separator = ", ") {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

class Checklist {
 public:
  explicit Checklist(std::vector<Requirement>& out) : out_(out) {}

  void add(const Server& server, NeededBy needed_by, std::string what, bool met,
           std::string problem = {}, std::string fix = {}) {
    Requirement requirement;
    requirement.side = server.db.role();
    requirement.needed_by = needed_by;
    requirement.what = std::move(what);
    requirement.met = met;
    if (!met) {
      requirement.problem = std::move(problem);
      requirement.fix = std::move(fix);
    }
    out_.push_back(std::move(requirement));
  }

 private:
  std::vector<Requirement>& out_;
};

// Whether the target is the very database the source session is in, reached
// under another spelling (localhost for 127.0.0.1, another address of the
// host): the copy would then wait on its own locks, and the application's
// writes behind it. The source session names itself with a token no other
// session has, and the target looks for it among its own database's
// sessions (application_name is shown to every role).
bool same_database(pg::Connection& source, pg::Connection& target) {
  std::random_device random;
  const std::string token =
      "switchyard-identity-" + std::to_string(random()) + "-" + std::to_string(random());
  const std::string previous = source.exec("SHOW application_name").str(0, 0);
  source.exec("SELECT pg_catalog.set_config('application_name', $1, false)", {token});
  const bool same = target
                        .exec(
                            "SELECT EXISTS (SELECT FROM pg_catalog.pg_stat_activity "
                            "WHERE application_name = $1 "
                            "  AND datname = pg_catalog.current_database())",
                            {token})
                        .boolean(0, 0);
  source.exec("SELECT pg_catalog.set_config('application_name', $1, false)", {previous});
  return same;
}

std::string role_phrase(const Server& server) {
  return "role " + server.user;
}

// Both servers, whatever their part: a supported, writable server on which
// the role may create (the publication, the control schema).
void check_server(Checklist& list, const Server& server) {
  list.add(server, NeededBy::kStream, "PostgreSQL 13 or later", server.version >= 130000,
           "PostgreSQL " + std::to_string(server.version / 10000) + " is too old",
           "switchyard needs 13 or later");
  list.add(server, NeededBy::kStream, "a primary, not a standby", !server.in_recovery,
           "the server is a standby (in recovery)", "switchyard needs the writable primary");
  list.add(
      server, NeededBy::kStream, "CREATE on database " + server.database, server.create_on_database,
      role_phrase(server) +
          " may not create schemas or publications (no CREATE on the "
          "database)",
      "GRANT CREATE ON DATABASE " + server.database_ident() + " TO " + server.user_ident() + ";");
}

// The server a stream reads from: logical decoding, a slot, a walsender
// connection, and tables it may publish.
void check_publisher(Checklist& list, const Server& server, NeededBy needed_by,
                     const std::string& slot, const TableRights& tables) {
  list.add(server, needed_by, "wal_level = logical", server.wal_level == "logical",
           "wal_level is '" + server.wal_level + "'",
           "set wal_level = logical in postgresql.conf (or ALTER SYSTEM SET wal_level = "
           "logical) and restart the server");
  const bool has_slot = find_slot(server.db, slot).has_value();
  list.add(server, needed_by, "a free replication slot", has_slot || server.free_slots > 0,
           "all max_replication_slots are in use",
           "raise max_replication_slots (needs a restart) or drop an unused slot");
  list.add(server, needed_by, "the REPLICATION attribute", server.replication,
           role_phrase(server) + " may not create a replication slot",
           "ALTER ROLE " + server.user_ident() + " REPLICATION" + ";");
  if (server.replication) {
    std::string refused;
    try {
      pg::Connection walsender(server.conninfo, server.db.role(), pg::Mode::kReplication, "check");
    } catch (const Error& error) {
      refused = error.what();
    }
    list.add(server, needed_by, "a replication connection", refused.empty(),
             "the server refuses a replication connection (" + refused + ")",
             "allow it in pg_hba.conf with a line whose database column names " + server.database +
                 " (logical replication connections match the database, not 'replication')");
  }
  for (const auto& [owner, names] : tables.foreign_owners) {
    // Membership in a superuser would make the role one: hand the tables
    // over instead.
    const bool superuser = std::find(tables.superuser_owners.begin(), tables.superuser_owners.end(),
                                     owner) != tables.superuser_owners.end();
    std::string fix;
    for (const auto& name : names) {
      if (!superuser) break;
      fix += "ALTER TABLE " + name + " OWNER TO " + server.user_ident() + "; ";
    }
    list.add(server, needed_by, "ownership rights on the published tables", false,
             role_phrase(server) + " may not publish " + join(names) + " (owned by " + owner +
                 (superuser ? ", a superuser)" : ")"),
             superuser ? fix.substr(0, fix.size() - 1)
                       : "GRANT " + pg::quote_ident(owner) + " TO " + server.user_ident() + ";");
  }
  if (tables.foreign_owners.empty()) {
    list.add(server, needed_by, "ownership rights on the published tables", true);
  }
}

// The server a stream applies to: replication origins, the replica session
// role, and tables it may write (or create).
void check_subscriber(Checklist& list, const Server& server, NeededBy needed_by,
                      const TableRights& tables) {
  pg::Result functions = server.db.exec(
      "SELECT p.oid::regprocedure::text FROM pg_catalog.pg_proc p "
      "WHERE p.pronamespace = 'pg_catalog'::regnamespace "
      "  AND p.proname LIKE 'pg\\_replication\\_origin\\_%' "
      "  AND NOT pg_catalog.has_function_privilege(p.oid, 'EXECUTE') ORDER BY 1");
  std::vector<std::string> lacking;
  for (int row = 0; row < functions.rows(); ++row) {
    lacking.push_back("pg_catalog." + functions.str(row, 0));
  }
  list.add(server, needed_by, "EXECUTE on the replication origin functions", lacking.empty(),
           role_phrase(server) + " may not use " + std::to_string(lacking.size()) +
               " of the replication origin functions",
           "GRANT EXECUTE ON FUNCTION " + join(lacking) + " TO " + server.user_ident() + ";");

  // Tried, not inferred: superusers may, and on PostgreSQL 15 roles granted
  // SET on the parameter.
  bool may_set = true;
  server.db.exec("BEGIN");
  try {
    server.db.exec("SET LOCAL session_replication_role = replica");
    server.db.exec("ROLLBACK");
  } catch (const Error&) {
    if (server.db.ok()) server.db.exec("ROLLBACK");
    may_set = false;
  }
  const std::string grant_set =
      "GRANT SET ON PARAMETER session_replication_role TO " + server.user_ident() + ";";
  list.add(
      server, needed_by, "SET session_replication_role", may_set,
      role_phrase(server) + " may not set session_replication_role, which the apply session needs",
      server.version >= 150000
          ? grant_set
          : "make it a superuser (PostgreSQL 15 and later: " + grant_set + ")");

  list.add(server, needed_by, "read and write the stream's tables", tables.not_writable.empty(),
           role_phrase(server) + " may not read and write " + join(tables.not_writable),
           "GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLE " + join(tables.not_writable) +
               " TO " + server.user_ident() + ";");
  for (const auto& schema : tables.schemas_without_create) {
    list.add(server, needed_by, "CREATE on schema " + schema, false,
             role_phrase(server) + " may not create the missing tables in schema " + schema,
             "GRANT CREATE ON SCHEMA " + schema + " TO " + server.user_ident() + ";");
  }
}

// Cutover and failback make a database read-only for new sessions and end
// the sessions it has.
void check_fence(Checklist& list, const Server& server) {
  const std::string alter_owner =
      "ALTER DATABASE " + server.database_ident() + " OWNER TO " + server.user_ident() + ";";
  list.add(
      server, NeededBy::kCutover, "ownership of database " + server.database, server.owns_database,
      role_phrase(server) + " may not fence database " + server.database +
          " (ALTER DATABASE needs its owner, " + server.database_owner + ")",
      server.database_owner_superuser ? alter_owner
                                      : "GRANT " + pg::quote_ident(server.database_owner) + " TO " +
                                            server.user_ident() + "; (or " + alter_owner + ")");
  list.add(server, NeededBy::kCutover, "membership in pg_signal_backend", server.signal_backend,
           role_phrase(server) + " may not end the application's sessions at the fence",
           "GRANT pg_signal_backend TO " + server.user_ident() + ";");
}

// Roles are not copied: those the application's objects name must exist on
// the target. Those named in grants before init brings the grants over;
// owners before the cutover checks the application's schema.
void check_roles(Checklist& list, pg::Connection& source, const Server& cloud,
                 const std::vector<TableName>& tables) {
  std::vector<std::string> schemas;
  for (const auto& table : tables) {
    if (std::find(schemas.begin(), schemas.end(), table.schema) == schemas.end()) {
      schemas.push_back(table.schema);
    }
  }
  const auto granted = missing_roles(cloud.db, roles_used(source, schemas, /*owners=*/false));
  const auto owning = missing_roles(cloud.db, roles_used(source, schemas, /*owners=*/true));
  auto add = [&](NeededBy needed_by, const char* what, const std::vector<RoleUse>& uses) {
    std::vector<std::string> roles, statements;
    std::string first_use;
    for (const auto& use : uses) {
      if (std::find(roles.begin(), roles.end(), use.role) != roles.end()) continue;
      if (first_use.empty()) first_use = " (" + use.use + ")";
      roles.push_back(use.role);
      statements.push_back("CREATE ROLE " + pg::quote_ident(use.role) + " NOLOGIN;");
    }
    const std::string where = " on the " + cloud.db.role() + "; switchyard does not copy roles";
    list.add(cloud, needed_by, what, roles.empty(),
             roles.size() == 1 ? "role " + roles.front() + first_use + " does not exist" + where
                               : "roles " + join(roles) + " do not exist" + where + first_use,
             join(statements, " "));
  };
  add(NeededBy::kStream, kGrantRoles, granted);
  std::vector<RoleUse> owners_only;
  for (const auto& use : owning) {
    const bool in_grants = std::any_of(granted.begin(), granted.end(), [&](const RoleUse& other) {
      return other.role == use.role;
    });
    if (!in_grants) owners_only.push_back(use);
  }
  add(NeededBy::kCutover, kOwnerRoles, owners_only);
}

}  // namespace

std::string Requirement::message() const {
  if (met) return side + ": " + what;
  return side + ": " + problem + "; " + fix;
}

std::vector<TableName> table_names(const std::vector<SourceTable>& tables) {
  std::vector<TableName> names;
  for (const auto& table : tables) names.push_back({table.schema, table.name});
  return names;
}

std::vector<Requirement> check_requirements(const Config& config, pg::Connection& source,
                                            pg::Connection& target,
                                            const std::vector<TableName>& tables) {
  const Server legacy = read_server(source, config.source.conninfo);
  const Server cloud = read_server(target, config.target.conninfo);
  const TableRights legacy_tables = read_table_rights(source, tables);
  const TableRights cloud_tables = read_table_rights(target, tables);

  std::vector<Requirement> all;
  Checklist list(all);
  // The source: read by the forward stream, written by the reverse one.
  check_server(list, legacy);
  check_publisher(list, legacy, NeededBy::kStream, config.slot_name(), legacy_tables);
  check_subscriber(list, legacy, NeededBy::kCutover, legacy_tables);
  check_fence(list, legacy);
  // The target: written by the forward stream, read by the reverse one.
  check_server(list, cloud);
  list.add(cloud, NeededBy::kStream, "a database other than the source's",
           !same_database(source, target),
           "target.conninfo reaches the source's own database " + cloud.database,
           "point target.conninfo at the cloud replica");
  check_subscriber(list, cloud, NeededBy::kStream, cloud_tables);
  check_publisher(list, cloud, NeededBy::kCutover, config.slot_name(), cloud_tables);
  check_fence(list, cloud);
  check_roles(list, source, cloud, tables);
  return all;
}

std::vector<Requirement> check_target_requirements(const Config& config, pg::Connection& target,
                                                   const std::vector<TableName>& tables) {
  const Server cloud = read_server(target, config.target.conninfo);
  const TableRights cloud_tables = read_table_rights(target, tables);
  std::vector<Requirement> all;
  Checklist list(all);
  check_server(list, cloud);
  check_subscriber(list, cloud, NeededBy::kStream, cloud_tables);
  return all;
}

std::vector<Requirement> unmet(const std::vector<Requirement>& all, NeededBy stage) {
  std::vector<Requirement> missing;
  for (const auto& requirement : all) {
    if (requirement.met) continue;
    if (stage == NeededBy::kStream && requirement.needed_by != NeededBy::kStream) continue;
    missing.push_back(requirement);
  }
  return missing;
}

void require(const std::vector<Requirement>& all, NeededBy stage, const std::string& doing) {
  const auto missing = unmet(all, stage);
  if (missing.empty()) return;
  for (const auto& requirement : missing) spdlog::error("{}", requirement.message());
  if (missing.size() == 1) throw Error(ErrorKind::kPrecondition, missing.front().message());
  throw Error(ErrorKind::kPrecondition,
              doing + ": " + std::to_string(missing.size()) +
                  " requirements are missing (each logged above; `switchyard check` lists "
                  "them all), the first: " +
                  missing.front().message());
}

}  // namespace switchyard
