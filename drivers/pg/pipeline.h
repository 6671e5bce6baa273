// libpq pipeline mode, bounded by bytes.
//
// A Pipeline sends statements without waiting for each result, which is
// what lets the apply loop keep pace with a busy source over a network. The
// number of bytes in flight is bounded: once `max_bytes` have been sent
// since the last sync point, the pipeline syncs and drains every result
// before accepting more (an unbounded pipeline makes libpq's buffer
// handling quadratic and lets memory grow without limit).
//
// The connection is switched to non-blocking mode for the pipeline's life,
// and results are consumed while sending, so neither side can deadlock on a
// full socket buffer. Any statement error is thrown as Error; the pipeline
// (and its connection) must then be discarded. Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/pg/connection.h"

namespace switchyard::pg {

class Pipeline {
 public:
  // Called with a statement's tag and affected row count when it completes.
  using OnComplete = std::function<void(uint64_t tag, uint64_t affected_rows)>;

  Pipeline(Connection& connection, uint64_t max_bytes, OnComplete on_complete = {});
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Queue a server-side prepared statement. Its parameters are untyped text.
  void prepare(const std::string& name, const std::string& sql);
  // Queue an execution of a prepared statement. Views must stay valid only
  // for the duration of the call. A null pointer is SQL NULL.
  void execute(const std::string& name, const std::vector<const char*>& values,
               const std::vector<int>& lengths, uint64_t tag = 0);
  // Queue a statement without parameters (BEGIN, COMMIT, SELECT ...).
  void command(const std::string& sql, uint64_t tag = 0);

  // Sync point: wait until everything sent so far has completed.
  void sync();

 private:
  enum class Kind { kPrepare, kStatement, kSync };
  struct Pending {
    Kind kind;
    uint64_t tag;
    std::string description;  // for errors: the statement name or text
  };

  void after_send(uint64_t bytes);
  void flush_and_wait(bool block);
  void consume_results();

  Connection& connection_;
  uint64_t max_bytes_;
  OnComplete on_complete_;
  std::deque<Pending> pending_;
  uint64_t bytes_since_sync_ = 0;
  uint64_t bytes_since_poll_ = 0;
  int syncs_outstanding_ = 0;
  bool in_result_ = false;  // got a result for pending_.front(), awaiting its NULL
  uint64_t current_affected_ = 0;
};

}  // namespace switchyard::pg
