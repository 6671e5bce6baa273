#include "cutover/sequences.h"

#include "common/error.h"
#include "control/control_schema.h"
#include "drivers/pg/sql.h"

namespace switchyard::cutover {

std::vector<SequenceValue> read_sequences(pg::Connection& primary,
                                          const std::vector<std::string>& schemas) {
  pg::Result rows = primary.exec(
      "SELECT schemaname, sequencename, last_value FROM pg_catalog.pg_sequences "
      "WHERE schemaname = ANY ($1::text[]) ORDER BY 1, 2",
      {control::text_array_literal(schemas)});
  std::vector<SequenceValue> out;
  for (int row = 0; row < rows.rows(); ++row) {
    SequenceValue value;
    value.qualified = pg::qualified(rows.get(row, 0), rows.get(row, 1));
    if (!rows.is_null(row, 2)) value.last_value = rows.int64(row, 2);
    out.push_back(std::move(value));
  }
  return out;
}

void check_sequences_exist(pg::Connection& replica, const std::vector<SequenceValue>& sequences) {
  for (const auto& sequence : sequences) {
    pg::Result kind = replica.exec(
        "SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1)",
        {sequence.qualified});
    if (kind.rows() == 0 || kind.get(0, 0) != "S") {
      throw Error(ErrorKind::kPrecondition,
                  replica.role() + ": sequence " + sequence.qualified +
                      " is missing (it exists on the primary); create it before cutover");
    }
  }
}

int set_sequences(pg::Connection& replica, const std::vector<SequenceValue>& sequences,
                  int64_t margin, std::chrono::steady_clock::time_point deadline) {
  std::string sql;
  int count = 0;
  for (const auto& sequence : sequences) {
    if (!sequence.last_value) continue;
    sql += sql.empty() ? "SELECT " : ", ";
    sql += "pg_catalog.setval(" + pg::quote_literal(sequence.qualified) + "::regclass, " +
           std::to_string(*sequence.last_value + margin) + ", true)";
    ++count;
  }
  if (count > 0) replica.exec_until(sql, deadline);
  return count;
}

}  // namespace switchyard::cutover
