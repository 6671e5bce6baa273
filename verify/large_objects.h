// verify's part for large objects (control/large_objects.h): which exist on
// each side and whether their bytes and owners are equal, reported like a
// table's rows — pg_catalog.pg_largeobject, keyed by oid, missing / extra /
// different — in the log, in --json and in switchyard.mismatches.
//
// Both sides are digested server-side (md5 over lo_get). A difference is
// told apart as rows are, without false alarms: the receiving side records
// what the sync last wrote there, so a target object that still matches
// its record is one the source changed since (in flight: re-read every
// 500 ms until it settles or verify.recheck_timeout runs out), while one
// that does not was changed behind the stream's back (a mismatch at once).
// Before any sync pass has recorded anything, every difference is in
// flight (exit 8), as rows are without a running replicate.
#pragma once

#include <vector>

#include "common/config.h"
#include "verify/repair.h"
#include "verify/verifier.h"

namespace switchyard::verify {

// One comparison of every large object; `config` is the stream in its
// current direction. Records mismatches and resolves those no longer seen.
TableReport verify_large_objects(const Config& config);

// verify --repair: makes the target's large objects equal to the source's
// (against the target's actual objects, not the record), and resolves the
// recorded large-object mismatches.
RepairReport repair_large_objects(const Config& config);

}  // namespace switchyard::verify
