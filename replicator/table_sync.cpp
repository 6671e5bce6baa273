#include "replicator/table_sync.h"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "common/error.h"
#include "common/log.h"
#include "control/control_schema.h"
#include "replicator/snapshot_copy.h"
#include "replicator/source_slot.h"

namespace switchyard {
namespace {

// Where a table the source lost under its name went: its oid under another
// name that tables.include selects (renamed, or moved to another schema).
std::optional<std::pair<std::string, std::string>> renamed_to(pg::Connection& source,
                                                              const Config& config, uint32_t oid) {
  if (oid == 0) return std::nullopt;  // recorded by an earlier version
  pg::Result now = source.exec(
      "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c "
      "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
      " WHERE c.oid = $1::oid AND c.relkind IN ('r', 'p') AND NOT c.relispartition",
      {std::to_string(oid)});
  if (now.rows() == 0) return std::nullopt;
  const std::string schema = now.str(0, 0), name = now.str(0, 1);
  std::vector<std::string> unusable;
  const auto selected = list_source_tables(
      source, config.tables, unusable,
      [&](const std::string& s, const std::string& n) { return s == schema && n == name; });
  if (selected.empty()) return std::nullopt;
  return std::make_pair(schema, name);
}

// The stream's tables (not being added) that the source no longer has under
// their name, or has but not in the publication: renamed, dropped, or
// dropped and created again. A rename is only noted (in `renamed`) unless
// `may_rename`: the target's table cannot be renamed while a batch of the
// stream's apply holds it.
void settle_lost_tables(pg::Connection& source, pg::Connection& target, const Config& config,
                        bool may_rename, std::vector<std::string>& renamed) {
  std::vector<std::string> schemas, names, oids;
  for (const auto& row : control::read_tables(target, config.name)) {
    if (row.adding) continue;
    schemas.push_back(row.schema);
    names.push_back(row.name);
    oids.push_back(std::to_string(row.source_oid));
  }
  if (names.empty()) return;
  pg::Result lost = source.exec(
      "SELECT t.s, t.n, c.oid IS NOT NULL, t.o "
      "  FROM unnest($1::text[], $2::text[], $4::oid[]) AS t (s, n, o) "
      "  LEFT JOIN pg_catalog.pg_namespace ns ON ns.nspname = t.s "
      "  LEFT JOIN pg_catalog.pg_class c "
      "    ON c.relnamespace = ns.oid AND c.relname = t.n AND c.relkind IN ('r', 'p') "
      " WHERE c.oid IS NULL "
      "    OR NOT EXISTS (SELECT FROM pg_catalog.pg_publication_tables p "
      "                    WHERE p.pubname = $3 AND p.schemaname = t.s AND p.tablename = t.n)",
      {control::text_array_literal(schemas), control::text_array_literal(names),
       config.publication_name(), control::text_array_literal(oids)});
  for (int row = 0; row < lost.rows(); ++row) {
    const std::string schema = lost.str(row, 0), name = lost.str(row, 1);
    if (lost.boolean(row, 2)) {
      spdlog::warn("{}.{} was dropped and created again on the source; copying it afresh", schema,
                   name);
      control::request_recopy(target, config.name, schema, name);
      continue;
    }
    if (const auto now = renamed_to(source, config, static_cast<uint32_t>(lost.int64(row, 3)))) {
      const std::string display = now->first + "." + now->second;
      if (!may_rename) {
        renamed.push_back(display);
        continue;
      }
      control::rename_table(target, config.name, schema, name, now->first, now->second);
      spdlog::info("{}.{} was renamed {} on the source; renamed on the target too, streaming on",
                   schema, name, display);
      continue;
    }
    spdlog::warn(
        "{}.{} was dropped on the source: it leaves the stream and verify; the target keeps "
        "its table and rows (drop it there once the application no longer needs it)",
        schema, name);
    control::forget_table(target, config.name, schema, name);
  }
}

}  // namespace

NewTables find_new_tables(pg::Connection& source, pg::Connection& target, const Config& config,
                          bool streaming) {
  NewTables found;
  settle_lost_tables(source, target, config, !streaming, found.renamed);
  std::map<std::string, bool> known;  // schema.name -> still being added
  for (const auto& row : control::read_tables(target, config.name)) {
    known[row.schema + "." + row.name] = row.adding;
  }
  // Only what the stream lacks (a streamed table that lost its key is for
  // drift handling, not for adding); the others cost no further query.
  auto lacking = [&](const std::string& schema, const std::string& name) {
    const auto it = known.find(schema + "." + name);
    return it == known.end() || it->second;
  };
  found.to_add = list_source_tables(source, config.tables, found.unusable, lacking);
  return found;
}

void add_tables(const Config& config, const std::vector<SourceTable>& requested) {
  pg::Connection source(config.source.conninfo, config.source.name);
  pg::Connection target(config.target.conninfo, config.target.name);
  std::map<std::string, control::TableRow> rows;
  for (auto& row : control::read_tables(target, config.name)) {
    rows[row.schema + "." + row.name] = std::move(row);
  }

  // A target table someone else created and filled is not ours to empty.
  std::vector<SourceTable> tables;
  std::vector<bool> missing;
  std::string refused;
  for (const auto& table : requested) {
    const bool absent =
        target.exec("SELECT pg_catalog.to_regclass($1)", {table.qualified_name()}).is_null(0, 0);
    const auto row = rows.find(table.display_name());
    // Ours: created by switchyard, or being added (the rows of an
    // interrupted add, or a table `recopy` replaces).
    const bool ours =
        row != rows.end() && (row->second.created_by_switchyard || row->second.adding);
    if (!absent && !ours &&
        target.exec("SELECT 1 FROM " + table.qualified_name() + " LIMIT 1").rows() > 0) {
      refused = "target: table " + table.display_name() +
                " appeared on the source but already holds rows on the target; empty it (or "
                "drop it) so that it can be copied";
      continue;
    }
    tables.push_back(table);
    missing.push_back(absent);
  }
  if (!tables.empty()) {
    // 2. The tables on the target, recorded as being added, in one transaction.
    const SchemaScript script = extract_schema(source, target, tables, missing);
    {
      pg::Transaction transaction(target);
      for (const auto& statement : script.pre_data) {
        spdlog::info("target: creating {}", statement.object);
        target.exec(statement.sql);
      }
      for (size_t table_idx = 0; table_idx < tables.size(); ++table_idx) {
        control::TableRow row = table_row(tables, table_idx, missing, script);
        row.adding = true;
        control::upsert_table(target, config.name, row);
      }
      transaction.commit();
    }
    // 3. The publication: every table of the stream, and these.
    std::vector<SourceTable> published = tables;
    for (const auto& [display, row] : rows) {
      if (std::none_of(tables.begin(), tables.end(),
                       [&](const SourceTable& table) { return table.display_name() == display; })) {
        SourceTable table;
        table.schema = row.schema;
        table.name = row.name;
        published.push_back(std::move(table));
      }
    }
    publish_tables(source, config.publication_name(), published);
    // 4. A temporary slot's consistent point, as of which the tables are copied.
    ExportedSnapshot snapshot = create_temporary_slot_exporting_snapshot(
        pg::Connection(config.source.conninfo, config.source.name, pg::Mode::kReplication),
        config.slot_name() + "_add");
    spdlog::info("adding {} tables to the stream, copied as of {}", tables.size(),
                 snapshot.consistent_point.to_string());
    // 5. The copy and the keys and indexes, then the position the stream
    //    takes over from.
    copy_tables(config, target, tables, snapshot.snapshot_name);
    pg::Transaction transaction(target);
    for (const auto& table : tables) {
      control::finish_adding_table(target, config.name, table.schema, table.name,
                                   snapshot.consistent_point);
      spdlog::info("{} joined the stream: its changes from {} on are applied", table.display_name(),
                   snapshot.consistent_point.to_string());
    }
    transaction.commit();
  }
  if (!refused.empty()) throw Error(ErrorKind::kPrecondition, refused);
}

void warn_unusable(const std::vector<std::string>& unusable, std::set<std::string>& warned) {
  for (const auto& reason : unusable) {
    if (warned.insert(reason).second) {
      spdlog::warn("{}: it matches tables.include but is not replicated until it has one", reason);
    }
  }
}

}  // namespace switchyard
