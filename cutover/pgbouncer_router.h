// router.kind: pgbouncer. switchyard owns one file, %include-d by
// pgbouncer.ini, holding the application's database entry:
//
//   [databases]
//   app = host=10.0.0.5 port=5432 dbname=app
//
// Freeze is `PAUSE app` (bounded: a transaction that will not finish keeps
// PAUSE waiting, so at the deadline switchyard sends RESUME from a second
// admin session and gives up). Switch rewrites the file (a temporary file
// with the file's mode and owner, renamed over it, so pgbouncer never reads
// half of it) and sends RELOAD; pgbouncer then closes the paused server
// connections to the old primary and opens new ones to the new primary on
// RESUME.
//
// RELOAD answers OK even when pgbouncer could not load its configuration
// (a file it cannot read, a line it rejects): it then keeps the old one.
// And pgbouncer.ini may %include another file than the one switchyard
// writes. So a switch is read back with SHOW DATABASES before anything
// depends on it, and the preflight proves that pgbouncer loads this file:
// it adds a uniquely named probe entry (the new primary's, which pgbouncer
// only connects to if a client asks for that name), RELOADs, looks for it
// in SHOW DATABASES, and puts the file back.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/config.h"
#include "cutover/router.h"
#include "drivers/pg/connection.h"

namespace switchyard::cutover {

class PgbouncerRouter final : public Router {
 public:
  explicit PgbouncerRouter(const Config& config);
  ~PgbouncerRouter() override;

  std::string describe() const override;
  void check(Primary expected) override;
  void freeze(Clock::time_point deadline) override;
  std::string switch_to(Primary primary, Clock::time_point deadline) override;
  std::string switch_back(Primary primary, Clock::time_point deadline) override;
  void resume(Clock::time_point deadline) override;

  // The entry's connection string for each primary: router.source_entry /
  // target_entry, or host, port and dbname of the conninfo.
  std::string entry_for(Primary primary) const;
  // The file's whole text for `primary`.
  std::string file_text(Primary primary) const;

 private:
  pg::Connection& admin();
  // Replaces the file's whole text, keeping its mode and owner.
  void write_file(const std::string& text) const;
  // RELOAD, then SHOW DATABASES must show the entry pointing at `primary`.
  std::string reload_and_prove(Primary primary, Clock::time_point deadline);
  void probe_reload(Primary primary, Clock::time_point deadline);

  RouterSettings settings_;
  std::string source_entry_;
  std::string target_entry_;
  std::unique_ptr<pg::Connection> admin_;
  // The file as it was before this process first switched it: a rollback
  // puts back exactly that.
  std::optional<std::string> replaced_text_;
};

}  // namespace switchyard::cutover
