#include "replicator/source_slot.h"

#include <chrono>
#include <thread>

#include "common/error.h"
#include "drivers/pg/sql.h"

namespace switchyard {

std::string source_system_id(pg::Connection& replication) {
  return replication.exec("IDENTIFY_SYSTEM").str(0, 0);
}

bool publication_exists(pg::Connection& source, const std::string& publication) {
  return source.exec("SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $1", {publication})
             .rows() > 0;
}

void publish_tables(pg::Connection& source, const std::string& publication,
                    const std::vector<SourceTable>& tables) {
  std::string list;
  for (const auto& table : tables) {
    if (!list.empty()) list += ", ";
    list += table.qualified_name();
  }
  if (publication_exists(source, publication)) {
    source.exec("ALTER PUBLICATION " + pg::quote_ident(publication) + " SET TABLE " + list);
  } else {
    source.exec("CREATE PUBLICATION " + pg::quote_ident(publication) + " FOR TABLE " + list +
                " WITH (publish_via_partition_root = true)");
  }
}

void drop_publication(pg::Connection& source, const std::string& publication) {
  source.exec("DROP PUBLICATION IF EXISTS " + pg::quote_ident(publication));
}

std::optional<SlotInfo> find_slot(pg::Connection& source, const std::string& slot) {
  pg::Result rows = source.exec(
      "SELECT active, active_pid, confirmed_flush_lsn::text FROM pg_catalog.pg_replication_slots "
      "WHERE slot_name = $1",
      {slot});
  if (rows.rows() == 0) return std::nullopt;
  SlotInfo info;
  info.active = rows.boolean(0, 0);
  if (!rows.is_null(0, 1)) info.active_pid = static_cast<int>(rows.int64(0, 1));
  if (!rows.is_null(0, 2)) info.confirmed_flush = Lsn::parse(rows.get(0, 2));
  return info;
}

namespace {

ExportedSnapshot exporting_slot(pg::Connection replication, const std::string& slot,
                                bool temporary) {
  pg::Result created =
      replication.exec("CREATE_REPLICATION_SLOT " + pg::quote_ident(slot) +
                       (temporary ? " TEMPORARY" : "") + " LOGICAL pgoutput EXPORT_SNAPSHOT");
  auto consistent = Lsn::parse(created.get(0, 1));
  if (!consistent) throw Error(ErrorKind::kInternal, "source: bad consistent_point from slot");
  std::string snapshot = created.str(0, 2);
  return ExportedSnapshot{std::move(replication), std::move(snapshot), *consistent};
}

}  // namespace

ExportedSnapshot create_slot_exporting_snapshot(pg::Connection replication,
                                                const std::string& slot) {
  return exporting_slot(std::move(replication), slot, false);
}

ExportedSnapshot create_temporary_slot_exporting_snapshot(pg::Connection replication,
                                                          const std::string& slot) {
  return exporting_slot(std::move(replication), slot, true);
}

Lsn create_slot(pg::Connection& replication, const std::string& slot) {
  pg::Result created = replication.exec("CREATE_REPLICATION_SLOT " + pg::quote_ident(slot) +
                                        " LOGICAL pgoutput NOEXPORT_SNAPSHOT");
  auto consistent = Lsn::parse(created.get(0, 1));
  if (!consistent) throw Error(ErrorKind::kInternal, "source: bad consistent_point from slot");
  return *consistent;
}

void drop_slot(pg::Connection& source, const std::string& slot) {
  // A process killed a moment ago may still hold the slot until its
  // walsender notices: give it a few seconds before calling it in use.
  for (int attempt = 0;; ++attempt) {
    auto info = find_slot(source, slot);
    if (!info) return;
    if (!info->active) break;
    if (attempt == 50) {
      throw Error(ErrorKind::kPrecondition, "source: replication slot " + slot +
                                                " is in use by process " +
                                                std::to_string(info->active_pid.value_or(0)) +
                                                "; stop the running `switchyard replicate` first");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  source.exec("SELECT pg_catalog.pg_drop_replication_slot($1)", {slot});
}

}  // namespace switchyard
