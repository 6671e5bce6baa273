#include "cutover/preflight.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "common/error.h"
#include "common/log.h"
#include "common/units.h"
#include "cutover/fence.h"
#include "cutover/schema_check.h"
#include "drivers/pg/sql.h"
#include "replicator/requirements.h"
#include "replicator/source_catalog.h"
#include "replicator/source_slot.h"

namespace switchyard::cutover {
namespace {

[[noreturn]] void refuse(const std::string& why) {
  throw Error(ErrorKind::kPrecondition, why);
}

// Returns the slot, for the lag check.
SlotInfo check_stream_running(const Config& current, pg::Connection& from) {
  const auto slot = find_slot(from, current.slot_name());
  if (!slot) {
    refuse(from.role() + ": replication slot " + current.slot_name() +
           " does not exist; the stream this operation drains is not set up");
  }
  if (!slot->active) {
    refuse(from.role() + ": nothing is streaming from slot " + current.slot_name() +
           "; start `switchyard replicate` and try again");
  }
  return *slot;
}

uint64_t check_lag(const Config& current, const SlotInfo& slot, pg::Connection& from,
                   pg::Connection& to) {
  const Lsn head = *Lsn::parse(from.exec("SELECT pg_catalog.pg_current_wal_lsn()::text").get(0, 0));
  Lsn applied = control::origin_progress(to, current.origin_name(), false).value_or(Lsn{});
  if (slot.confirmed_flush) applied = std::max(applied, *slot.confirmed_flush);
  const uint64_t lag = head > applied ? head.value - applied.value : 0;
  if (lag > current.cutover.max_lag_bytes) {
    refuse(to.role() + " is " + format_bytes(static_cast<double>(lag)) + " behind the " +
           from.role() + " (cutover.max_lag is " +
           format_bytes(static_cast<double>(current.cutover.max_lag_bytes)) +
           "); wait for the stream to catch up");
  }
  return lag;
}

void check_transactions(const Config& current, pg::Connection& from) {
  const std::string seconds =
      std::to_string(std::chrono::duration<double>(current.cutover.max_transaction_age).count());
  pg::Result old = from.exec(
      "SELECT pid, coalesce(nullif(application_name, ''), usename::text, '?'), "
      "       round(extract(epoch FROM now() - xact_start)::numeric, 1) "
      "FROM pg_catalog.pg_stat_activity "
      "WHERE datname = pg_catalog.current_database() AND backend_type = 'client backend' "
      "  AND pid <> pg_catalog.pg_backend_pid() "
      "  AND xact_start < now() - make_interval(secs => $1::float8) "
      "ORDER BY xact_start LIMIT 1",
      {seconds});
  if (old.rows() > 0) {
    refuse(from.role() + ": transaction of process " + old.str(0, 0) + " (" + old.str(0, 1) +
           ") has been open " + old.str(0, 2) + " s (cutover.max_transaction_age is " +
           format_duration(std::stod(seconds)) + "); it would hold the freeze");
  }
  pg::Result prepared = from.exec(
      "SELECT count(*) FROM pg_catalog.pg_prepared_xacts "
      "WHERE database = pg_catalog.current_database()");
  if (prepared.int64(0, 0) > 0) {
    refuse(from.role() + ": " + prepared.str(0, 0) +
           " prepared transactions wait for COMMIT PREPARED; finish them first");
  }
}

// Every table the old primary has that tables.include selects is streamed
// and copied: one created there during the run that has not joined the
// stream yet would be left behind.
void check_tables_complete(const Config& current, pg::Connection& from,
                           const std::vector<control::TableRow>& tables) {
  auto lacking = [&](const std::string& schema, const std::string& name) {
    return std::none_of(tables.begin(), tables.end(), [&](const auto& streamed) {
      return streamed.schema == schema && streamed.name == name && !streamed.adding;
    });
  };
  std::vector<std::string> unusable;
  const auto missing = list_source_tables(from, current.tables, unusable, lacking);
  if (!missing.empty()) {
    refuse(from.role() + ": table " + missing.front().display_name() +
           " matches tables.include but is not streamed yet (replicate adds a new table "
           "within seconds; wait for it)");
  }
  if (!unusable.empty()) {
    refuse(from.role() + ": " + unusable.front() + "; it matches tables.include");
  }
}

// The stream's verify findings, from the control schema of the side that
// receives it (the new primary).
void check_verify(const Config& current, Operation operation, pg::Connection& to,
                  const std::vector<control::TableRow>& tables) {
  pg::Result open = to.exec(
      "SELECT schema_name || '.' || table_name, count(*) FROM switchyard.mismatches "
      "WHERE stream = $1 AND resolved_at IS NULL GROUP BY 1 ORDER BY 2 DESC LIMIT 1",
      {current.name});
  if (open.rows() > 0) {
    refuse("verify: " + open.str(0, 1) + " open mismatches in " + open.str(0, 0) +
           "; run verify --repair, then verify --once");
  }
  pg::Result passes = to.exec(
      "SELECT schema_name, table_name, status FROM switchyard.verify_tables WHERE stream = $1",
      {current.name});
  for (const auto& table : tables) {
    std::string status;
    for (int row = 0; row < passes.rows(); ++row) {
      if (passes.get(row, 0) == table.schema && passes.get(row, 1) == table.name) {
        status = passes.str(row, 2);
      }
    }
    const std::string name = table.schema + "." + table.name;
    if (status == "mismatch") {
      refuse("verify: the last pass over " + name +
             " found mismatches; run verify --repair, then verify --once");
    }
    // Rows a pass left in flight are marked dirty: the gate compares them
    // with writes frozen, where they cannot change. After a cutover the gate
    // has proven parity and every later change is marked dirty, so a
    // failback's own gate covers it; a first cutover needs a completed pass
    // of every table.
    if (operation == Operation::kCutover && status != "clean" && status != "in_flight") {
      refuse("verify: " + name +
             " has no completed full pass yet; run verify --once (or keep verify running)");
    }
  }
}

// The reverse stream, the fences and failback need rights on both servers;
// the same checks as init's and `switchyard check`'s, so that a cutover can
// never pass this preflight and then lack its way back.
void check_reverse_path(const Config& current, Operation operation, pg::Connection& from,
                        pg::Connection& to, const std::vector<control::TableRow>& tables) {
  if (auto slot = find_slot(to, current.slot_name()); slot && slot->active) {
    refuse(to.role() + ": replication slot " + current.slot_name() +
           " already exists and is in use; something else streams from it");
  }
  // The application's schema on the new primary (objects and the roles
  // they name), then every right and setting: all of it named at once.
  std::optional<Error> schema;
  try {
    check_schema_objects(from, to, tables);
  } catch (const Error& error) {
    if (error.kind() != ErrorKind::kPrecondition) throw;
    schema = error;
  }
  const bool cutover = operation == Operation::kCutover;
  const Config original = cutover ? current : current.reversed();
  std::vector<TableName> names;
  for (const auto& table : tables) names.push_back({table.schema, table.name});
  auto requirements = check_requirements(original, cutover ? from : to, cutover ? to : from, names);
  if (schema) {
    // Its message names the missing roles already.
    std::erase_if(requirements, [](const Requirement& requirement) {
      return requirement.what == kOwnerRoles || requirement.what == kGrantRoles;
    });
    if (unmet(requirements, NeededBy::kCutover).empty()) throw *schema;
    spdlog::error("{}", schema->what());
  }
  require(requirements, NeededBy::kCutover, "preflight");
}

}  // namespace

PreflightFacts run_preflight(const Config& current, Operation operation, pg::Connection& from,
                             pg::Connection& to, Router& router) {
  PreflightFacts facts;
  const auto stream = control::read_stream(to, current.name);
  if (!stream || stream->phase != control::kStreaming) {
    refuse(to.role() + ": stream '" + current.name +
           "' has not finished its initial copy; run replicate until it streams");
  }
  const SlotInfo slot = check_stream_running(current, from);
  facts.lag_bytes = check_lag(current, slot, from, to);
  check_transactions(current, from);
  facts.tables = control::read_tables(to, current.name);
  check_tables_complete(current, from, facts.tables);
  check_verify(current, operation, to, facts.tables);
  router.check(operation == Operation::kCutover ? Primary::kSource : Primary::kTarget);
  check_reverse_path(current, operation, from, to, facts.tables);

  for (const auto& table : facts.tables) {
    if (std::find(facts.schemas.begin(), facts.schemas.end(), table.schema) ==
        facts.schemas.end()) {
      facts.schemas.push_back(table.schema);
    }
  }
  // Read here only to check them; their values are read inside the freeze.
  facts.sequences = read_sequences(from, facts.schemas, Clock::now() + std::chrono::seconds(30));
  check_sequences(from, to, facts.sequences);
  facts.dirty_key_rows = static_cast<uint64_t>(
      to.exec("SELECT count(*) FROM switchyard.dirty_keys WHERE stream = $1", {current.name})
          .int64(0, 0));
  facts.new_primary_fenced = fenced(to);
  return facts;
}

}  // namespace switchyard::cutover
