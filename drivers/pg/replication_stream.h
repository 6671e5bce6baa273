// The streaming half of PostgreSQL's replication protocol, for logical
// decoding: START_REPLICATION on a `replication=database` connection, then
// a copy-both stream of XLogData ('w') and keepalive ('k') messages from the
// server and standby status updates ('r') from us.
//
// The stream does not interpret the logical payload; replicator/ decodes
// pgoutput. Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/lsn.h"
#include "drivers/pg/connection.h"

namespace switchyard::pg {

struct StreamMessage {
  enum class Kind { kData, kKeepalive };
  Kind kind;
  Lsn wal_start;           // kData: LSN of this message's data
  Lsn wal_end;             // the server's current end of WAL
  int64_t server_time_us;  // microseconds since 2000-01-01 UTC
  bool reply_requested = false;
  std::string_view payload;  // kData: the output plugin's message; valid until next read
};

class ReplicationStream {
 public:
  // `connection` must be a Mode::kReplication connection.
  explicit ReplicationStream(Connection& connection) : connection_(connection) {}
  ~ReplicationStream();

  // START_REPLICATION SLOT slot LOGICAL start (options). options is the
  // already formatted plugin option list, e.g. "proto_version '1', ...".
  void start(const std::string& slot, Lsn start, const std::string& options);

  // Next message, or nullopt if none arrived within `timeout` (zero: only
  // what is already buffered). Throws Error(kConnection) when the stream ends.
  std::optional<StreamMessage> read(std::chrono::milliseconds timeout);

  // Standby status update: positions written, durably flushed, applied.
  void send_status(Lsn written, Lsn flushed, Lsn applied, bool reply_requested = false);

  // Ends the copy-both stream politely (CopyDone).
  void finish();

 private:
  std::optional<StreamMessage> parse(int length);

  Connection& connection_;
  char* buffer_ = nullptr;
  bool streaming_ = false;
};

// Microseconds since the PostgreSQL epoch (2000-01-01 UTC) for `now`.
int64_t pg_epoch_micros(std::chrono::system_clock::time_point now);

}  // namespace switchyard::pg
