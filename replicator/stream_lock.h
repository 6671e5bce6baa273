// One process at a time applies a stream's changes to its target: a
// session-level advisory lock on the stream's home database (the target's,
// where the control schema lives), held by a connection of its own for as
// long as the holder runs. A killed process loses it as soon as its
// connection closes, unlike the slot, which a walsender may hold for a
// while after its client died.
//
// `replicate` holds it for its whole run; `recopy` takes it to copy a table
// itself when no `replicate` runs.
#pragma once

#include <memory>

#include "common/config.h"
#include "drivers/pg/connection.h"

namespace switchyard {

class StreamLock {
 public:
  // Waits up to 3 s for a process killed a moment ago to let go; then
  // throws Error(kPrecondition) naming where the holder connected from.
  explicit StreamLock(const Config& config);
  // Without waiting: null when another process holds the lock.
  static std::unique_ptr<StreamLock> try_take(const Config& config);

  // Takes the lock again if its connection was lost (a target restart);
  // called before each (re)connection of the stream.
  void keep();

 private:
  StreamLock(const Config& config, std::unique_ptr<pg::Connection> session);
  void take();

  const Config& config_;
  std::unique_ptr<pg::Connection> session_;
};

}  // namespace switchyard
