// `switchyard recopy TABLE`: one streamed table copied again from the
// source, while the stream goes on - for a table verify found different
// that repair cannot mend row by row (one without a key), or any table an
// operator no longer trusts.
//
// The table joins the stream again exactly as a table added while
// streaming does (replicator/table_sync.h): emptied, copied as of a
// temporary slot's consistent point P, and its changes applied from
// transactions committed at or after P. A running `replicate` does it
// within seconds of the request; with none running, recopy does it itself
// under the stream's lock. What verify concluded about the old rows is
// forgotten: the table needs a new pass before a cutover.
#pragma once

#include <cstdint>
#include <string>

#include "common/config.h"
#include "common/lsn.h"

namespace switchyard {

struct RecopyResult {
  std::string table;  // schema.name
  uint64_t rows = 0;
  Lsn as_of;
  bool by_replicate = false;  // the running replicate copied it
};

// `table` is schema.name as status shows it. Throws Error(kPrecondition)
// when the table is not streamed, the initial copy is not done, the stream
// runs the other way since a cutover, or the table no longer qualifies;
// Error(kInterrupted) on a stop signal, the request left standing (the
// next replicate copies the table).
RecopyResult run_recopy(const Config& config, const std::string& table);

}  // namespace switchyard
