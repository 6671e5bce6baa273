#include "replicator/recopy.h"

#include <chrono>
#include <thread>

#include "common/error.h"
#include "common/log.h"
#include "common/shutdown.h"
#include "control/control_schema.h"
#include "replicator/source_catalog.h"
#include "replicator/stream_lock.h"
#include "replicator/table_sync.h"

namespace switchyard {
namespace {

[[noreturn]] void refuse(const std::string& why) {
  throw Error(ErrorKind::kPrecondition, why);
}

std::optional<control::TableRow> find_row(pg::Connection& target, const Config& config,
                                          const std::string& table) {
  for (auto& row : control::read_tables(target, config.name)) {
    if (row.schema + "." + row.name == table) return std::move(row);
  }
  return std::nullopt;
}

// The table as the source has it now, if it still qualifies.
SourceTable source_table(const Config& config, const control::TableRow& row) {
  pg::Connection source(config.source.conninfo, config.source.name);
  std::vector<std::string> unusable;
  auto tables = list_source_tables(source, config.tables, unusable,
                                   [&](const std::string& schema, const std::string& name) {
                                     return schema == row.schema && name == row.name;
                                   });
  if (!unusable.empty()) refuse("source: " + unusable.front());
  if (tables.empty()) {
    refuse("source: table " + row.schema + "." + row.name +
           " no longer exists there or no longer matches tables.include");
  }
  return std::move(tables.front());
}

}  // namespace

RecopyResult run_recopy(const Config& config, const std::string& table) {
  pg::Connection target(config.target.conninfo, config.target.name, pg::Mode::kNormal, "recopy");
  const auto stream = control::read_stream(target, config.name);
  if (!stream || stream->phase != control::kStreaming) {
    refuse("target: stream " + config.name +
           " has not finished its initial copy; run snapshot (or replicate) first");
  }
  if (control::read_direction(target, config.name) != control::Direction::kForward) {
    refuse("target: stream " + config.name +
           " runs target -> source since a cutover; recopy copies source -> target (run "
           "failback first)");
  }
  const auto row = find_row(target, config, table);
  if (!row) refuse("table " + table + " is not in stream " + config.name + " (see status)");
  const SourceTable source = source_table(config, *row);

  // The request first: whoever applies the stream next copies the table,
  // even if this process dies now.
  if (!control::request_recopy(target, config.name, row->schema, row->name)) {
    refuse("table " + table + " is not in stream " + config.name + " (see status)");
  }
  RecopyResult result;
  result.table = table;
  bool waiting_logged = false;
  for (;;) {
    const auto now = find_row(target, config, table);
    if (now && !now->adding) break;
    if (auto lock = StreamLock::try_take(config)) {
      // Nothing applies the stream: copy it here, under the stream's lock.
      try {
        add_tables(config, {source});
      } catch (const Error& error) {
        if (error.kind() != ErrorKind::kInterrupted) throw;
        throw Error(ErrorKind::kInterrupted,
                    "the re-copy of " + table +
                        " was stopped by a signal; the request stands: the next replicate "
                        "(or recopy) copies it afresh");
      }
      continue;
    }
    if (!waiting_logged) {
      spdlog::info("replicate is running; it re-copies {} within seconds (waiting)", table);
      waiting_logged = true;
    }
    result.by_replicate = true;
    if (stop_requested()) {
      throw Error(
          ErrorKind::kInterrupted,
          "stopped while waiting; the request stands: the running replicate re-copies " + table);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  pg::Result copied = target.exec(
      "SELECT coalesce(rows_copied, 0), synced_from_lsn::text FROM switchyard.tables "
      "WHERE stream = $1 AND schema_name = $2 AND table_name = $3",
      {config.name, row->schema, row->name});
  result.rows = static_cast<uint64_t>(copied.int64(0, 0));
  result.as_of = Lsn::parse(copied.get(0, 1)).value_or(Lsn{});
  return result;
}

}  // namespace switchyard
