// Large objects in the replicator: copied with the snapshot, then followed
// while `replicate` runs. Logical decoding does not stream them
// (pg_largeobject is a catalog), so a background thread compares and
// re-syncs them object by object every stream.large_object_interval, in
// the stream's current direction (after a cutover: target -> source, so a
// failback brings them back). The mechanism, and why a look that finds
// nothing changed reads no object, is control/large_objects.h.
//
// The thread has its own connections and never touches the apply loop's:
// a pass that digests many documents does not hold up row changes. An
// object the source may not read, or an owner role the receiving side
// lacks, is a refusal: the thread asks replicate to stop, and the
// follower's destructor (at the end of replicate, when no other exception
// is on its way) raises it (exit 5), naming the object.
#pragma once

#include <condition_variable>
#include <exception>
#include <mutex>
#include <string>
#include <thread>

#include "common/config.h"

namespace switchyard {

// The initial copy's part: every large object as of the exported snapshot
// (the copy workers' snapshot), with the same OIDs and owners. Refuses if
// the target holds large objects switchyard did not write.
void copy_large_objects(const Config& config, const std::string& snapshot_name);

class LargeObjectFollower {
 public:
  // `original` is the configuration as written (forward direction).
  explicit LargeObjectFollower(const Config& original);
  // Stops the thread; then throws its refusal, if any, unless the stack is
  // already unwinding for another error.
  ~LargeObjectFollower() noexcept(false);
  LargeObjectFollower(const LargeObjectFollower&) = delete;
  LargeObjectFollower& operator=(const LargeObjectFollower&) = delete;

  // Throws the refusal that stopped the thread, if any.
  void rethrow_if_failed();

 private:
  void run();

  const Config& original_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::exception_ptr failure_;
  std::thread thread_;
};

}  // namespace switchyard
