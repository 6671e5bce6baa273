// `replicate`: init and initial copy if not yet done, then stream changes
// from the source's change feed into the apply loop until SIGINT/SIGTERM,
// for either kind of source: a PostgreSQL slot (pgoutput_feed.h) or an ODBC
// legacy's changelog (changelog_feed.h), through the same streaming
// session (stream_session.h). A PostgreSQL stream also turns round after a
// cutover or a failback, and lets tables that appear on the source join it.
//
// Connection losses on either side are retried with exponential backoff and
// jitter; each retry resumes from the target's replication origin, so
// nothing is lost or applied twice. The source only ever forgets (the
// slot's position, the changelog's pruning) what the target has durably
// flushed. Errors that a retry cannot fix (schema drift, a constraint
// violation) end the process.
#pragma once

#include "common/config.h"

namespace switchyard {

void run_replicate(const Config& config);

}  // namespace switchyard
