#include "replicator/setup.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/error.h"
#include "common/log.h"
#include "control/control_schema.h"
#include "drivers/pg/catalog.h"
#include "drivers/pg/sql.h"
#include "replicator/requirements.h"
#include "replicator/schema_dump.h"

namespace switchyard {

namespace {

// A relation switchyard creates and the role that owns it on the source.
struct Ownership {
  std::string relation;  // "schema"."name"
  std::string display;   // schema.name
  std::string owner;
};

// The tables (and partitions) init creates, with their source owners.
std::vector<Ownership> source_owners(pg::Connection& source, const std::vector<SourceTable>& tables,
                                     const std::vector<bool>& missing) {
  std::vector<Ownership> owners;
  for (size_t table_idx = 0; table_idx < tables.size(); ++table_idx) {
    if (!missing[table_idx]) continue;
    const SourceTable& table = tables[table_idx];
    std::vector<std::pair<std::string, std::string>> relations{{table.schema, table.name}};
    if (table.partitioned) {
      for (const auto& leaf : table.leaves) relations.emplace_back(leaf.schema, leaf.name);
    }
    for (const auto& [schema, name] : relations) {
      const std::string relation = pg::qualified(schema, name);
      pg::Result owner = source.exec(
          "SELECT pg_catalog.pg_get_userbyid(relowner) FROM pg_catalog.pg_class "
          "WHERE oid = pg_catalog.to_regclass($1)",
          {relation});
      if (owner.rows() > 0) owners.push_back({relation, schema + "." + name, owner.str(0, 0)});
    }
  }
  return owners;
}

// Tables created by switchyard belong to their source owner where that role
// exists on the target and this role may act as it (a member inherits its
// rights, so the copy, the keys and the reverse stream still may); else
// they stay this role's, and the log says why and what to run.
void hand_over(pg::Connection& target, const std::vector<Ownership>& owners) {
  std::map<std::string, std::vector<std::string>> absent, not_member;
  for (const auto& [relation, display, owner] : owners) {
    pg::Result role = target.exec(
        "SELECT r.oid IS NOT NULL, current_user = $1, "
        "       r.oid IS NOT NULL AND (pg_catalog.pg_has_role(r.oid, 'USAGE') OR "
        "         (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)), "
        "       current_user "
        "FROM (SELECT 1) one LEFT JOIN pg_catalog.pg_roles r ON r.rolname = $1",
        {owner});
    if (role.boolean(0, 1)) continue;
    if (!role.boolean(0, 0)) {
      absent[owner].push_back(display);
    } else if (!role.boolean(0, 2)) {
      not_member[owner + "|" + role.str(0, 3)].push_back(display);
    } else {
      target.exec("ALTER TABLE " + relation + " OWNER TO " + pg::quote_ident(owner));
    }
  }
  for (const auto& [owner, relations] : absent) {
    spdlog::warn(
        "target: role {} owns {} on the source but does not exist here: created as this "
        "role's; create it, then ALTER TABLE ... OWNER TO {}",
        owner,
        relations.size() == 1 ? relations.front() : std::to_string(relations.size()) + " tables",
        pg::quote_ident(owner));
  }
  for (const auto& [key, relations] : not_member) {
    const std::string owner = key.substr(0, key.find('|'));
    const std::string self = key.substr(key.find('|') + 1);
    spdlog::warn(
        "target: {} stay owned by {}, not {} as on the source: {} may not act as {} (GRANT {} "
        "TO {} before init, or ALTER TABLE ... OWNER TO {} afterwards)",
        relations.size() == 1 ? relations.front() : std::to_string(relations.size()) + " tables",
        self, owner, self, owner, pg::quote_ident(owner), pg::quote_ident(self),
        pg::quote_ident(owner));
  }
}

// Target side of init, in one transaction: all of it or none of it (what
// needs the keys switchyard builds after the copy waits for the copy).
// Extensions first (column types and functions use them), functions before
// the tables whose defaults may call them, and what reads the tables after.
void prepare_target(pg::Connection& target, const Config& config, const std::string& system_id,
                    const std::vector<SourceTable>& tables, const std::vector<bool>& missing,
                    const SchemaScript& script, const SchemaObjectsScript& objects,
                    const std::vector<Ownership>& owners, bool copy_done) {
  target.exec("BEGIN");
  try {
    control::ensure_schema(target);
    control::insert_stream(target, config.name, system_id);
    run_schema_statements(target, objects.extensions, false);
    for (size_t idx = 0; idx < script.pre_data.size(); ++idx) {
      if (idx == script.first_table) run_schema_statements(target, objects.before_tables, false);
      spdlog::info("target: creating {}", script.pre_data[idx].object);
      target.exec(script.pre_data[idx].sql);
    }
    if (script.first_table >= script.pre_data.size()) {
      run_schema_statements(target, objects.before_tables, false);
    }
    hand_over(target, owners);
    run_schema_statements(target, objects.after_tables, false);
    run_schema_statements(target, objects.dependent, true);
    // The copy builds the keys, then creates what needs them and fills new
    // materialized views; after it, init must.
    if (copy_done) {
      run_schema_statements(target, objects.after_keys, false);
      run_schema_statements(target, objects.after_keys_dependent, true);
      run_schema_statements(target, objects.refresh_created, false);
    }
    for (size_t table_idx = 0; table_idx < tables.size(); ++table_idx) {
      control::upsert_table(target, config.name, table_row(tables, table_idx, missing, script));
    }
    control::ensure_origin(target, config.origin_name());
    target.exec("COMMIT");
  } catch (...) {
    if (target.ok()) target.exec("ROLLBACK");
    throw;
  }
}

// A table the DBA prepared (pg_dump --schema-only, say) is used as it is;
// say what was found in it that changes how it is written.
void report_prepared_tables(pg::Connection& target, const std::vector<SourceTable>& tables,
                            const std::vector<bool>& missing) {
  for (size_t table_idx = 0; table_idx < tables.size(); ++table_idx) {
    if (missing[table_idx]) continue;
    pg::Result found = target.exec(
        "SELECT (SELECT count(*) FROM pg_catalog.pg_constraint WHERE contype = 'f' "
        "          AND (conrelid = c.oid OR confrelid = c.oid)), "
        "       (SELECT string_agg(attname, ', ' ORDER BY attnum) FROM pg_catalog.pg_attribute "
        "          WHERE attrelid = c.oid AND attidentity = 'a' AND NOT attisdropped), "
        "       (SELECT count(*) FROM pg_catalog.pg_trigger "
        "          WHERE tgrelid = c.oid AND NOT tgisinternal), "
        "       pg_catalog.pg_get_userbyid(c.relowner) "
        "FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1)",
        {tables[table_idx].qualified_name()});
    if (found.rows() == 0) continue;
    std::string handling;
    if (found.int64(0, 0) > 0) {
      handling += "; foreign keys (" + found.str(0, 0) +
                  "): not checked while copying and applying (the source checked "
                  "them), tables emptied together";
    }
    if (!found.is_null(0, 1)) {
      handling += "; GENERATED ALWAYS identity " + found.str(0, 1) +
                  ": written as the source's values (OVERRIDING SYSTEM VALUE)";
    }
    if (found.int64(0, 2) > 0) {
      handling += "; triggers (" + found.str(0, 2) + "): not fired by switchyard's writes";
    }
    spdlog::info("target: table {} exists (owner {}): used as it is{}",
                 tables[table_idx].display_name(), found.str(0, 3), handling);
  }
}

}  // namespace

InitResult run_init(const Config& config, bool export_snapshot) {
  pg::Connection source(config.source.conninfo, config.source.name);
  pg::Connection target(config.target.conninfo, config.target.name);

  // 1. Checks: nothing is created until all of them pass. What only the
  // cutover needs is named now, so that it can be arranged in good time.
  InitResult result;
  result.tables = list_source_tables(source, config.tables);
  const auto requirements = check_requirements(config, source, target, table_names(result.tables));
  require(requirements, NeededBy::kStream, "init");
  const auto for_cutover = unmet(requirements, NeededBy::kCutover);
  for (const auto& requirement : for_cutover) {
    spdlog::warn("{} (needed at cutover)", requirement.message());
  }
  result.missing_for_cutover = for_cutover.size();
  if (!for_cutover.empty()) {
    spdlog::warn(
        "init: {} requirements of the cutover, the reverse stream or failback are missing "
        "(above); the stream can start, cutover will refuse until they are in place",
        for_cutover.size());
  }
  pg::Connection replication(config.source.conninfo, config.source.name, pg::Mode::kReplication);
  const std::string system_id = source_system_id(replication);
  const auto existing = control::read_stream(target, config.name);
  if (existing && existing->source_system_id != system_id) {
    throw Error(ErrorKind::kPrecondition, "target: stream '" + config.name +
                                              "' was initialised from another source server "
                                              "(system id " +
                                              existing->source_system_id + ", this one is " +
                                              system_id +
                                              "); run teardown first or choose another name");
  }
  if (existing && control::read_direction(target, config.name) == control::Direction::kReverse) {
    throw Error(ErrorKind::kPrecondition,
                "target: stream '" + config.name +
                    "' runs target -> source since a cutover; init and snapshot apply to the "
                    "forward stream (run failback first)");
  }
  std::vector<bool> missing;
  for (const auto& table : result.tables) {
    missing.push_back(
        target.exec("SELECT pg_catalog.to_regclass($1)", {table.qualified_name()}).is_null(0, 0));
  }
  const bool copy_done = existing && existing->phase == control::kStreaming;
  if (!copy_done) report_prepared_tables(target, result.tables, missing);
  // Rows in a table switchyard did not create are someone else's data: the
  // copy goes only into an empty one. Refused now, before the source holds
  // a slot for a copy that cannot run (a copy under way has its own rows).
  if (!existing || existing->phase == control::kInitialized) {
    std::set<std::string> created;
    if (existing) {
      for (const auto& row : control::read_tables(target, config.name)) {
        if (row.created_by_switchyard) created.insert(row.schema + "." + row.name);
      }
    }
    for (size_t table_idx = 0; table_idx < missing.size(); ++table_idx) {
      const SourceTable& table = result.tables[table_idx];
      if (missing[table_idx] || created.count(table.display_name())) continue;
      if (target.exec("SELECT FROM " + table.qualified_name() + " LIMIT 1").rows() > 0) {
        throw Error(ErrorKind::kPrecondition,
                    "target: table " + table.display_name() +
                        " already holds rows; the initial copy needs it empty (TRUNCATE it on "
                        "the target, or leave it out with tables.exclude)");
      }
    }
  }
  if (copy_done) {
    for (size_t table_idx = 0; table_idx < missing.size(); ++table_idx) {
      if (missing[table_idx]) {
        throw Error(ErrorKind::kPrecondition,
                    "table " + result.tables[table_idx].display_name() +
                        " is selected but the initial copy is already done; adding tables to a "
                        "running stream needs teardown and a new init");
      }
    }
  }
  const SchemaScript script = extract_schema(source, target, result.tables, missing);
  SchemaObjectsScript objects = extract_schema_objects(config, source, target, result.tables);

  // 2. Source: publication, then slot. Undo on failure.
  const bool new_publication = !publication_exists(source, config.publication_name());
  const auto slot = find_slot(source, config.slot_name());
  bool new_slot = false;
  try {
    publish_tables(source, config.publication_name(), result.tables);
    if (export_snapshot && !copy_done) {
      if (slot) drop_slot(source, config.slot_name());
      result.snapshot = create_slot_exporting_snapshot(std::move(replication), config.slot_name());
      new_slot = true;
      spdlog::info("source: slot {} created at {} with snapshot {}", config.slot_name(),
                   result.snapshot->consistent_point.to_string(), result.snapshot->snapshot_name);
    } else if (!slot) {
      const Lsn at = create_slot(replication, config.slot_name());
      new_slot = true;
      spdlog::info("source: slot {} created at {}", config.slot_name(), at.to_string());
    }
    // 3. Target, in one transaction.
    prepare_target(target, config, system_id, result.tables, missing, script, objects,
                   source_owners(source, result.tables, missing), copy_done);
  } catch (...) {
    result.snapshot.reset();  // close the slot's connection before dropping it
    try {
      if (new_slot) drop_slot(source, config.slot_name());
      if (new_publication) drop_publication(source, config.publication_name());
    } catch (const Error& cleanup) {
      spdlog::error("while undoing init: {}", cleanup.what());
    }
    throw;
  }
  const size_t created_objects = objects.extensions.size() + objects.before_tables.size() +
                                 objects.after_tables.size() + objects.after_keys.size();
  size_t later = 0;
  if (!copy_done) {
    later = objects.after_keys.size();
    result.after_keys = std::move(objects.after_keys);
    result.after_copy = std::move(objects.after_keys_dependent);
    result.after_copy.insert(result.after_copy.end(), objects.refresh.begin(),
                             objects.refresh.end());
  }
  result.tables_created = static_cast<size_t>(std::count(missing.begin(), missing.end(), true));
  spdlog::info(
      "init: {} tables selected, {} created on the target, and {} other schema objects{}; "
      "publication {} and slot {} ready",
      result.tables.size(), std::count(missing.begin(), missing.end(), true), created_objects,
      later ? " (" + std::to_string(later) + " need the keys: created after the copy)"
            : std::string(),
      config.publication_name(), config.slot_name());
  return result;
}

void run_teardown(const Config& config) {
  pg::Connection source(config.source.conninfo, config.source.name);
  pg::Connection target(config.target.conninfo, config.target.name);
  if (find_slot(source, config.slot_name())) {
    drop_slot(source, config.slot_name());
    spdlog::info("source: dropped replication slot {}", config.slot_name());
  }
  if (publication_exists(source, config.publication_name())) {
    drop_publication(source, config.publication_name());
    spdlog::info("source: dropped publication {}", config.publication_name());
  }
  // What a cutover created for the reverse direction: slot and publication
  // on the target, origin and control rows on the source.
  if (find_slot(target, config.slot_name())) {
    drop_slot(target, config.slot_name());
    spdlog::info("target: dropped replication slot {} (reverse stream)", config.slot_name());
  }
  if (publication_exists(target, config.publication_name())) {
    drop_publication(target, config.publication_name());
    spdlog::info("target: dropped publication {} (reverse stream)", config.publication_name());
  }
  control::drop_origin(source, config.origin_name());
  if (control::remove_stream(source, config.name)) {
    spdlog::info("source: dropped the switchyard control schema (reverse stream)");
  }
  control::drop_origin(target, config.origin_name());
  if (control::remove_stream(target, config.name)) {
    spdlog::info("target: dropped the switchyard control schema");
  }
  // A fence (read-only default) set by cutover or failback stays: it
  // protects whichever database is no longer the primary.
  // The hint must work from a session of the fenced database itself, which
  // starts read-only: hence the explicit READ WRITE.
  for (auto* database : {&source, &target}) {
    if (pg::database_read_only_default(*database)) {
      const std::string name =
          pg::quote_ident(database->exec("SELECT pg_catalog.current_database()").get(0, 0));
      spdlog::info(
          "{}: stays fenced (new sessions are read-only); to lift it: BEGIN READ WRITE; ALTER "
          "DATABASE {} RESET default_transaction_read_only; COMMIT;",
          database->role(), name);
    }
  }
  spdlog::info(
      "teardown of stream {} complete; replicated tables and their data are left in "
      "place on the target",
      config.name);
}

}  // namespace switchyard
