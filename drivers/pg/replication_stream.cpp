#include "drivers/pg/replication_stream.h"

#include <libpq-fe.h>
#include <poll.h>

#include <cstring>

#include "common/error.h"

namespace switchyard::pg {
namespace {

constexpr int64_t kPgEpochOffsetSeconds = 946'684'800;  // 2000-01-01 - 1970-01-01

uint64_t read_u64(const char* p) {
  uint64_t value = 0;
  for (int byte_idx = 0; byte_idx < 8; ++byte_idx) {
    value = (value << 8) | static_cast<unsigned char>(p[byte_idx]);
  }
  return value;
}

void write_u64(char* p, uint64_t value) {
  for (int byte_idx = 7; byte_idx >= 0; --byte_idx) {
    p[byte_idx] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
}

}  // namespace

int64_t pg_epoch_micros(std::chrono::system_clock::time_point now) {
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  return micros - kPgEpochOffsetSeconds * 1'000'000;
}

ReplicationStream::~ReplicationStream() {
  if (buffer_) PQfreemem(buffer_);
}

void ReplicationStream::start(const std::string& slot, Lsn start, const std::string& options) {
  const std::string sql =
      "START_REPLICATION SLOT \"" + slot + "\" LOGICAL " + start.to_string() + " (" + options + ")";
  PGconn* conn = connection_.native();
  PGresult* result = PQexec(conn, sql.c_str());
  if (PQresultStatus(result) != PGRES_COPY_BOTH) connection_.throw_error(sql, result);
  PQclear(result);
  streaming_ = true;
}

std::optional<StreamMessage> ReplicationStream::read(std::chrono::milliseconds timeout) {
  PGconn* conn = connection_.native();
  if (buffer_) {
    PQfreemem(buffer_);
    buffer_ = nullptr;
  }
  for (bool waited = false;; waited = true) {
    const int length = PQgetCopyData(conn, &buffer_, /*async=*/1);
    if (length > 0) return parse(length);
    if (length == -2) connection_.throw_error("replication stream");
    if (length == -1) {
      streaming_ = false;
      PGresult* result = PQgetResult(conn);
      std::string message = "replication stream ended by the server";
      if (result && PQresultStatus(result) == PGRES_FATAL_ERROR) {
        connection_.throw_error("replication stream", result);
      }
      PQclear(result);
      throw Error(ErrorKind::kConnection, connection_.role() + ": " + message);
    }
    // 0: nothing complete buffered.
    if (waited || timeout.count() <= 0) return std::nullopt;
    pollfd fd{connection_.socket(), POLLIN, 0};
    const int ready = ::poll(&fd, 1, static_cast<int>(timeout.count()));
    if (ready < 0 && errno != EINTR) {
      throw Error(ErrorKind::kConnection, connection_.role() + ": poll failed");
    }
    if (ready > 0 && PQconsumeInput(conn) != 1) connection_.throw_error("replication stream");
  }
}

std::optional<StreamMessage> ReplicationStream::parse(int length) {
  const char* data = buffer_;
  StreamMessage message{};
  if (data[0] == 'w' && length >= 25) {
    message.kind = StreamMessage::Kind::kData;
    message.wal_start = Lsn{read_u64(data + 1)};
    message.wal_end = Lsn{read_u64(data + 9)};
    message.server_time_us = static_cast<int64_t>(read_u64(data + 17));
    message.payload = std::string_view(data + 25, length - 25);
    return message;
  }
  if (data[0] == 'k' && length >= 18) {
    message.kind = StreamMessage::Kind::kKeepalive;
    message.wal_end = Lsn{read_u64(data + 1)};
    message.server_time_us = static_cast<int64_t>(read_u64(data + 9));
    message.reply_requested = data[17] != 0;
    return message;
  }
  throw Error(ErrorKind::kDatabase, connection_.role() + ": unexpected replication message '" +
                                        std::string(1, data[0]) + "' of " + std::to_string(length) +
                                        " bytes");
}

void ReplicationStream::send_status(Lsn written, Lsn flushed, Lsn applied, bool reply_requested) {
  char message[34];
  message[0] = 'r';
  write_u64(message + 1, written.value);
  write_u64(message + 9, flushed.value);
  write_u64(message + 17, applied.value);
  write_u64(message + 25, static_cast<uint64_t>(pg_epoch_micros(std::chrono::system_clock::now())));
  message[33] = reply_requested ? 1 : 0;
  PGconn* conn = connection_.native();
  if (PQputCopyData(conn, message, sizeof message) != 1 || PQflush(conn) != 0) {
    connection_.throw_error("standby status update");
  }
}

void ReplicationStream::finish() {
  if (!streaming_) return;
  PGconn* conn = connection_.native();
  streaming_ = false;
  if (PQputCopyEnd(conn, nullptr) != 1) return;
  PQflush(conn);
  // Drain until the server acknowledges; ignore the remaining data.
  for (int rounds = 0; rounds < 1000; ++rounds) {
    char* buffer = nullptr;
    const int length = PQgetCopyData(conn, &buffer, 0);
    if (buffer) PQfreemem(buffer);
    if (length < 0) break;
  }
  while (PGresult* result = PQgetResult(conn)) PQclear(result);
}

}  // namespace switchyard::pg
