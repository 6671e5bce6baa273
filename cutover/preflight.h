// Step 1 of a cutover or failback: every check that can refuse, made
// before anything is frozen or changed. Every check runs, each recorded
// with what it measured and the threshold it held that to, so that a plan
// (a dry run, the service's 412) shows all of them; a failed check carries
// its reason and, where there is one, the fix.
//
//  - the stream runs in the direction this operation starts from, and a
//    `replicate` is streaming it (its slot is active);
//  - lag: the new primary is within cutover.max_lag_bytes of the old one;
//  - no transaction on the old primary older than
//    cutover.max_transaction_age, and no prepared transaction;
//  - verify: no open mismatch and no table whose last pass found one; for
//    a cutover, every table has a completed full pass (rows it left in
//    flight are marked dirty, and compared by the gate with writes frozen);
//  - the router is reachable and points at the old primary;
//  - the reverse path is possible: the new primary can be a source
//    (wal_level = logical, replication rights, a free slot), the old one a
//    target (control schema and origin rights), and both can be fenced;
//  - every sequence of the stream's schemas exists on the new primary.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"
#include "common/lsn.h"
#include "control/control_schema.h"
#include "cutover/router.h"
#include "cutover/sequences.h"
#include "cutover/state_machine.h"
#include "drivers/pg/connection.h"

namespace switchyard::cutover {

// One preflight check, as a plan shows it.
struct Check {
  std::string name;       // "lag"
  std::string measured;   // "1.2 MiB"
  std::string threshold;  // "at most 16.0 MiB"
  bool passed = false;
  std::string reason;  // failed: why, and what to do
};

struct PreflightFacts {
  std::vector<Check> checks;
  std::vector<control::TableRow> tables;
  std::vector<std::string> schemas;
  std::vector<SequenceValue> sequences;
  uint64_t lag_bytes = 0;
  uint64_t dirty_key_rows = 0;  // switchyard.dirty_keys rows waiting for verify
  bool new_primary_fenced = false;

  // The first failed check, or null: the preflight passed.
  const Check* refusal() const;
};

// `current` is the configuration in the stream's present direction: its
// source is the old primary (`from`), its target the new one (`to`).
// Refusals are recorded, not thrown (see refusal()); a failure to run the
// checks at all (a connection lost) throws.
PreflightFacts run_preflight(const Config& current, Operation operation, pg::Connection& from,
                             pg::Connection& to, Router& router);

}  // namespace switchyard::cutover
