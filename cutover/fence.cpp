#include "cutover/fence.h"

#include <algorithm>
#include <thread>

#include "common/error.h"
#include "drivers/pg/catalog.h"
#include "drivers/pg/sql.h"

namespace switchyard::cutover {
namespace {

// The name libpq connected with, not asked of the server: inside the
// freeze every round trip is one more the clients wait for.
std::string alter_database(const pg::Connection& database) {
  return "ALTER DATABASE " + pg::quote_ident(database.database());
}

// Committed without waiting for the disk: the drain marker that follows
// commits synchronously, and its flush covers this commit too.
std::string set_read_only(const pg::Connection& primary) {
  return "SET LOCAL synchronous_commit = off; " + alter_database(primary) +
         " SET default_transaction_read_only = on";
}

// Signal every other client session, then watch them go. (The waiting
// form, pg_terminate_backend(pid, timeout), polls in 100 ms steps: a
// tenth of a second of frozen writes per session.) A session that had
// already gone is simply not found again.
// The marker and the read: in the same statement when no session was
// signalled (CASE does not evaluate the volatile calls otherwise).
std::string end_sessions(const FenceAlone& alone) {
  const auto when_alone = [](const std::string& expression) {
    return expression.empty() ? std::string("NULL") : "CASE WHEN n = 0 THEN " + expression + " END";
  };
  // Materialized first, so that no session outside it is ever signalled
  // (the order of a WHERE clause's conditions is the planner's choice).
  return "WITH victims AS MATERIALIZED ("
         "  SELECT pid FROM pg_catalog.pg_stat_activity "
         "  WHERE datname = pg_catalog.current_database() AND pid <> pg_catalog.pg_backend_pid() "
         "    AND backend_type = 'client backend' "
         "    AND coalesce(application_name, '') NOT LIKE 'switchyard-%'), "
         "signalled AS MATERIALIZED ("
         "  SELECT count(*) AS n, coalesce(array_agg(pid), '{}')::text AS pids FROM victims "
         "  WHERE pg_catalog.pg_terminate_backend(pid)) "
         "SELECT n, pids, " +
         when_alone(alone.marker ? emit_expression(*alone.marker) : std::string()) + ", " +
         when_alone(alone.read) + " FROM signalled";
}

}  // namespace

std::string emit_expression(const Marker& marker) {
  return "pg_catalog.pg_logical_emit_message(true, " + pg::quote_literal(marker.prefix) + ", " +
         pg::quote_literal(marker.content) + ")::text";
}

void ready_fence(pg::Connection& primary, std::chrono::steady_clock::time_point deadline) {
  primary.exec_until("BEGIN; " + set_read_only(primary), deadline);
}

void abandon_fence(pg::Connection& primary) noexcept {
  try {
    if (primary.ok() && primary.in_transaction()) primary.exec("ROLLBACK");
  } catch (const std::exception&) {
    // Broken on the way: the server rolls the transaction back itself.
  }
}

FenceResult fence(pg::Connection& primary, std::chrono::steady_clock::time_point deadline,
                  const FenceAlone& alone) {
  std::string statements;
  if (primary.in_transaction()) {
    // Made ready: the commit and the sessions' end in one round trip, in
    // that order (a session opened after the commit starts read-only).
    statements = "COMMIT; " + end_sessions(alone);
  } else {
    primary.exec_until(set_read_only(primary), deadline);
    statements = end_sessions(alone);
  }
  pg::Result signalled = primary.exec_until(statements, deadline);
  FenceResult result;
  result.terminated = static_cast<int>(signalled.int64(0, 0));
  if (!signalled.is_null(0, 2)) result.marker = Lsn::parse(signalled.get(0, 2));
  if (!signalled.is_null(0, 3)) result.read = signalled.str(0, 3);
  const std::string pids = signalled.str(0, 1);
  // Each statement is its own transaction, so each sees fresh statistics.
  while (pids != "{}") {
    const int64_t left_over =
        primary
            .exec_until("SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE pid = ANY ('" +
                            pids + "'::int[])",
                        deadline)
            .int64(0, 0);
    if (left_over == 0) break;
    if (std::chrono::steady_clock::now() > deadline) {
      throw Error(ErrorKind::kTimeout, primary.role() + ": " + std::to_string(left_over) +
                                           " sessions did not exit in time after being terminated");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return result;
}

std::string unfence_sql(const pg::Connection& database) {
  return alter_database(database) + " RESET default_transaction_read_only";
}

void unfence(pg::Connection& database, std::chrono::steady_clock::time_point deadline) {
  try {
    database.exec_until(
        "BEGIN; SET LOCAL synchronous_commit = off; " + unfence_sql(database) + "; COMMIT",
        deadline);
  } catch (...) {
    abandon_fence(database);  // the failed statement left its transaction open
    throw;
  }
}

bool fenced(pg::Connection& database) {
  return pg::database_read_only_default(database);
}

}  // namespace switchyard::cutover
