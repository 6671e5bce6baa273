#include "replicator/legacy_source.h"

#include <algorithm>

#include "common/error.h"
#include "replicator/table_filter.h"

namespace switchyard {
namespace {

// Every ODBC session switchyard opens reads values the same way.
void prepare_session(odbc::Connection& connection, const std::string& engine) {
  if (engine == "MariaDB") {
    // Zone-free DATETIMEs are read as stored; TIMESTAMPs in UTC.
    connection.exec("SET SESSION time_zone = '+00:00'");
  }
}

}  // namespace

LegacySource::LegacySource(const Config& config)
    : config_(config),
      password_(config.source.password()),
      connection_(std::make_unique<odbc::Connection>(config.source.conninfo, config.source.name,
                                                     password_)),
      dialect_(odbc::Dialect::detect(*connection_)),
      engine_(dialect_->engine()) {
  prepare_session(*connection_, engine_);
}

std::string LegacySource::changelog() const {
  return dialect_->quote(odbc::Dialect::changelog_name(config_.name));
}

std::unique_ptr<odbc::Connection> LegacySource::open(const std::string& role,
                                                     bool streaming) const {
  std::string conninfo = config_.source.conninfo;
  if (streaming) {
    // Both drivers otherwise read a whole result into memory before the
    // first row: a table's worth, per snapshot worker.
    if (!conninfo.empty() && conninfo.back() != ';') conninfo += ';';
    conninfo += engine_ == "MariaDB" ? "OPTIONS=1048576" : "StepAPI=1";
  }
  auto connection = std::make_unique<odbc::Connection>(
      conninfo, config_.source.name + " (" + role + ")", password_);
  prepare_session(*connection, engine_);
  return connection;
}

bool LegacySource::selected(const odbc::LegacyTable& legacy) const {
  if (legacy.name == odbc::Dialect::changelog_name(config_.name)) return false;
  return table_selected(config_.tables, legacy.schema, legacy.name) ||
         table_selected(config_.tables, pg_schema(engine_, legacy.schema),
                        pg_identifier(legacy.name));
}

std::vector<std::string> LegacySource::selected_names() {
  std::vector<std::string> out;
  for (const odbc::LegacyTable& legacy : dialect_->table_names(*connection_)) {
    if (selected(legacy)) out.push_back(legacy.name);
  }
  return out;
}

std::vector<LegacyStreamTable> LegacySource::selected_tables(std::vector<std::string>* problems) {
  std::vector<LegacyStreamTable> out;
  for (odbc::LegacyTable& legacy : dialect_->tables(*connection_)) {
    if (!selected(legacy)) continue;
    LegacyStreamTable table;
    table.legacy = std::move(legacy);
    try {
      const std::string display = table.legacy.schema + "." + table.legacy.name;
      // The key rows are told apart by: the primary key, else the first
      // unique key over NOT NULL columns.
      if (table.legacy.primary_key.empty()) {
        if (table.legacy.unique_keys.empty()) {
          throw Error(ErrorKind::kPrecondition,
                      "source: table " + display +
                          " has no primary key and no unique key over NOT NULL columns; trigger "
                          "capture needs one to apply changes by key (add one, or leave the table "
                          "out with tables.exclude: [\"" +
                          display + "\"])");
        }
        table.legacy.primary_key = table.legacy.unique_keys.front();
      }
      table.translation = translate_table(engine_, table.legacy, config_.types);
    } catch (const Error& error) {
      if (problems == nullptr || error.kind() != ErrorKind::kPrecondition) throw;
      problems->push_back(error.what());
      continue;
    }
    for (const std::string& key : table.legacy.primary_key) {
      for (size_t idx = 0; idx < table.legacy.columns.size(); ++idx) {
        if (table.legacy.columns[idx].name == key) table.key.push_back(idx);
      }
    }
    out.push_back(std::move(table));
  }
  return out;
}

}  // namespace switchyard
