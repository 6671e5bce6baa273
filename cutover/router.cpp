#include "cutover/router.h"

#include "cutover/command_router.h"
#include "cutover/pgbouncer_router.h"

namespace switchyard::cutover {
namespace {

// router.kind: none. Applications connect to the primary directly; the
// fence on the old primary is the whole freeze.
class NoRouter final : public Router {
 public:
  std::string describe() const override { return "no router (the fence alone freezes writes)"; }
  void check(Primary) override {}
  void freeze(Clock::time_point) override {}
  std::string switch_to(Primary, Clock::time_point) override { return "no router to move"; }
  void resume(Clock::time_point) override {}
};

}  // namespace

const char* to_string(Primary primary) {
  return primary == Primary::kSource ? "source" : "target";
}

std::unique_ptr<Router> make_router(const Config& config) {
  switch (config.router.kind) {
    case RouterKind::kPgbouncer:
      return std::make_unique<PgbouncerRouter>(config);
    case RouterKind::kCommand:
      return std::make_unique<CommandRouter>(config.router);
    case RouterKind::kNone:
      break;
  }
  return std::make_unique<NoRouter>();
}

}  // namespace switchyard::cutover
