// Graceful stop on SIGINT/SIGTERM.
//
// install_stop_signals() routes both signals to a flag that long-running
// loops poll between units of work (a source transaction, a COPY buffer), so
// a stop never leaves anything half-applied. A second signal while stopping
// is ignored; SIGKILL is the way to test crash recovery.
#pragma once

namespace switchyard {

void install_stop_signals();
bool stop_requested();
void request_stop();  // for tests and internal shutdown

}  // namespace switchyard
