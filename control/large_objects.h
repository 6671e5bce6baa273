// Large objects (pg_largeobject): documents an application keeps as `oid`
// references. Logical decoding does not carry them — pg_largeobject is a
// catalog — so switchyard compares and copies them object by object: the
// snapshot copies them, `replicate` keeps them in sync, verify compares
// them and the cutover's gate proves them equal with writes frozen. This is
// the mechanism all of them share (replicator and verify may both use
// control; neither may use the other).
//
// An object is its OID; its state is its owner and the md5 of its bytes,
// computed by the server that holds it (md5(lo_get(oid))): bytes are never
// shipped to be compared, and bytes need no canonical form.
//
// What the receiving side holds is recorded beside it, in its control
// schema: switchyard.large_objects, one row per object (owner and digest as
// switchyard last wrote or confirmed it), written in the same transaction
// as the object, so object and record commit together (as rows and the
// replication origin do). A sync pass therefore digests the source only;
// verify digests both sides and tells a change the sync has not carried yet
// (the target still matches its record: in flight) from damage behind the
// stream's back (it does not: a mismatch).
//
// Cost. PostgreSQL keeps no per-object change marker that a non-superuser
// can read (pg_largeobject itself is readable by superusers only), so
// finding which object changed means digesting every object of the source.
// To avoid doing that every few seconds, a pass first reads a change stamp:
// the cumulative statistics counters of pg_largeobject and
// pg_largeobject_metadata (tuples inserted, updated, deleted) together with
// the times statistics were last reset (by pg_stat_reset, or by crash
// recovery, which resets pg_stat_bgwriter's). Every creation, write,
// truncation, unlink or owner change moves a counter. A session reports its
// counters some time after its transaction (within about a second while it
// is busy, ten when it goes idle, and when it exits), so the stamp is read
// before the objects: a change it does not show yet is either already in
// the objects read, or moves the stamp before a later pass. A stamp equal
// to the one read before the last complete pass means nothing changed
// since, and the pass reads no object. Documents are mostly written once,
// so most passes cost one small catalog query; one that sees a change
// digests every source object, server-side. With track_counts off there is
// no stamp and every pass digests. Inside a cutover's freeze the old
// primary's other sessions have exited, and a session reports its counters
// as it exits, so the stamp is complete there.
//
// Objects larger than 1 GB cannot be read with lo_get() and are refused by
// the server; ACLs (GRANT ... ON LARGE OBJECT) are not copied.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "drivers/pg/connection.h"

namespace switchyard::control::large_objects {

// How differences are named in verify's findings and switchyard.mismatches.
inline constexpr const char* kSchemaName = "pg_catalog";
inline constexpr const char* kTableName = "pg_largeobject";
inline constexpr const char* kDisplayName = "pg_catalog.pg_largeobject";

struct Object {
  uint32_t oid = 0;
  std::string owner;  // role name as regrole prints it (quoted if need be)
  std::string md5;    // of the bytes; empty when not read
  int64_t size = 0;

  bool same_as(const Object& other) const { return owner == other.owner && md5 == other.md5; }
};
using Objects = std::map<uint32_t, Object>;

// ---- pure logic (unit-tested) ------------------------------------------

enum class Kind {
  kMissing,    // on the source, not the target
  kExtra,      // on the target only
  kDifferent,  // content or owner differ
};
const char* to_string(Kind kind);

struct Difference {
  uint32_t oid = 0;
  Kind kind = Kind::kDifferent;
  bool content = false;  // the bytes differ (else only the owner), or missing
};
// What makes `target` differ from `source`, in OID order.
std::vector<Difference> compare(const Objects& source, const Objects& target);

enum class Verdict { kEqual, kInFlight, kMismatch };
// One object as verify sees it (nullptr: absent). `recorded` is what the
// sync last wrote there; `have_records` is false when no pass has recorded
// anything yet (then every difference may be one not yet carried).
Verdict classify(const Object* source, const Object* target, const Object* recorded,
                 bool have_records);

// "3 objects (2.1 MB)" and the like, for log lines.
std::string describe(const Objects& objects);

// ---- reading one side ----------------------------------------------------

// The change stamp described above; nullopt when the server counts nothing
// (track_counts off). Read outside a transaction: statistics are cached
// for the length of one.
std::optional<std::string> read_change_stamp(pg::Connection& side);

// Throws Error(kPrecondition) naming the objects this session may not read
// (reading another role's object needs SELECT on it, membership in its
// owner, superuser, or lo_compat_privileges): never a silent skip.
void check_readable(pg::Connection& side);

// Every object (or only those in `only`) with its owner; with `digests`,
// the md5 and size of its bytes too.
Objects read_objects(pg::Connection& side, bool digests,
                     const std::vector<uint32_t>* only = nullptr);

// ---- the record on the receiving side -------------------------------------

// Creates switchyard.large_objects and switchyard.large_object_sync if
// missing (idempotent, cheap when they exist).
void ensure_tables(pg::Connection& target);

struct Records {
  bool synced = false;               // a pass has completed for this stream
  std::optional<std::string> stamp;  // the source's stamp read before it
  Objects objects;                   // what switchyard wrote or confirmed
};
Records read_records(pg::Connection& target, const std::string& stream);

// The target's objects (with digests) and their records, read by one
// statement so that a sync committing meanwhile cannot split them.
struct TargetView {
  Objects actual;
  Records records;
};
TargetView read_target(pg::Connection& target, const std::string& stream,
                       const std::vector<uint32_t>* only = nullptr);

// For status: the last pass in this direction.
struct SyncState {
  int64_t objects = 0;
  int64_t bytes = 0;
  std::optional<std::string> synced_at;   // last pass that read the objects
  std::optional<std::string> checked_at;  // last look (stamp or pass)
};
std::optional<SyncState> read_state(pg::Connection& target, const std::string& stream);

// ---- syncing -------------------------------------------------------------

struct SyncOptions {
  // Digest the source even if its stamp did not move.
  bool force = false;
  // Compare with the target's actual objects (digesting them too) instead of
  // the record: repairs damage, and rebuilds the record. Also chosen by
  // itself when nothing is recorded yet (first pass in a direction).
  bool against_target = false;
  // Read the source as of this exported snapshot (the initial copy); the
  // stamp is then not recorded, so the next pass digests.
  std::optional<std::string> snapshot;
  // Every statement is held to it (the cutover's freeze).
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

struct SyncReport {
  bool digested = false;  // false: the stamp had not moved; nothing was read
  size_t objects = 0;
  uint64_t bytes = 0;
  size_t copied = 0;    // created or content replaced
  size_t owners = 0;    // owner changed only
  size_t unlinked = 0;  // gone from the source
  double seconds = 0;
  std::vector<uint32_t> changed;  // OIDs copied, re-owned or unlinked
  std::string summary() const;
};

// One pass making `target`'s large objects equal to `source`'s, for
// `stream` (whose control schema is on `target`). Passes for one stream are
// serialised by an advisory lock on the target (replicate, verify --repair
// and the cutover's gate may all run one). `source` must be outside a
// transaction; it is left so. Throws Error(kPrecondition) for an object
// the source may not read, or an owner role the target lacks.
SyncReport sync(pg::Connection& source, pg::Connection& target, const std::string& stream,
                const SyncOptions& options);

}  // namespace switchyard::control::large_objects
