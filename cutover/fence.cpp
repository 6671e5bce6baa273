#include "cutover/fence.h"

#include <algorithm>
#include <thread>

#include "common/error.h"
#include "drivers/pg/catalog.h"
#include "drivers/pg/sql.h"

namespace switchyard::cutover {
namespace {

std::string alter_database(pg::Connection& database) {
  return "ALTER DATABASE " +
         pg::quote_ident(database.exec("SELECT pg_catalog.current_database()").get(0, 0));
}

}  // namespace

FenceResult fence(pg::Connection& primary, std::chrono::steady_clock::time_point deadline) {
  // Committed without waiting for the disk: the drain marker that follows
  // commits synchronously, and its flush covers this commit too.
  primary.exec_until("SET LOCAL synchronous_commit = off; " + alter_database(primary) +
                         " SET default_transaction_read_only = on",
                     deadline);
  // pg_terminate_backend(pid, timeout) waits for the session to exit.
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  const std::string wait_ms = std::to_string(std::max<int64_t>(1, left.count()));
  // pg_terminate_backend says false both when a session outlives the wait
  // and when it had already gone (pgbouncer closes its server connections
  // as PAUSE completes): look again at those, in a fresh statistics
  // snapshot, until they are gone or the deadline passes.
  pg::Result ended = primary.exec_until(
      "SELECT count(*), coalesce(array_agg(pid) FILTER (WHERE NOT gone), '{}')::text FROM ("
      "  SELECT pid, pg_catalog.pg_terminate_backend(pid, " +
          wait_ms +
          ") AS gone "
          "  FROM pg_catalog.pg_stat_activity "
          "  WHERE datname = pg_catalog.current_database() AND pid <> pg_catalog.pg_backend_pid() "
          "    AND backend_type = 'client backend' "
          "    AND coalesce(application_name, '') NOT LIKE 'switchyard-%') signalled",
      deadline);
  const std::string unsure = ended.str(0, 1);
  if (unsure != "{}") {
    for (;;) {
      const int64_t left_over =
          primary
              .exec("SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE pid = ANY ($1::int[])",
                    {unsure})
              .int64(0, 0);
      if (left_over == 0) break;
      if (std::chrono::steady_clock::now() > deadline) {
        throw Error(ErrorKind::kTimeout,
                    primary.role() + ": " + std::to_string(left_over) +
                        " sessions did not exit in time after being terminated");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  return FenceResult{static_cast<int>(ended.int64(0, 0))};
}

void unfence(pg::Connection& database, std::chrono::steady_clock::time_point deadline) {
  database.exec_until(alter_database(database) + " RESET default_transaction_read_only", deadline);
}

bool fenced(pg::Connection& database) {
  return pg::database_read_only_default(database);
}

}  // namespace switchyard::cutover
