// router.kind: pgbouncer. switchyard owns one file, %include-d by
// pgbouncer.ini, holding the application's database entry:
//
//   [databases]
//   app = host=10.0.0.5 port=5432 dbname=app
//
// Freeze is `PAUSE app` (bounded: a transaction that will not finish keeps
// PAUSE waiting, so at the deadline switchyard sends RESUME from a second
// admin session and gives up). Switch rewrites the file (a temporary file
// renamed over it, so pgbouncer never reads half of it) and sends RELOAD;
// pgbouncer then closes the paused server connections to the old primary
// and opens new ones to the new primary on RESUME.
#pragma once

#include <memory>
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
  void switch_to(Primary primary, Clock::time_point deadline) override;
  void resume(Clock::time_point deadline) override;

  // The entry's connection string for each primary: router.source_entry /
  // target_entry, or host, port and dbname of the conninfo.
  std::string entry_for(Primary primary) const;
  // The file's whole text for `primary`.
  std::string file_text(Primary primary) const;

 private:
  pg::Connection& admin();

  RouterSettings settings_;
  std::string source_entry_;
  std::string target_entry_;
  std::unique_ptr<pg::Connection> admin_;
};

}  // namespace switchyard::cutover
