// Proving a table without a key equal at cutover without reading it
// inside the freeze.
//
// Such a table cannot be probed by row: finding a row means reading the
// table. So the proof works on digests (verify/canonical_encoding.h: a
// row count and the sum of the rows' hashes, which add and subtract like
// the multisets they stand for).
//
// Before the freeze, the source is read whole in a snapshot taken at
// position P, and the target whole once it has applied P, in one snapshot
// with the rows the stream wrote to the table after P. The apply loop logs
// those, inside the target transactions that write them, while a cutover
// asks for exact marks (switchyard.keyless_images):
//
//     source(P) + rows added after P - rows removed after P = target(now)
//
// proves the table equal at P. A snapshot's position can be one commit off
// (a commit already written but not yet visible); that shows as a
// difference, and the proof is tried again. A real difference stays, and
// the gate compares the table whole, which names the rows.
//
// From P on, every change the stream carried was applied as it was sent:
// a change the target could not take exactly (a row to remove not found, a
// TRUNCATE) is logged as a 0. Inside the freeze, still_holds() tells how to check that
// the log is the one the proof used and has no 0 for the table: a read of
// a few rows, whatever the table's size. What this does not see is a write
// to the target by anything other than the stream after P; the gate's
// key-by-key comparison of keyed tables does not see that either (it
// compares the rows the stream changed).
#pragma once

#include <chrono>
#include <optional>

#include "common/config.h"
#include "common/lsn.h"
#include "verify/sides.h"
#include "verify/table_plan.h"

namespace switchyard::cutover {

class KeylessProof {
 public:
  // `config` is the stream in its present direction; `sides` its sessions
  // (the control session must be on the target, where the log is).
  KeylessProof(verify::PostgresSides& sides, const Config& config)
      : sides_(sides), config_(config) {}

  // Before the freeze, with exact marks requested. True once proven;
  // false, with the reason logged, leaves the table to be compared whole.
  bool prove(const verify::TablePlan& plan);

  // Inside the freeze, with the stream drained: a SELECT-able expression,
  // true when the proof still covers every change to `plan` (false or NULL
  // otherwise), for the caller to evaluate on the control session in a
  // statement it makes anyway; nothing if the table was never proven.
  std::optional<std::string> still_holds(const verify::TablePlan& plan) const;

 private:
  // Where the log starts, once the apply loop has noted it.
  std::optional<Lsn> wait_for_log(std::chrono::milliseconds timeout);
  std::string select_logged(const verify::TablePlan& plan, int sign, Lsn from) const;
  std::string log_filter(const verify::TablePlan& plan) const;
  struct LogState {
    bool active = false;
    std::optional<Lsn> since;
    bool missed = false;
  };
  LogState read_log(pg::Connection& target, const verify::TablePlan& plan) const;

  verify::PostgresSides& sides_;
  const Config& config_;
  std::optional<Lsn> proven_with_log_from_;
};

}  // namespace switchyard::cutover
