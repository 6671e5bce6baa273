#include "cutover/sequences.h"

#include "common/error.h"
#include "control/control_schema.h"
#include "drivers/pg/sql.h"

namespace switchyard::cutover {

std::vector<SequenceValue> read_sequences(pg::Connection& primary,
                                          const std::vector<std::string>& schemas,
                                          std::chrono::steady_clock::time_point deadline) {
  // pg_sequences shows last_value NULL both for a sequence never used and
  // for one the role may not read: the privilege is asked separately.
  pg::Result rows = primary.exec_until(
      "SELECT schemaname, sequencename, last_value, increment_by, min_value, max_value, "
      "       pg_catalog.has_sequence_privilege(pg_catalog.format('%I.%I', schemaname, "
      "sequencename), 'SELECT,USAGE') "
      "FROM pg_catalog.pg_sequences WHERE schemaname = ANY (" +
          pg::quote_literal(control::text_array_literal(schemas)) + "::text[]) ORDER BY 1, 2",
      deadline);
  std::vector<SequenceValue> out;
  for (int row = 0; row < rows.rows(); ++row) {
    SequenceValue value;
    value.qualified = pg::qualified(rows.get(row, 0), rows.get(row, 1));
    if (!rows.is_null(row, 2)) value.last_value = rows.int64(row, 2);
    value.increment = rows.int64(row, 3);
    value.min_value = rows.int64(row, 4);
    value.max_value = rows.int64(row, 5);
    value.readable = rows.boolean(row, 6);
    out.push_back(std::move(value));
  }
  return out;
}

void check_sequences(pg::Connection& primary, pg::Connection& replica,
                     const std::vector<SequenceValue>& sequences) {
  for (const auto& sequence : sequences) {
    if (!sequence.readable) {
      throw Error(ErrorKind::kPrecondition,
                  primary.role() + ": may not read sequence " + sequence.qualified +
                      " (GRANT SELECT ON SEQUENCE " + sequence.qualified +
                      " to the migration role); its value must be carried at cutover");
    }
  }
  for (const auto& sequence : sequences) {
    pg::Result kind = replica.exec(
        "SELECT c.relkind, pg_catalog.has_sequence_privilege(c.oid, 'UPDATE') "
        "FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1)",
        {sequence.qualified});
    if (kind.rows() == 0 || kind.get(0, 0) != "S") {
      throw Error(ErrorKind::kPrecondition,
                  replica.role() + ": sequence " + sequence.qualified +
                      " is missing (it exists on the primary); create it before cutover");
    }
    if (!kind.boolean(0, 1)) {
      throw Error(ErrorKind::kPrecondition, replica.role() + ": may not set sequence " +
                                                sequence.qualified + " (GRANT UPDATE ON SEQUENCE " +
                                                sequence.qualified + " to the migration role)");
    }
  }
}

std::optional<int64_t> synced_value(const SequenceValue& sequence, int64_t margin) {
  if (!sequence.last_value) return std::nullopt;
  // In 128 bits, so that a value near the type's limit cannot wrap.
  const __int128 step = sequence.increment < 0 ? -static_cast<__int128>(margin) : margin;
  const __int128 wanted = static_cast<__int128>(*sequence.last_value) + step;
  if (wanted > sequence.max_value) return sequence.max_value;
  if (wanted < sequence.min_value) return sequence.min_value;
  return static_cast<int64_t>(wanted);
}

int set_sequences(pg::Connection& replica, const std::vector<SequenceValue>& sequences,
                  int64_t margin, std::chrono::steady_clock::time_point deadline) {
  std::string sql;
  int count = 0;
  for (const auto& sequence : sequences) {
    const auto value = synced_value(sequence, margin);
    if (!value) continue;
    sql += sql.empty() ? "SELECT " : ", ";
    sql += "pg_catalog.setval(" + pg::quote_literal(sequence.qualified) + "::regclass, " +
           std::to_string(*value) + ", true)";
    ++count;
  }
  if (count > 0) replica.exec_until(sql, deadline);
  return count;
}

}  // namespace switchyard::cutover
