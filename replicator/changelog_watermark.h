// The safe watermark of a trigger-captured changelog: how far a poller may
// read without ever skipping a row.
//
// Sequence values are allocated when a row is written but become visible at
// commit, so they commit out of order: a transaction holding sequence 5
// may commit after one holding 6 was read, and a poller that reads
// `seq > last` loses it. So the poller reads only up to a position that no
// still-open transaction can fall below, by the engine's own view of open
// transactions, never by a timeout guess: the highest committed sequence M
// is read, then the transactions open at that moment; once all of those
// have ended, everything at or below M is final. A long transaction shows
// up as lag, which is the truth. (SQLite has one writer: M is final at once.)
//
// Pure bookkeeping over probes (odbc::Dialect::probe_changelog); unit-tested
// without a server, and against MariaDB in odbc_mariadb.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "drivers/odbc/dialect.h"

namespace switchyard {

class SafeWatermark {
 public:
  using Probe = odbc::Dialect::ChangelogProbe;
  using Ended = std::function<bool(const std::vector<std::string>& open)>;

  // Takes a new probe; `ended` tells whether transactions have all ended.
  // Returns the safe position: every change at or below it is committed.
  uint64_t advance(const Probe& now, const Ended& ended);
  uint64_t safe() const { return safe_; }

 private:
  uint64_t safe_ = 0;
  std::optional<Probe> pending_;  // the oldest probe still waiting for its transactions
};

}  // namespace switchyard
