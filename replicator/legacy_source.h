// An ODBC legacy source as the replicator sees it: the connection (its
// password from source.password_file or password_env), the engine's
// dialect, and the tables the configuration selects with their translation
// to PostgreSQL. init, snapshot, replicate, verify, status and teardown all
// start from here.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/config.h"
#include "drivers/odbc/connection.h"
#include "drivers/odbc/dialect.h"
#include "replicator/legacy_values.h"
#include "replicator/schema_translation.h"

namespace switchyard {

struct LegacyStreamTable {
  odbc::LegacyTable legacy;
  TableTranslation translation;
  std::vector<size_t> key;  // the key's columns, as indexes into the columns

  std::string display() const { return translation.schema + "." + translation.name; }
  std::string legacy_display() const { return legacy.schema + "." + legacy.name; }
};

class LegacySource {
 public:
  // Connects; throws as odbc::Connection does (kUsage for a driver that is
  // not installed, kAuthentication for a wrong password, never echoed).
  explicit LegacySource(const Config& config);

  odbc::Connection& connection() { return *connection_; }
  const odbc::Dialect& dialect() const { return *dialect_; }
  const std::string& engine() const { return engine_; }
  // The changelog table, quoted for the engine.
  std::string changelog() const;

  // A new session to the same database (a snapshot worker's, verify's).
  // `streaming`: results are handed over as the server sends them, not
  // fetched whole into the driver's memory first (MariaDB's NO_CACHE,
  // SQLite's StepAPI); such a session runs one statement at a time.
  std::unique_ptr<odbc::Connection> open(const std::string& role, bool streaming = false) const;

  // The tables tables.include/exclude select (matched on the legacy name,
  // "shop.Orders", or the PostgreSQL one, "shop.orders"), translated.
  // Throws Error(kPrecondition) naming a table without a primary key or a
  // unique key over NOT NULL columns, or a column type without a rule.
  // With `problems`, a table that cannot be streamed is described there and
  // left out instead (`check` lists them all).
  std::vector<LegacyStreamTable> selected_tables(std::vector<std::string>* problems = nullptr);
  // The legacy names of the tables the configuration selects, read without
  // their columns and keys (one cheap query).
  std::vector<std::string> selected_names();

 private:
  bool selected(const odbc::LegacyTable& legacy) const;

  const Config& config_;
  std::string password_;
  std::unique_ptr<odbc::Connection> connection_;
  std::unique_ptr<odbc::Dialect> dialect_;
  std::string engine_;
};

}  // namespace switchyard
