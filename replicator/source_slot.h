// The source side of a PostgreSQL stream: preflight checks, the
// publication, and the logical replication slot.
//
// A slot created with an exported snapshot gives the initial copy a view of
// the database that is exactly consistent with the slot's start: every
// change committed after the snapshot is in the stream, every change before
// it is in the copy. The snapshot lives only while the creating replication
// connection stays open and idle, so ExportedSnapshot owns that connection.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/lsn.h"
#include "drivers/pg/connection.h"
#include "replicator/source_catalog.h"

namespace switchyard {

struct ExportedSnapshot {
  pg::Connection connection;  // keep idle until every copy worker imported the snapshot
  std::string snapshot_name;
  Lsn consistent_point;
};

// IDENTIFY_SYSTEM's systemid: tells two clusters apart even behind one address.
std::string source_system_id(pg::Connection& replication);

bool publication_exists(pg::Connection& source, const std::string& publication);
// Creates the publication, or sets its table list if it exists.
void publish_tables(pg::Connection& source, const std::string& publication,
                    const std::vector<SourceTable>& tables);
void drop_publication(pg::Connection& source, const std::string& publication);

struct SlotInfo {
  bool active = false;
  std::optional<int> active_pid;
  std::optional<Lsn> confirmed_flush;
};
std::optional<SlotInfo> find_slot(pg::Connection& source, const std::string& slot);

// Creates the slot over `replication` (a replication connection), exporting
// a snapshot, and hands the connection over to the result.
ExportedSnapshot create_slot_exporting_snapshot(pg::Connection replication,
                                                const std::string& slot);
// A temporary slot (gone with its connection) exporting a snapshot: the
// consistent point and snapshot for copying a table added while streaming.
ExportedSnapshot create_temporary_slot_exporting_snapshot(pg::Connection replication,
                                                          const std::string& slot);
// Creates the slot without a snapshot (init on its own).
Lsn create_slot(pg::Connection& replication, const std::string& slot);
// Throws Error(kPrecondition) if another process is streaming from it.
void drop_slot(pg::Connection& source, const std::string& slot);

}  // namespace switchyard
