#include "cutover/sequences.h"

#include <boost/json.hpp>

#include "common/error.h"
#include "control/control_schema.h"
#include "drivers/pg/sql.h"

namespace switchyard::cutover {

std::string sequences_expression(const std::vector<std::string>& schemas) {
  // pg_sequences shows last_value NULL both for a sequence never used and
  // for one the role may not read: the privilege is asked separately.
  return "(SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_array("
         "  schemaname, sequencename, last_value, increment_by, min_value, max_value, "
         "  pg_catalog.has_sequence_privilege(pg_catalog.format('%I.%I', schemaname, "
         "sequencename), 'SELECT,USAGE')) ORDER BY schemaname, sequencename), '[]')::text "
         "FROM pg_catalog.pg_sequences WHERE schemaname = ANY (" +
         pg::quote_literal(control::text_array_literal(schemas)) + "::text[]))";
}

std::vector<SequenceValue> parse_sequences(const std::string& json) {
  std::vector<SequenceValue> out;
  try {
    const boost::json::value rows = boost::json::parse(json);
    for (const auto& row : rows.as_array()) {
      const auto& fields = row.as_array();
      SequenceValue value;
      value.qualified = pg::qualified(std::string(fields.at(0).as_string()),
                                      std::string(fields.at(1).as_string()));
      if (!fields.at(2).is_null()) value.last_value = fields.at(2).to_number<int64_t>();
      value.increment = fields.at(3).to_number<int64_t>();
      value.min_value = fields.at(4).to_number<int64_t>();
      value.max_value = fields.at(5).to_number<int64_t>();
      value.readable = fields.at(6).as_bool();
      out.push_back(std::move(value));
    }
  } catch (const std::exception& error) {
    throw Error(ErrorKind::kInternal, std::string("sequences: unexpected answer: ") + error.what());
  }
  return out;
}

std::vector<SequenceValue> read_sequences(pg::Connection& primary,
                                          const std::vector<std::string>& schemas,
                                          std::chrono::steady_clock::time_point deadline) {
  return parse_sequences(
      primary.exec_until("SELECT " + sequences_expression(schemas), deadline).str(0, 0));
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
