#include "replicator/status.h"

#include "control/control_schema.h"
#include "drivers/pg/connection.h"
#include "replicator/legacy_source.h"
#include "replicator/source_slot.h"
#include "replicator/stream_lock.h"

namespace switchyard {

pg::Connection& StatusSessions::open(std::optional<pg::Connection>& session,
                                     const Endpoint& endpoint) {
  if (!session || !session->ok()) {
    session.reset();
    session.emplace(endpoint.conninfo, endpoint.name, pg::Mode::kNormal, "status");
  }
  return *session;
}

StreamStatus collect_status(const Config& config) {
  StatusSessions sessions(config);
  return collect_status(config, sessions);
}

StreamStatus collect_status(const Config& original, StatusSessions& sessions) {
  StreamStatus status;
  status.name = original.name;
  // After a cutover the stream runs target -> source: report it that way
  // round (its slot on the target, its origin and control rows on the source).
  control::Direction direction = control::Direction::kForward;
  pg::Connection& home = sessions.target();
  if (control::read_stream(home, original.name)) {
    direction = control::read_direction(home, original.name);
  }
  status.direction = control::to_string(direction);
  const bool forward = direction == control::Direction::kForward;
  const Config config = forward ? original : original.reversed();
  pg::Connection& target = forward ? sessions.target() : sessions.source();
  if (config.source.odbc()) {
    // The changelog: its highest sequence, and how many rows it holds.
    LegacySource source(config);
    status.source_engine = source.engine();
    status.source_lsn =
        Lsn(source.dialect().highest_sequence(source.connection(), config.name) + 1);
    odbc::Statement count(source.connection(), "SELECT COUNT(*) FROM " + source.changelog(), {}, 1);
    std::vector<Value> row;
    if (count.next(row)) status.changelog_rows = static_cast<uint64_t>(row[0].integer);
    // The stream runs if a replicate holds its lock.
    status.slot_active = StreamLock::try_take(config) == nullptr;
  } else {
    pg::Connection& source = forward ? sessions.source() : sessions.target();
    status.source_lsn =
        Lsn::parse(source.exec("SELECT pg_catalog.pg_current_wal_lsn()::text").get(0, 0));
    if (auto slot = find_slot(source, config.slot_name())) {
      status.slot_exists = true;
      status.slot_active = slot->active;
      status.slot_confirmed_flush = slot->confirmed_flush;
    }
  }
  const auto stream = control::read_stream(target, config.name);
  if (!stream) {
    status.state = "not initialized";
    return status;
  }
  status.state = stream->phase;
  if (stream->phase == control::kStreaming) {
    status.state = status.slot_active ? "streaming" : "stopped";
    status.applied_lsn = control::origin_progress(target, config.origin_name(), false);
  }
  if (config.source.odbc() && status.applied_lsn && status.source_lsn) {
    status.lag_changes = status.source_lsn->value > status.applied_lsn->value
                             ? status.source_lsn->value - status.applied_lsn->value
                             : 0;
  } else if (status.applied_lsn && status.source_lsn) {
    // An idle stream confirms positions past its last applied commit (WAL
    // with nothing for us); count those as applied.
    Lsn applied = *status.applied_lsn;
    if (status.slot_confirmed_flush && *status.slot_confirmed_flush > applied) {
      applied = *status.slot_confirmed_flush;
    }
    status.lag_bytes =
        status.source_lsn->value > applied.value ? status.source_lsn->value - applied.value : 0;
  }
  pg::Result reported =
      target.exec("SELECT lag_seconds, reported_at::text FROM switchyard.streams WHERE name = $1",
                  {config.name});
  if (reported.rows() > 0 && !reported.is_null(0, 0)) {
    status.lag_seconds = std::stod(reported.str(0, 0));
    status.reported_at = reported.optional(0, 1);
  }
  const bool has_verify =
      !target.exec("SELECT pg_catalog.to_regclass('switchyard.verify_tables')").is_null(0, 0);
  pg::Result tables = target.exec(
      std::string("SELECT t.schema_name || '.' || t.table_name, t.created_by_switchyard, "
                  "t.rows_copied, t.copied_at::text") +
          (has_verify ? ", v.status, v.pass_finished_at::text, "
                        "(SELECT count(*) FROM switchyard.mismatches m WHERE m.stream = t.stream "
                        "   AND m.schema_name = t.schema_name AND m.table_name = t.table_name "
                        "   AND m.resolved_at IS NULL), "
                        "d.* FROM switchyard.tables t LEFT JOIN switchyard.verify_tables v "
                        "  ON v.stream = t.stream AND v.schema_name = t.schema_name "
                        " AND v.table_name = t.table_name "
                        "CROSS JOIN LATERAL (SELECT " +
                            std::string(control::kDirtyMarkCount) +
                            " FROM switchyard.dirty_keys d WHERE d.stream = t.stream "
                            "   AND d.schema_name = t.schema_name "
                            "   AND d.table_name = t.table_name) d "
                      : std::string(" FROM switchyard.tables t ")) +
          "WHERE t.stream = $1 ORDER BY 1",
      {config.name});
  for (int row = 0; row < tables.rows(); ++row) {
    TableStatus table;
    table.name = tables.str(row, 0);
    table.created_by_switchyard = tables.boolean(row, 1);
    if (!tables.is_null(row, 2)) table.rows_copied = tables.int64(row, 2);
    table.copied_at = tables.optional(row, 3);
    if (has_verify) {
      table.verify_status = tables.optional(row, 4);
      table.verified_at = tables.optional(row, 5);
      table.open_mismatches = tables.int64(row, 6);
      table.marked_keys = tables.int64(row, 7);
      table.marked_whole = tables.boolean(row, 8);
    }
    status.tables.push_back(std::move(table));
  }
  return status;
}

}  // namespace switchyard
