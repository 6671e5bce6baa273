// The router: how applications reach the primary, and how a cutover moves
// them. Three kinds (router.kind in the configuration):
//
//   pgbouncer  PAUSE the application's database entry on the admin console
//              (clients queue instead of failing), rewrite the entry in the
//              databases file switchyard owns, RELOAD, read the entry back
//              with SHOW DATABASES, RESUME.
//   command    operator-supplied shell commands for freeze, switch, an
//              optional check and resume (a DNS record, a load balancer, a
//              service mesh).
//   none       nothing to move: the freeze is the fence on the old primary
//              alone (cutover/fence.h), and applications are re-pointed by
//              the operator.
//
// Every call that can wait is bounded by a deadline. freeze() is
// all-or-nothing: if it cannot finish in time it resumes before throwing.
// A switch is proven, not assumed: pgbouncer answers RELOAD with OK even
// when it could not load the file, and keeps routing to the old primary.
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
  // Preflight: reachable, sending applications to `expected`, and able to
  // take a switch (pgbouncer: it loads the file switchyard writes). Throws
  // Error(kPrecondition) naming what is wrong; changes nothing that lasts.
  virtual void check(Primary expected) = 0;
  // Stop new transactions from reaching the primary; waits for running
  // ones. Throws Error(kTimeout) at the deadline, after resuming.
  virtual void freeze(Clock::time_point deadline) = 0;
  // Point applications at `primary` (while frozen), and prove from the
  // router itself that it now does; throws naming what the router reported
  // otherwise.
  // Returns how it was proven, for the journal.
  virtual std::string switch_to(Primary primary, Clock::time_point deadline) = 0;
  // Undo switch_to: point applications back at `primary`, as they were
  // before it (pgbouncer: the file's previous text), proven as above.
  virtual std::string switch_back(Primary primary, Clock::time_point deadline) {
    return switch_to(primary, deadline);
  }
  // Let transactions flow again. Harmless when not frozen (recovery).
  virtual void resume(Clock::time_point deadline) = 0;
};

std::unique_ptr<Router> make_router(const Config& config);

}  // namespace switchyard::cutover
