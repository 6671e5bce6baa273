#include "drivers/pg/pipeline.h"

#include <libpq-fe.h>
#include <poll.h>

#include "common/error.h"

namespace switchyard::pg {

Pipeline::Pipeline(Connection& connection, uint64_t max_bytes, OnComplete on_complete)
    : connection_(connection), max_bytes_(max_bytes), on_complete_(std::move(on_complete)) {
  PGconn* conn = connection_.native();
  if (PQsetnonblocking(conn, 1) != 0 || PQenterPipelineMode(conn) != 1) {
    connection_.throw_error("enter pipeline mode");
  }
}

Pipeline::~Pipeline() {
  PGconn* conn = connection_.native();
  if (conn && pending_.empty() && PQstatus(conn) == CONNECTION_OK) {
    PQexitPipelineMode(conn);
    PQsetnonblocking(conn, 0);
  }
}

void Pipeline::prepare(const std::string& name, const std::string& sql) {
  // Parameters stay untyped: the server infers each from its context.
  if (PQsendPrepare(connection_.native(), name.c_str(), sql.c_str(), 0, nullptr) != 1) {
    connection_.throw_error(sql);
  }
  pending_.push_back({Kind::kPrepare, 0, sql});
  after_send(sql.size());
}

void Pipeline::execute(const std::string& name, const std::vector<const char*>& values,
                       const std::vector<int>& lengths, uint64_t tag) {
  if (PQsendQueryPrepared(connection_.native(), name.c_str(), static_cast<int>(values.size()),
                          values.data(), lengths.data(), nullptr, 0) != 1) {
    connection_.throw_error("EXECUTE " + name);
  }
  uint64_t bytes = name.size() + 16;
  for (int length : lengths) bytes += static_cast<uint64_t>(length) + 4;
  pending_.push_back({Kind::kStatement, tag, name});
  after_send(bytes);
}

void Pipeline::command(const std::string& sql, uint64_t tag) {
  if (PQsendQueryParams(connection_.native(), sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr,
                        0) != 1) {
    connection_.throw_error(sql);
  }
  pending_.push_back({Kind::kStatement, tag, sql});
  after_send(sql.size());
}

// Sending costs a system call, so output is pushed and input read once per
// kPollBytes rather than per statement (libpq also flushes by itself when
// its buffer grows large).
void Pipeline::after_send(uint64_t bytes) {
  constexpr uint64_t kPollBytes = 32 << 10;
  bytes_since_sync_ += bytes;
  bytes_since_poll_ += bytes;
  if (bytes_since_sync_ >= max_bytes_) {
    sync();
  } else if (bytes_since_poll_ >= kPollBytes) {
    bytes_since_poll_ = 0;
    flush_and_wait(/*block=*/false);
  }
}

void Pipeline::sync() {
  if (PQpipelineSync(connection_.native()) != 1) connection_.throw_error("pipeline sync");
  pending_.push_back({Kind::kSync, 0, "sync"});
  ++syncs_outstanding_;
  while (syncs_outstanding_ > 0) flush_and_wait(/*block=*/true);
  bytes_since_sync_ = 0;
  bytes_since_poll_ = 0;
}

// Pushes queued output and reads whatever input has arrived. When `block`,
// waits on the socket for at least one of the two to make progress.
void Pipeline::flush_and_wait(bool block) {
  PGconn* conn = connection_.native();
  const int flush = PQflush(conn);
  if (flush < 0) connection_.throw_error("pipeline flush");
  if (block) {
    pollfd fd{connection_.socket(), static_cast<short>(POLLIN | (flush == 1 ? POLLOUT : 0)), 0};
    if (::poll(&fd, 1, 1000) < 0 && errno != EINTR) {
      throw Error(ErrorKind::kConnection, connection_.role() + ": poll failed");
    }
  }
  if (PQconsumeInput(conn) != 1) connection_.throw_error("pipeline read");
  consume_results();
}

void Pipeline::consume_results() {
  PGconn* conn = connection_.native();
  while (!pending_.empty() && !PQisBusy(conn)) {
    PGresult* result = PQgetResult(conn);
    if (result == nullptr) {
      // End of the current statement's results.
      if (!in_result_) return;
      const Pending done = pending_.front();
      pending_.pop_front();
      in_result_ = false;
      if (done.kind == Kind::kStatement && on_complete_) on_complete_(done.tag, current_affected_);
      continue;
    }
    const ExecStatusType status = PQresultStatus(result);
    if (status == PGRES_PIPELINE_SYNC) {
      PQclear(result);
      if (pending_.front().kind != Kind::kSync) {
        throw Error(ErrorKind::kInternal, connection_.role() + ": pipeline out of step");
      }
      pending_.pop_front();
      --syncs_outstanding_;
      continue;
    }
    if (status == PGRES_FATAL_ERROR || status == PGRES_PIPELINE_ABORTED) {
      connection_.throw_error(pending_.front().description, result);
    }
    current_affected_ =
        PQcmdTuples(result)[0] ? std::strtoull(PQcmdTuples(result), nullptr, 10) : 0;
    in_result_ = true;
    PQclear(result);
  }
}

}  // namespace switchyard::pg
