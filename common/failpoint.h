// Crash points for tests. When the environment variable SWITCHYARD_FAILPOINT
// names a point the process reaches, the process kills itself with SIGKILL,
// exactly as `kill -9` would, at that exact place: the integration tests use
// it to stop a cutover at each step boundary and check that re-running the
// command settles it. "NAME=stop" stops the process there instead (SIGSTOP),
// so that a test can change the world under it — edit pgbouncer.ini after
// the preflight, say — and let it go on with SIGCONT. Unset (always, in
// production), a check is one string comparison against an empty name.
#pragma once

#include <string_view>

namespace switchyard {

void failpoint(std::string_view name);

}  // namespace switchyard
