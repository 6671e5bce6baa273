// Named, session-level advisory locks on the stream's home database (the
// target's, where the control schema lives): "one process at a time does
// this". A lock is held by one connection for as long as its holder runs;
// a killed process loses it as soon as its connection closes.
//
// Used for: applying a stream (`replicate`, replicator/stream_lock.h) and
// switching its primary (`cutover`, `failback`: cutover/switchover.cpp).
#pragma once

#include <string>

#include "drivers/pg/connection.h"

namespace switchyard::control {

// Takes the lock named `name` on `session` without waiting; false when
// another session holds it.
bool try_advisory_lock(pg::Connection& session, const std::string& name);

// Who holds the lock named `name`, for an error message:
// " (connected from 127.0.0.1 since 2026-12-02 10:00:00+00)", or "" when
// nobody does (any more).
std::string advisory_lock_holder(pg::Connection& session, const std::string& name);

}  // namespace switchyard::control
