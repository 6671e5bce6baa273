// Sequences are not carried by logical replication: at cutover every
// sequence of the stream's schemas is set on the new primary from the old
// primary's value, plus cutover.sequence_margin (values handed out but not
// yet committed on the old primary must not be handed out again).
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
};

// Every sequence in `schemas` on `primary`, with its current value.
std::vector<SequenceValue> read_sequences(pg::Connection& primary,
                                          const std::vector<std::string>& schemas);
// Throws Error(kPrecondition) naming the first sequence `replica` lacks.
void check_sequences_exist(pg::Connection& replica, const std::vector<SequenceValue>& sequences);
// setval(last_value + margin) for each used sequence, in one statement.
// Returns how many were set.
int set_sequences(pg::Connection& replica, const std::vector<SequenceValue>& sequences,
                  int64_t margin, std::chrono::steady_clock::time_point deadline);

}  // namespace switchyard::cutover
