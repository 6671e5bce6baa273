// The router: how applications reach the primary, and how a cutover moves
// them. Three kinds (router.kind in the configuration):
//
//   pgbouncer  PAUSE the application's database entry on the admin console
//              (clients queue instead of failing), rewrite the entry in the
//              databases file switchyard owns, RELOAD, RESUME.
//   command    operator-supplied shell commands for freeze, switch and
//              resume (a DNS record, a load balancer, a service mesh).
//   none       nothing to move: the freeze is the fence on the old primary
//              alone (cutover/fence.h), and applications are re-pointed by
//              the operator.
//
// Every call that can wait is bounded by a deadline. freeze() is
// all-or-nothing: if it cannot finish in time it resumes before throwing.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/config.h"

namespace switchyard::cutover {

using Clock = std::chrono::steady_clock;

// Which database the router sends applications to.
enum class Primary { kSource, kTarget };
const char* to_string(Primary primary);

class Router {
 public:
  virtual ~Router() = default;

  // "pgbouncer database app at host=... port=...": for messages and plans.
  virtual std::string describe() const = 0;
  // Preflight: reachable, and sending applications to `expected`. Throws
  // Error(kPrecondition) naming what is wrong.
  virtual void check(Primary expected) = 0;
  // Stop new transactions from reaching the primary; waits for running
  // ones. Throws Error(kTimeout) at the deadline, after resuming.
  virtual void freeze(Clock::time_point deadline) = 0;
  // Point applications at `primary` (while frozen).
  virtual void switch_to(Primary primary, Clock::time_point deadline) = 0;
  // Let transactions flow again. Harmless when not frozen (recovery).
  virtual void resume(Clock::time_point deadline) = 0;
};

std::unique_ptr<Router> make_router(const Config& config);

}  // namespace switchyard::cutover
