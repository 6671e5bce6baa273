// The `switchyard` control schema on the target: what init created, how far
// the initial copy got, the stream's last reported lag, the keys the apply
// loop changed since they were last verified, and verify's chunks and
// findings. Documented in docs/control-schema.md. Apply progress itself is
// not a table: it is the replication origin, advanced in the same
// transaction as the data.
//
// Functions take the connection to use; none opens its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/lsn.h"
#include "drivers/pg/connection.h"

namespace switchyard::control {

inline constexpr const char* kSchema = "switchyard";

// Phases of a stream, in order.
inline constexpr const char* kInitialized = "initialized";  // target prepared, nothing copied
inline constexpr const char* kCopying = "copying";          // initial copy under way
inline constexpr const char* kStreaming = "streaming";      // copy done; apply from the origin

// Which way changes flow. Forward: source (the legacy) -> target. Reverse,
// after a cutover: target -> source, with the slot and publication on the
// target and the origin and a control schema on the source.
enum class Direction { kForward, kReverse };
const char* to_string(Direction direction);

struct StreamRow {
  std::string name;
  std::string phase;
  std::string source_system_id;
  std::optional<Lsn> consistent_lsn;
  std::optional<std::string> snapshot_finished_at;
};

struct TableRow {
  std::string schema;
  std::string name;
  bool created_by_switchyard = false;
  std::vector<std::string> post_data;     // keys, indexes, checks: run after the copy
  std::vector<std::string> foreign_keys;  // run after every table's post_data
  bool post_data_done = false;
  // Added after the initial copy (replicator/table_sync.h): being added, and
  // the position from which the stream applies its changes.
  bool adding = false;
  std::optional<Lsn> synced_from;
  uint32_t source_oid = 0;  // 0: not recorded (earlier versions)
};

// Beyond this many keys waiting in switchyard.dirty_keys, comparing them
// one by one costs more than a full pass over a table of `table_rows` rows:
// the apply loop then marks the table as a whole, and verify --dirty-only
// makes a full pass.
uint64_t dirty_key_limit(double table_rows);

// Over rows of switchyard.dirty_keys: how many keys and integer-key runs they
// mark (a key changed in several batches counts once per batch), and whether
// one of them marks its table as a whole. Two select-list items.
inline constexpr const char* kDirtyMarkCount =
    "coalesce(sum(coalesce(array_length(keys, 1), 0) + "
    "coalesce(array_length(key_ranges, 1), 0)), 0), "
    "coalesce(bool_or(keys = '{}' AND key_ranges = '{}'), false)";

// {"a","b\"c"}: a text[] literal, for a parameter.
std::string text_array_literal(const std::vector<std::string>& items);
// {1,2,3}: an oid[] literal, for a parameter.
std::string oid_array_literal(const std::vector<uint32_t>& oids);

// Creates the schema and its tables if missing. Idempotent; run inside the
// caller's transaction.
void ensure_schema(pg::Connection& target);
bool schema_exists(pg::Connection& target);

std::optional<StreamRow> read_stream(pg::Connection& target, const std::string& name);
void insert_stream(pg::Connection& target, const std::string& name,
                   const std::string& source_system_id);
void set_phase(pg::Connection& target, const std::string& name, const std::string& phase,
               std::optional<Lsn> consistent_lsn = std::nullopt);

std::vector<TableRow> read_tables(pg::Connection& target, const std::string& name);
void upsert_table(pg::Connection& target, const std::string& stream, const TableRow& row);
// A table added while streaming is copied: the stream applies its changes
// committed at or after `synced_from` (see TableRow).
// Also forgets what verify concluded about the table's earlier rows (its
// chunks, its last pass, its open mismatches: settled as 'recopied').
void finish_adding_table(pg::Connection& target, const std::string& stream,
                         const std::string& schema, const std::string& table, Lsn synced_from);
// A table dropped on the source leaves the stream: its row, what verify
// kept about it (chunks, last pass, changed keys, row log) go, and its open
// mismatches are settled as 'dropped on the source'. The target's table and
// rows stay, for the DBA to drop.
void forget_table(pg::Connection& target, const std::string& stream, const std::string& schema,
                  const std::string& table);
// A table renamed (or moved to another schema) on the source: the same on
// the target, and everything switchyard keeps about it follows. REQUIRES: no
// open transaction of the stream's apply holds the table.
void rename_table(pg::Connection& target, const std::string& stream, const std::string& schema,
                  const std::string& table, const std::string& new_schema,
                  const std::string& new_name);
// `switchyard recopy`: the table joins the stream again, as if new (the
// running replicate, or the next, copies it). False if it is not streamed.
bool request_recopy(pg::Connection& target, const std::string& stream, const std::string& schema,
                    const std::string& table);
void mark_post_data_done(pg::Connection& target, const std::string& stream,
                         const std::string& schema, const std::string& table);
void record_copy(pg::Connection& target, const std::string& stream, const std::string& schema,
                 const std::string& table, uint64_t rows, uint64_t bytes);

// Lag as last reported by a running `replicate`, with the number of
// prepared statements its apply session holds.
void report_lag(pg::Connection& target, const std::string& name, Lsn source_lsn, Lsn applied_lsn,
                double lag_seconds, uint64_t apply_statements);

// The stream's direction, from the target's control schema (its home).
// Throws Error(kPrecondition) if the stream is not initialised.
Direction read_direction(pg::Connection& target, const std::string& name);
// The same as one statement with literals, to send with others.
std::string set_direction_sql(const std::string& name, Direction direction);
void set_direction(pg::Connection& target, const std::string& name, Direction direction);

// While a cutover prepares its gate, the apply loop marks every changed key
// and never a whole table (see dirty_key_limit), so that the gate inside
// the freeze costs what changed, not a full pass. The request lapses after
// `duration`, should the run that made it die.
void request_exact_marks(pg::Connection& target, const std::string& name,
                         std::chrono::seconds duration);
void release_exact_marks(pg::Connection& target, const std::string& name);

// What the apply loop reads of a request, every 250 ms: whether one is
// active, and from which source position the rows written to tables
// without a key are logged in switchyard.keyless_images (none yet: the
// apply loop starts logging and notes it).
struct ExactMarksRequest {
  bool requested = false;
  std::optional<Lsn> images_since;
};
ExactMarksRequest read_exact_marks_request(pg::Connection& target, const std::string& name);
// Every change committed on the source at or after `since` is logged from
// now on. Does nothing if a position is already noted (or no request).
void note_images_since(pg::Connection& target, const std::string& name, Lsn since);

// Removes the stream's rows; drops the schema when no stream is left.
// Returns true if the schema was dropped.
bool remove_stream(pg::Connection& target, const std::string& name);

// Replication origin helpers (the origin lives on the target).
void ensure_origin(pg::Connection& target, const std::string& origin);
std::optional<Lsn> origin_progress(pg::Connection& target, const std::string& origin, bool flushed);
void drop_origin(pg::Connection& target, const std::string& origin);

}  // namespace switchyard::control
