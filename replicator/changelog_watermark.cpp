#include "replicator/changelog_watermark.h"

#include <algorithm>

namespace switchyard {

uint64_t SafeWatermark::advance(const Probe& now, const Ended& ended) {
  if (now.open.empty()) {
    // Nothing open now: whatever was pending has ended too.
    safe_ = std::max(safe_, now.highest);
    pending_.reset();
    return safe_;
  }
  if (pending_ && ended(pending_->open)) {
    safe_ = std::max(safe_, pending_->highest);
    pending_.reset();
  }
  if (!pending_) pending_ = now;
  return safe_;
}

}  // namespace switchyard
