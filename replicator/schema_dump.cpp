#include "replicator/schema_dump.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string_view>

#include "common/error.h"
#include "common/log.h"
#include "control/control_schema.h"
#include "drivers/pg/sql.h"
#include "replicator/schema_objects.h"
#include "replicator/schema_toc.h"

extern char** environ;

namespace switchyard {
namespace {

namespace fs = std::filesystem;

// A private temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/switchyard-schema.XXXXXX";
    if (!::mkdtemp(pattern.data())) {
      throw Error(ErrorKind::kInternal, "cannot create a temporary directory in " + pattern);
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs a client program found on PATH, its stdout into `stdout_path`;
// throws with the last line it printed on stderr when it fails. `password`,
// if not empty, is its PGPASSWORD (never an argument: ps shows those).
// (posix_spawnp and waitpid, as the command router does: a process
// library for two calls would pull in Boost.Filesystem's link for nothing.)
void run_program(std::vector<std::string> argv, const std::string& stdout_path,
                 const std::string& stderr_path, const std::string& password = {}) {
  std::string password_variable;
  std::vector<char*> env;
  for (char** variable = environ; *variable; ++variable) {
    if (password.empty() || std::string_view(*variable).substr(0, 11) != "PGPASSWORD=") {
      env.push_back(*variable);
    }
  }
  if (!password.empty()) {
    password_variable = "PGPASSWORD=" + password;
    env.push_back(password_variable.data());
  }
  env.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<char*> args;
  for (auto& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  pid_t pid = 0;
  const int spawned =
      ::posix_spawnp(&pid, argv[0].c_str(), &actions, nullptr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    throw Error(ErrorKind::kPrecondition,
                argv[0] +
                    " not found on PATH; init needs PostgreSQL's client programs "
                    "(Debian: postgresql-client-15)");
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  std::string errors = read_file(stderr_path);
  while (!errors.empty() && std::isspace(static_cast<unsigned char>(errors.back()))) {
    errors.pop_back();
  }
  const size_t newline = errors.rfind('\n');
  throw Error(
      ErrorKind::kPrecondition,
      argv[0] + " failed: " + (newline == std::string::npos ? errors : errors.substr(newline + 1)));
}

// For each object: the relations it needs on the target (see TocFacts).
constexpr const char* kRelationsNeeded = R"SQL(
SELECT 'pg_catalog.pg_trigger'::pg_catalog.regclass::oid, t.oid, t.tgrelid
  FROM pg_catalog.pg_trigger t WHERE t.oid = ANY($1::oid[])
UNION
SELECT 'pg_catalog.pg_rewrite'::pg_catalog.regclass::oid, r.oid, r.ev_class
  FROM pg_catalog.pg_rewrite r WHERE r.oid = ANY($1::oid[])
UNION
SELECT 'pg_catalog.pg_policy'::pg_catalog.regclass::oid, p.oid, p.polrelid
  FROM pg_catalog.pg_policy p WHERE p.oid = ANY($1::oid[])
UNION
SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::oid, i.indexrelid, i.indrelid
  FROM pg_catalog.pg_index i WHERE i.indexrelid = ANY($1::oid[])
UNION
SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::oid, r.ev_class, d.refobjid
  FROM pg_catalog.pg_rewrite r
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
   AND d.objid = r.oid AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
   AND d.refobjid <> r.ev_class
 WHERE r.ev_class = ANY($1::oid[]) AND r.rulename = '_RETURN'
UNION
SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass::oid, d.objid,
       coalesce(nullif(t.typrelid, 0), e.typrelid)
  FROM pg_catalog.pg_depend d
  JOIN pg_catalog.pg_type t ON t.oid = d.refobjid
  LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem
 WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
   AND d.refclassid = 'pg_catalog.pg_type'::pg_catalog.regclass AND d.objid = ANY($1::oid[])
   AND coalesce(nullif(t.typrelid, 0), e.typrelid, 0) <> 0
)SQL";

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// "function public.film_in_stock(integer, integer)", "trigger public.film film_fulltext"
std::string describe(const TocEntry& entry) {
  if (entry.desc == "COMMENT" || entry.desc == "ACL") {
    return (entry.desc == "COMMENT" ? "comment on " : "privileges on ") + lower(entry.tag);
  }
  return lower(entry.desc) + " " + (entry.schema == "-" ? "" : entry.schema + ".") + entry.tag;
}

std::vector<DdlStatement> extension_statements(pg::Connection& source, pg::Connection& target,
                                               const std::vector<std::string>& schemas) {
  std::vector<DdlStatement> out;
  for (const NeededExtension& extension : needed_extensions(source, schemas)) {
    if (target.exec("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = $1", {extension.name})
            .rows() > 0) {
      continue;
    }
    if (target
            .exec("SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = $1",
                  {extension.name})
            .rows() == 0) {
      throw Error(ErrorKind::kPrecondition,
                  "extension " + extension.name + " (needed by " + extension.needed_by +
                      ") is not available on the target server; install its package there "
                      "(PostgreSQL's own extensions are in postgresql-contrib)");
    }
    out.push_back({"extension " + extension.name,
                   "CREATE SCHEMA IF NOT EXISTS " + pg::quote_ident(extension.schema) +
                       "; CREATE EXTENSION IF NOT EXISTS " + pg::quote_ident(extension.name) +
                       " WITH SCHEMA " + pg::quote_ident(extension.schema) + " CASCADE"});
  }
  return out;
}

void check_roles(pg::Connection& source, pg::Connection& target,
                 const std::vector<std::string>& schemas) {
  const auto missing = missing_roles(target, roles_used(source, schemas, /*owners=*/false));
  if (missing.empty()) return;
  std::string list;
  for (const auto& use : missing) {
    list += (list.empty() ? "" : "; ") + ("role " + use.role + " (" + use.use + ")");
  }
  throw Error(ErrorKind::kPrecondition,
              list + (missing.size() == 1 ? " does" : " do") +
                  " not exist on the target; switchyard does not copy roles: create " +
                  (missing.size() == 1 ? "it" : "them") + " there first");
}

TocFacts gather_facts(pg::Connection& source, pg::Connection& target,
                      const std::vector<std::string>& schemas,
                      const std::vector<SourceTable>& tables, const std::vector<TocEntry>& entries,
                      const std::vector<TocEntry>& post_data) {
  TocFacts facts;
  for (const auto& entry : post_data) facts.post_data.insert(entry.dump_id);
  // Already on the target: the same kind and identity.
  std::set<std::string> present;
  for (const auto& object : read_schema_objects(target, schemas)) {
    present.insert(object.kind + " " + object.identity);
  }
  for (const auto& object : read_schema_objects(source, schemas)) {
    if (present.count(object.kind + " " + object.identity)) {
      facts.on_target.insert({object.catalog_oid, object.object_oid});
    }
  }
  std::vector<uint32_t> oids;
  for (const auto& entry : entries) {
    if (entry.object_oid) oids.push_back(entry.object_oid);
  }
  std::set<uint32_t> referenced;
  pg::Result edges = source.exec(kRelationsNeeded, {control::oid_array_literal(oids)});
  for (int row = 0; row < edges.rows(); ++row) {
    const ObjectKey key{static_cast<uint32_t>(edges.int64(row, 0)),
                        static_cast<uint32_t>(edges.int64(row, 1))};
    const auto relation = static_cast<uint32_t>(edges.int64(row, 2));
    facts.relations[key].push_back(relation);
    referenced.insert(relation);
  }
  // What needs a constraint (a primary key that a query groups by): switchyard
  // builds keys after the copy.
  pg::Result keyed = source.exec(
      "SELECT DISTINCT d.classid, d.objid FROM pg_catalog.pg_depend d "
      "WHERE d.refclassid = 'pg_catalog.pg_constraint'::pg_catalog.regclass "
      "AND d.deptype = 'n' AND d.objid = ANY($1::oid[])",
      {control::oid_array_literal(oids)});
  for (int row = 0; row < keyed.rows(); ++row) {
    facts.need_key.insert(
        {static_cast<uint32_t>(keyed.int64(row, 0)), static_cast<uint32_t>(keyed.int64(row, 1))});
  }
  std::vector<uint32_t> selected;
  for (const auto& table : tables) selected.push_back(table.oid);
  pg::Result tree = source.exec(
      "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.oid = ANY($1::oid[]) "
      "OR (c.relispartition AND pg_catalog.pg_partition_root(c.oid) = ANY($1::oid[]))",
      {control::oid_array_literal(selected)});
  for (int row = 0; row < tree.rows(); ++row) {
    facts.available.insert(static_cast<uint32_t>(tree.int64(row, 0)));
  }
  // Other relations count if the target has one of that name already.
  std::vector<uint32_t> others;
  for (uint32_t oid : referenced) {
    if (!facts.available.count(oid)) others.push_back(oid);
  }
  pg::Result names = source.exec(
      "SELECT c.oid, pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) "
      "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
      "WHERE c.oid = ANY($1::oid[]) AND c.relkind NOT IN ('v', 'm')",
      {control::oid_array_literal(others)});
  for (int row = 0; row < names.rows(); ++row) {
    if (!target.exec("SELECT pg_catalog.to_regclass($1)", {names.str(row, 1)}).is_null(0, 0)) {
      facts.available.insert(static_cast<uint32_t>(names.int64(row, 0)));
    }
  }
  return facts;
}

}  // namespace

SchemaObjectsScript extract_schema_objects(const Config& config, pg::Connection& source,
                                           pg::Connection& target,
                                           const std::vector<SourceTable>& tables) {
  std::vector<std::string> schemas;
  for (const auto& table : tables) {
    if (std::find(schemas.begin(), schemas.end(), table.schema) == schemas.end()) {
      schemas.push_back(table.schema);
    }
  }
  SchemaObjectsScript script;
  script.extensions = extension_statements(source, target, schemas);
  check_roles(source, target, schemas);

  TempDir dir;
  const std::string dump = dir.file("schema.dump");
  std::vector<std::string> pg_dump = {
      "pg_dump",           "--schema-only",      "--format=custom",
      "--no-publications", "--no-subscriptions", "--no-security-labels",
      "--no-tablespaces",  "--file=" + dump};
  // A quoted pattern matches the name exactly (no wildcards, any case).
  for (const auto& schema : schemas) pg_dump.push_back("--schema=" + pg::quote_ident(schema));
  // The password goes by the environment: the command line is public.
  const pg::ConninfoForCommandLine connection =
      pg::conninfo_for_command_line(config.source.conninfo, "source.conninfo");
  pg_dump.push_back("--dbname=" + connection.conninfo);
  run_program(pg_dump, "/dev/null", dir.file("pg_dump.err"), connection.password);
  run_program({"pg_restore", "--list", dump}, dir.file("toc"), dir.file("pg_restore.err"));
  const std::vector<TocEntry> entries = parse_toc(read_file(dir.file("toc")));
  run_program({"pg_restore", "--list", "--section=post-data", dump}, dir.file("post-data"),
              dir.file("pg_restore.err"));
  const std::vector<TocEntry> post_data = parse_toc(read_file(dir.file("post-data")));

  const TocPlan plan =
      plan_toc(entries, gather_facts(source, target, schemas, tables, entries, post_data));
  for (size_t idx : plan.unavailable) {
    spdlog::warn("{} is not created on the target: it needs a table outside tables.include",
                 describe(entries[idx]));
  }
  std::map<size_t, std::string> sql;
  if (!plan.restore.empty()) {
    std::vector<TocEntry> wanted;
    std::ofstream list(dir.file("list"));
    for (size_t idx : plan.restore) {
      list << entries[idx].line << '\n';
      wanted.push_back(entries[idx]);
    }
    list.close();
    run_program({"pg_restore", "--no-owner", "--use-list=" + dir.file("list"),
                 "--file=" + dir.file("schema.sql"), dump},
                "/dev/null", dir.file("pg_restore.err"));
    const std::vector<std::string> parts =
        split_restore_script(read_file(dir.file("schema.sql")), wanted);
    for (size_t part = 0; part < parts.size(); ++part) sql[plan.restore[part]] = parts[part];
  }
  const std::set<size_t> after_copy(plan.after_copy.begin(), plan.after_copy.end());
  auto statements = [&](const std::vector<size_t>& indexes, bool skip_after_copy) {
    std::vector<DdlStatement> out;
    for (size_t idx : indexes) {
      if (skip_after_copy && after_copy.count(idx)) continue;
      out.push_back({describe(entries[idx]), sql[idx]});
    }
    return out;
  };
  script.before_tables = statements(plan.before_tables, false);
  script.after_tables = statements(plan.after_tables, false);
  script.after_keys = statements(plan.after_keys, false);
  // Keys and indexes of the tables switchyard creates exist only after the
  // copy: their comments wait for them, as do those on what needs them.
  script.dependent = statements(plan.dependent, true);
  script.after_keys_dependent = statements(plan.after_copy, false);
  const std::set<size_t> created(plan.restore.begin(), plan.restore.end());
  for (size_t idx : plan.refresh) {
    const TocEntry& entry = entries[idx];
    const std::string name = pg::qualified(entry.schema, entry.tag);
    const bool populated =
        source
            .exec("SELECT relispopulated FROM pg_catalog.pg_class WHERE oid = $1",
                  {std::to_string(entry.object_oid)})
            .boolean(0, 0);
    if (!populated) continue;  // left empty on the source too (WITH NO DATA)
    DdlStatement refresh{"data of materialized view " + entry.schema + "." + entry.tag,
                         // The session's own search_path: functions the view calls may
                         // rely on it, as they do when the application refreshes it.
                         // Then its statistics, as for the copied tables.
                         "SET LOCAL search_path TO DEFAULT; REFRESH MATERIALIZED VIEW " + name +
                             "; ANALYZE " + name};
    script.refresh.push_back(refresh);
    if (created.count(idx)) script.refresh_created.push_back(refresh);
  }
  return script;
}

void run_schema_statements(pg::Connection& target, const std::vector<DdlStatement>& statements,
                           bool tolerate_absent) {
  if (statements.empty()) return;
  const std::string search_path = target.exec("SHOW search_path").str(0, 0);
  target.exec(
      "SELECT pg_catalog.set_config('search_path', '', true), "
      "pg_catalog.set_config('check_function_bodies', 'off', true), "
      "pg_catalog.set_config('client_min_messages', 'warning', true)");
  for (const auto& statement : statements) {
    if (!tolerate_absent) {
      spdlog::info("target: creating {}", statement.object);
      target.exec(statement.sql);
      continue;
    }
    target.exec("SAVEPOINT switchyard_schema");
    try {
      target.exec(statement.sql);
      target.exec("RELEASE SAVEPOINT switchyard_schema");
    } catch (const Error& error) {
      // undefined table, function or object: not on the target.
      static const std::set<std::string> kAbsent = {"42P01", "42883", "42704"};
      if (!kAbsent.count(error.sqlstate()) || !target.ok()) throw;
      target.exec("ROLLBACK TO SAVEPOINT switchyard_schema");
      spdlog::warn("target: {} skipped: {}", statement.object, error.what());
    }
  }
  target.exec("SELECT pg_catalog.set_config('search_path', $1, true)", {search_path});
}

}  // namespace switchyard
