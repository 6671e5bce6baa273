// The two databases as verify sees them: a reading session on each, and a
// third session on the target for positions and the control schema.
//
// Every read runs in its own short REPEATABLE READ transaction, so a chunk
// is one consistent picture of its side and no snapshot is held open on a
// production source between chunks. A source read also records the WAL
// insert position after its snapshot was taken (S): every transaction that
// read saw has its commit record before S. The target has applied all of
// them once its replication origin, or the slot's confirmed position, has
// reached S.
//
// Not thread-safe, except that read_both() runs the two reads on two
// threads.
#pragma once

#include <chrono>
#include <string>

#include "common/config.h"
#include "common/lsn.h"
#include "drivers/pg/connection.h"
#include "verify/chunk_hasher.h"
#include "verify/table_plan.h"

namespace switchyard::verify {

struct SideRead {
  ChunkRows rows;
  Lsn position;  // source: S; target: the origin's progress just before the snapshot
};

class Sides {
 public:
  explicit Sides(const Config& config);

  pg::Connection& source() { return source_; }
  pg::Connection& target() { return target_; }
  pg::Connection& control() { return control_; }

  // `digest_only`: see ChunkHasher::read.
  SideRead read(Side side, const TablePlan& plan, const std::string& select,
                bool digest_only = false);
  // Both sides at once: source on this thread, target on another.
  std::pair<SideRead, SideRead> read_both(const TablePlan& plan, const std::string& source_select,
                                          const std::string& target_select);

  // Where the target has applied the source up to: the larger of the
  // origin's progress and the slot's confirmed position.
  Lsn applied_position();
  // Polls every few milliseconds until applied_position() >= position.
  // False if `timeout` passes first, or a stop was requested.
  bool wait_applied(Lsn position, std::chrono::milliseconds timeout);
  // True if a replicate streams from the slot now (it is active).
  bool stream_running();

 private:
  const Config& config_;
  pg::Connection source_;
  pg::Connection target_;
  pg::Connection control_;
};

}  // namespace switchyard::verify
