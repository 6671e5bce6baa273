// A source's change feed, as the stream session (stream_session.h) sees
// it, whichever engine is behind it:
//  - PostgreSQL: the logical replication slot's pgoutput stream
//    (pgoutput_feed.h), positions are WAL LSNs;
//  - an ODBC legacy: the capture triggers' changelog read up to the safe
//    watermark (changelog_feed.h), positions are changelog sequences.
//
// A feed hands over engine-neutral messages (change.h) in commit order,
// starting after the position the target has applied (the replication
// origin's progress), and is told what the target has made durable so
// that the source may forget it (the slot's confirmed position, or the
// changelog's pruning). The session owns the apply loop, the batching,
// the reconnects and the reports; the feed owns the source side.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "common/lsn.h"
#include "replicator/change.h"

namespace switchyard {

// Where the source stands, for the lag line and status.
struct SourceLag {
  Lsn newest;            // the source's newest position
  std::string behind;    // how far apply is behind it, for the log ("3.1 MiB", "420 changes")
  double seconds = 0;    // how old the oldest change not yet applied is
  uint64_t bytes = 0;    // behind, in WAL (PostgreSQL)
  uint64_t changes = 0;  // behind, in changelog rows (trigger capture)
};

class ChangeFeed {
 public:
  virtual ~ChangeFeed() = default;

  // What the apply side has done, which the feed reports to its source.
  struct Applied {
    Lsn committed;  // applied and committed on the target
    Lsn durable;    // of that, flushed to disk on the target
    bool idle;      // nothing received is waiting to be applied
  };

  // Starts delivering changes after `from`. Returns a line for the log.
  virtual std::string start(Lsn from) = 0;

  // The next message, waiting at most `wait` for one; nullopt when none
  // came (the session then commits what it has). Throws Error on a lost
  // connection (retryable) or bad data.
  virtual std::optional<change::Message> next(std::chrono::milliseconds wait) = 0;

  // True when the source asked to hear how far apply is at once (a
  // keepalive requesting a reply): the session calls acknowledge().
  virtual bool acknowledgement_wanted() const { return false; }
  // Tells the source what the target holds durably: the source may forget
  // the changes before `applied.durable`.
  virtual void acknowledge(const Applied& applied) = 0;

  // The source's position and apply's lag behind it (one or two queries).
  virtual SourceLag lag(const Applied& applied, int64_t committed_commit_time_us) = 0;

  // Nothing received past `committed` (the feed's own part of idleness).
  virtual bool caught_up(Lsn committed) const = 0;

  // A table the configuration selects appeared on the source and must
  // join the stream before it goes on (PostgreSQL: table_sync.h). The feed
  // looks at its own pace; false where tables cannot join a running stream.
  virtual bool tables_appeared() { return false; }

  // A position as the source spells it ("0/16B3748", "42017").
  virtual std::string format(Lsn position) const = 0;

  // Clean end of the session, after the last acknowledge().
  virtual void finish() = 0;
};

}  // namespace switchyard
