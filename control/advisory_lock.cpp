#include "control/advisory_lock.h"

namespace switchyard::control {

bool try_advisory_lock(pg::Connection& session, const std::string& name) {
  return session
             .exec("SELECT pg_catalog.pg_try_advisory_lock(pg_catalog.hashtextextended($1, 0))",
                   {name})
             .str(0, 0) == "t";
}

std::string advisory_lock_holder(pg::Connection& session, const std::string& name) {
  // A bigint key is kept as classid (high half) and objid (low half).
  const pg::Result holder = session.exec(
      "SELECT coalesce(host(a.client_addr), 'a local socket'), a.backend_start::text "
      "FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
      "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
      "(SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()) "
      "AND l.objsubid = 1 AND ((l.classid::bigint << 32) | l.objid::bigint) = "
      "pg_catalog.hashtextextended($1, 0) LIMIT 1",
      {name});
  if (holder.rows() == 0) return {};
  return " (connected from " + holder.str(0, 0) + " since " + holder.str(0, 1) + ")";
}

}  // namespace switchyard::control
