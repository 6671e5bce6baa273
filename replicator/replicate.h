// `replicate`: init and initial copy if not yet done, then stream changes
// from the source slot into the apply loop until SIGINT/SIGTERM.
//
// Connection losses on either side are retried with exponential backoff and
// jitter; each retry resumes from the target's replication origin, so
// nothing is lost or applied twice. The source slot is only ever told
// positions that the target has durably flushed. Errors that a retry cannot
// fix (schema drift, a constraint violation) end the process.
#pragma once

#include "common/config.h"

namespace switchyard {

void run_replicate(const Config& config);

}  // namespace switchyard
