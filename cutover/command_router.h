// router.kind: command. Shell commands, run with /bin/sh -c, each bounded
// by router.command_timeout (and by the freeze deadline):
//
//   freeze   stop new writes reaching the primary (drain a load balancer
//            pool, block a port); exit 0 when done
//   switch   point applications at the new primary; its environment has
//            SWITCHYARD_PRIMARY=source|target
//   check    optional, read-only: exit 0 if the router sends applications
//            to SWITCHYARD_PRIMARY. Run after switch (non-zero: the
//            cutover rolls back) and in the preflight for the current
//            primary (non-zero: refused)
//   resume   let writes flow again; must be harmless when nothing is
//            frozen (recovery may run it twice)
//
// A command that exits non-zero or overruns is a failed step; its last
// line of output is in the error.
#pragma once

#include <string>

#include "common/config.h"
#include "cutover/router.h"

namespace switchyard::cutover {

class CommandRouter final : public Router {
 public:
  explicit CommandRouter(RouterSettings settings) : settings_(std::move(settings)) {}

  std::string describe() const override { return "router commands (router.kind: command)"; }
  void check(Primary) override;
  void freeze(Clock::time_point deadline) override;
  std::string switch_to(Primary primary, Clock::time_point deadline) override;
  void resume(Clock::time_point deadline) override;

 private:
  void run(const std::string& key, const std::string& command, Clock::time_point deadline,
           const std::string& primary = {});

  RouterSettings settings_;
};

}  // namespace switchyard::cutover
