// Sequences are not carried by logical replication: inside the freeze,
// after the old primary is fenced (no session can draw a value any more),
// every sequence of the stream's schemas is read there and set on the new
// primary one cutover.sequence_margin further on, in its own direction and
// never past its own bounds. Reading them earlier would hand out values
// the old primary drew in between a second time.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "drivers/pg/connection.h"

namespace switchyard::cutover {

struct SequenceValue {
  std::string qualified;              // "schema"."name"
  std::optional<int64_t> last_value;  // NULL: never used
  int64_t increment = 1;              // negative for a descending sequence
  int64_t min_value = 1;
  int64_t max_value = INT64_MAX;
  bool readable = true;  // the role may read its value (SELECT or USAGE)
};

// Every sequence in `schemas` on `primary`, with its current value, read
// in one statement that gives up at `deadline`.
std::vector<SequenceValue> read_sequences(pg::Connection& primary,
                                          const std::vector<std::string>& schemas,
                                          std::chrono::steady_clock::time_point deadline);
// The same read as a SELECT-able expression whose value is one JSON text,
// for a statement that does more (the fence's: cutover/fence.h), and what
// turns that text into the sequences.
std::string sequences_expression(const std::vector<std::string>& schemas);
std::vector<SequenceValue> parse_sequences(const std::string& json);
// Preflight: throws Error(kPrecondition) naming the first sequence whose
// value `primary`'s role may not read, then the first one `replica` lacks.
void check_sequences(pg::Connection& primary, pg::Connection& replica,
                     const std::vector<SequenceValue>& sequences);
// The value to give the new primary's sequence: `margin` steps past the
// last value in the sequence's own direction, held inside its bounds.
// nullopt for a sequence never used.
std::optional<int64_t> synced_value(const SequenceValue& sequence, int64_t margin);
// setval(synced_value) for each used sequence, in one statement.
// Returns how many were set.
int set_sequences(pg::Connection& replica, const std::vector<SequenceValue>& sequences,
                  int64_t margin, std::chrono::steady_clock::time_point deadline);

}  // namespace switchyard::cutover
