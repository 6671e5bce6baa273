// The fence: an old primary must not take writes that bypass the router.
//
// The fence sets the database's default to read-only (ALTER DATABASE ...
// SET default_transaction_read_only = on), so every new session is
// read-only, then terminates every other client session on that database
// and waits for each to exit: a session opened before the fence would not
// see the new default. Replication connections and switchyard's own
// sessions (named switchyard-*, which set the default off for themselves)
// are spared: the stream must go on applying. Once fence() returns, only
// switchyard can write there, so a marker written next is after every
// application write.
//
// It comes in two halves, so that the clients frozen by the router wait
// for as little as possible: ready_fence(), while the router freezes, runs
// the ALTER DATABASE and leaves its transaction open (no session sees the
// new default yet); fence() commits it and ends the sessions, in one round
// trip. A fence made ready and not needed is abandoned (ROLLBACK); a
// process that dies in between leaves nothing, the server rolling the
// transaction back. fence() alone does both halves.
//
// The fence's commit does not wait for the disk: the drain marker that the
// cutover writes next is a synchronous commit, whose flush covers it. When
// no session had to be ended, that marker goes in the fence's own round
// trip (FenceAlone's `marker`): nothing but switchyard can write there
// then. So does a read that must see every write before the fence
// (`read`: the sequences, which no session can draw from any more). A
// session that was ended may still commit until it exits, so after one
// both are left to the caller, once they are gone.
//
// unfence() resets the default. A cutover leaves the old primary fenced (it
// is the replica now) and unfences the new one.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "common/lsn.h"
#include "drivers/pg/connection.h"

namespace switchyard::cutover {

// A transactional logical message (pg_logical_emit_message).
struct Marker {
  std::string prefix;
  std::string content;
};

// SELECT-able expression writing `marker`; its value is the message's LSN as text.
std::string emit_expression(const Marker& marker);

// What the fence's statement also does when it ends no session.
struct FenceAlone {
  const Marker* marker = nullptr;  // written
  std::string read;                // a SELECT-able expression of type text, evaluated
};

struct FenceResult {
  int terminated = 0;  // sessions ended
  // Where the marker was written, and what the read gave, if they were
  // (no session was ended).
  std::optional<Lsn> marker;
  std::optional<std::string> read;
};

void ready_fence(pg::Connection& primary, std::chrono::steady_clock::time_point deadline);
FenceResult fence(pg::Connection& primary, std::chrono::steady_clock::time_point deadline,
                  const FenceAlone& alone = {});
// Rolls back a fence made ready and not committed; harmless otherwise.
void abandon_fence(pg::Connection& primary) noexcept;
// The statement that unfences `database`, for a transaction that does more.
std::string unfence_sql(const pg::Connection& database);
// Commits without waiting for the disk: a write acknowledged after it
// flushes it too, and a crash that loses it loses no acknowledged write.
void unfence(pg::Connection& database, std::chrono::steady_clock::time_point deadline);
// Whether the database's default is read-only (fenced).
bool fenced(pg::Connection& database);

}  // namespace switchyard::cutover
