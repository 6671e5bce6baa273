#include "verify/verify_store.h"

#include <algorithm>
#include <cmath>
#include <deque>

#include "control/control_schema.h"
#include "verify/canonical_decoding.h"

namespace switchyard::verify {

Finding make_finding(const TablePlan& plan, const std::string& key, MismatchKind kind,
                     Lsn source_position) {
  Finding finding;
  finding.table = plan.display;
  finding.kind = kind;
  finding.source_position = source_position;
  std::deque<std::string> storage;
  const std::vector<Value> values = decode_canonical(key, storage);
  // A keyless table's "key" is the whole row, in column order.
  for (size_t idx = 0; idx < values.size(); ++idx) {
    const Value& value = values[idx];
    const std::string& column = plan.columns[plan.keyless() ? idx : plan.key[idx]].name;
    finding.key.push_back(to_text(value));
    switch (value.type) {
      case ValueType::kNull:
        finding.key_json[column] = nullptr;
        break;
      case ValueType::kBool:
        finding.key_json[column] = value.integer != 0;
        break;
      case ValueType::kInt:
        finding.key_json[column] = value.integer;
        break;
      case ValueType::kFloat:
        if (std::isfinite(value.real)) {
          finding.key_json[column] = value.real;
          break;
        }
        [[fallthrough]];
      default:
        finding.key_json[column] = finding.key.back();
        break;
    }
  }
  return finding;
}

namespace store {
namespace {

// A text[] read as JSON (array_to_json): ["42", "acme"].
KeyText key_from_json(std::string_view json) {
  KeyText key;
  const boost::json::value parsed = boost::json::parse(json);
  for (const auto& element : parsed.as_array()) {
    key.emplace_back(element.is_string() ? std::string(element.as_string()) : std::string());
  }
  return key;
}

std::optional<std::string> array_or_null(const KeyText* key) {
  if (!key) return std::nullopt;
  return control::text_array_literal(*key);
}

}  // namespace

std::string begin_pass(pg::Connection& target, const std::string& stream, const TablePlan& plan) {
  // The last completed pass stays as it was: only running_since says that
  // a new one is under way. A table never verified shows 'running'.
  return target
      .exec(
          "INSERT INTO switchyard.verify_tables AS v (stream, schema_name, table_name, status, "
          "pass_started_at, running_since) "
          "VALUES ($1, $2, $3, 'running', clock_timestamp(), clock_timestamp()) "
          "ON CONFLICT (stream, schema_name, table_name) DO UPDATE SET "
          "running_since = EXCLUDED.running_since "
          "RETURNING v.running_since::text",
          {stream, plan.schema, plan.name})
      .str(0, 0);
}

void finish_pass(pg::Connection& target, const std::string& stream, const TablePlan& plan,
                 const std::string& status, Lsn position, uint64_t rows, int chunks,
                 size_t mismatches, size_t in_flight) {
  target.exec(
      "UPDATE switchyard.verify_tables SET status = $4, "
      "pass_started_at = coalesce(running_since, pass_started_at), "
      "pass_finished_at = clock_timestamp(), running_since = NULL, "
      "pass_lsn = $5, rows_compared = $6, chunks = $7, mismatches = $8, in_flight = $9 "
      "WHERE stream = $1 AND schema_name = $2 AND table_name = $3",
      {stream, plan.schema, plan.name, status, position.to_string(), std::to_string(rows),
       std::to_string(chunks), std::to_string(mismatches), std::to_string(in_flight)});
}

void save_chunk(pg::Connection& target, const std::string& stream, const TablePlan& plan,
                const ChunkRecord& chunk) {
  target.exec(
      "INSERT INTO switchyard.verify_chunks (stream, schema_name, table_name, chunk_no, "
      "lower_key, upper_key, rows, source_digest, target_digest, status, verified_lsn, "
      "verified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, clock_timestamp()) "
      "ON CONFLICT (stream, schema_name, table_name, chunk_no) DO UPDATE SET "
      "lower_key = EXCLUDED.lower_key, upper_key = EXCLUDED.upper_key, rows = EXCLUDED.rows, "
      "source_digest = EXCLUDED.source_digest, target_digest = EXCLUDED.target_digest, "
      "status = EXCLUDED.status, verified_lsn = EXCLUDED.verified_lsn, "
      "verified_at = EXCLUDED.verified_at",
      {stream, plan.schema, plan.name, std::to_string(chunk.chunk_no), array_or_null(chunk.lower),
       array_or_null(chunk.upper), std::to_string(chunk.rows), chunk.source_digest,
       chunk.target_digest, chunk.status, chunk.verified_at.to_string()});
}

void trim_chunks(pg::Connection& target, const std::string& stream, const TablePlan& plan,
                 int count) {
  target.exec(
      "DELETE FROM switchyard.verify_chunks "
      "WHERE stream = $1 AND schema_name = $2 AND table_name = $3 AND chunk_no >= $4",
      {stream, plan.schema, plan.name, std::to_string(count)});
}

void record_mismatch(pg::Connection& target, const std::string& stream, const TablePlan& plan,
                     const Finding& finding) {
  target.exec(
      "INSERT INTO switchyard.mismatches (stream, schema_name, table_name, key, key_json, kind, "
      "source_lsn) VALUES ($1, $2, $3, $4, $5, $6, $7) "
      "ON CONFLICT (stream, schema_name, table_name, key) DO UPDATE SET "
      "kind = EXCLUDED.kind, source_lsn = EXCLUDED.source_lsn, last_seen = now(), "
      "first_seen = CASE WHEN mismatches.resolved_at IS NULL THEN mismatches.first_seen "
      "                  ELSE now() END, "
      "resolved_at = NULL, resolution = NULL",
      {stream, plan.schema, plan.name, control::text_array_literal(finding.key),
       boost::json::serialize(finding.key_json), std::string(to_string(finding.kind)),
       finding.source_position.to_string()});
}

void resolve_unseen(pg::Connection& target, const std::string& stream, const TablePlan& plan,
                    const std::string& pass_started) {
  target.exec(
      "UPDATE switchyard.mismatches SET resolved_at = now(), resolution = 'verified equal' "
      "WHERE stream = $1 AND schema_name = $2 AND table_name = $3 AND resolved_at IS NULL "
      "AND last_seen < $4::timestamptz",
      {stream, plan.schema, plan.name, pass_started});
}

void resolve(pg::Connection& target, const std::string& stream, const TablePlan& plan,
             const KeyText& key, const std::string& resolution) {
  target.exec(
      "UPDATE switchyard.mismatches SET resolved_at = now(), resolution = $5 "
      "WHERE stream = $1 AND schema_name = $2 AND table_name = $3 AND key = $4 "
      "AND resolved_at IS NULL",
      {stream, plan.schema, plan.name, control::text_array_literal(key), resolution});
}

std::vector<OpenMismatch> open_mismatches(pg::Connection& target, const std::string& stream) {
  pg::Result rows = target.exec(
      "SELECT schema_name, table_name, kind, pg_catalog.array_to_json(key)::text "
      "FROM switchyard.mismatches WHERE stream = $1 AND resolved_at IS NULL "
      "ORDER BY schema_name, table_name, key",
      {stream});
  std::vector<OpenMismatch> out;
  for (int row = 0; row < rows.rows(); ++row) {
    out.push_back(
        {rows.str(row, 0), rows.str(row, 1), key_from_json(rows.get(row, 3)), rows.str(row, 2)});
  }
  return out;
}

namespace {

// One row of switchyard.dirty_keys (ctid, marked_lsn, keys and key_ranges
// as JSON from column `first`) into `dirty`.
void add_dirty_row(const pg::Result& rows, int row, int first, DirtySet& dirty) {
  dirty.rows.push_back({rows.str(row, first), rows.str(row, first + 1)});
  const boost::json::value keys = boost::json::parse(rows.get(row, first + 2));
  const boost::json::value ranges = boost::json::parse(rows.get(row, first + 3));
  const auto& key_rows = keys.as_array();
  const auto& range_rows = ranges.as_array();
  if (key_rows.empty() && range_rows.empty()) dirty.whole_table = true;
  for (const auto& key_row : key_rows) {
    KeyText key;
    for (const auto& part : key_row.as_array()) {
      key.emplace_back(part.is_string() ? std::string(part.as_string()) : std::string());
    }
    dirty.keys.push_back(std::move(key));
  }
  for (const auto& range_row : range_rows) {
    const auto& bounds = range_row.as_array();
    const int64_t low = bounds.at(0).to_number<int64_t>();
    const int64_t high = bounds.at(1).to_number<int64_t>();
    dirty.ranges.push_back(
        {low, high,
         static_cast<size_t>(static_cast<uint64_t>(high) - static_cast<uint64_t>(low)) + 1});
  }
}

// Sorted and unique, as a set would have them, for a fraction of the
// allocations: a loader leaves tens of thousands of keys.
void settle_keys(DirtySet& dirty) {
  std::sort(dirty.keys.begin(), dirty.keys.end());
  dirty.keys.erase(std::unique(dirty.keys.begin(), dirty.keys.end()), dirty.keys.end());
}

}  // namespace

DirtySet read_dirty(pg::Connection& target, const std::string& stream, const TablePlan& plan) {
  pg::Result rows = target.exec(
      "SELECT ctid::text, marked_lsn::text, pg_catalog.array_to_json(keys)::text, "
      "       pg_catalog.array_to_json(key_ranges)::text "
      "FROM switchyard.dirty_keys WHERE stream = $1 AND schema_name = $2 AND table_name = $3",
      {stream, plan.schema, plan.name});
  DirtySet dirty;
  for (int row = 0; row < rows.rows(); ++row) add_dirty_row(rows, row, 0, dirty);
  settle_keys(dirty);
  return dirty;
}

std::map<std::pair<std::string, std::string>, DirtySet> read_all_dirty(pg::Connection& target,
                                                                       const std::string& stream) {
  pg::Result rows = target.exec(
      "SELECT schema_name, table_name, ctid::text, marked_lsn::text, "
      "       pg_catalog.array_to_json(keys)::text, pg_catalog.array_to_json(key_ranges)::text "
      "FROM switchyard.dirty_keys WHERE stream = $1",
      {stream});
  std::map<std::pair<std::string, std::string>, DirtySet> tables;
  for (int row = 0; row < rows.rows(); ++row) {
    add_dirty_row(rows, row, 2, tables[{rows.str(row, 0), rows.str(row, 1)}]);
  }
  for (auto& [table, dirty] : tables) settle_keys(dirty);
  return tables;
}

std::vector<MarkCount> count_marks(pg::Connection& target, const std::string& stream) {
  pg::Result rows =
      target.exec(std::string("SELECT schema_name, table_name, ") + control::kDirtyMarkCount +
                      " FROM switchyard.dirty_keys WHERE stream = $1 GROUP BY 1, 2",
                  {stream});
  std::vector<MarkCount> out;
  for (int row = 0; row < rows.rows(); ++row) {
    out.push_back({rows.str(row, 0), rows.str(row, 1), static_cast<uint64_t>(rows.int64(row, 2)),
                   rows.boolean(row, 3)});
  }
  return out;
}

void clear_dirty(pg::Connection& target, const std::vector<DirtyRow>& rows) {
  if (rows.empty()) return;
  std::vector<std::string> ctids, lsns;
  for (const auto& row : rows) {
    ctids.push_back(row.ctid);
    lsns.push_back(row.marked_lsn);
  }
  target.exec(
      "DELETE FROM switchyard.dirty_keys WHERE (ctid, marked_lsn) IN "
      "(SELECT * FROM unnest($1::tid[], $2::pg_lsn[]))",
      {control::text_array_literal(ctids), control::text_array_literal(lsns)});
}

void mark_dirty(pg::Connection& target, const std::string& stream, const TablePlan& plan,
                const std::vector<KeyText>& keys, Lsn position) {
  if (keys.empty()) return;
  if (plan.keyless()) {
    // Its "keys" are whole rows: the table is marked as a whole, as the
    // apply loop marks it.
    target.exec(
        "INSERT INTO switchyard.dirty_keys (stream, schema_name, table_name, marked_lsn, keys) "
        "VALUES ($1, $2, $3, $4::pg_lsn, '{}') "
        "ON CONFLICT (stream, schema_name, table_name) WHERE keys = '{}' AND key_ranges = '{}' "
        "DO UPDATE SET marked_lsn = greatest(dirty_keys.marked_lsn, EXCLUDED.marked_lsn)",
        {stream, plan.schema, plan.name, position.to_string()});
    return;
  }
  // One row per key, as the apply loop writes one row per batch: a text[]
  // of key parts, aggregated into the two-dimensional keys array.
  std::vector<std::string> rows;
  for (const auto& key : keys) rows.push_back(control::text_array_literal(key));
  target.exec(
      "INSERT INTO switchyard.dirty_keys (stream, schema_name, table_name, marked_lsn, keys) "
      "SELECT $1, $2, $3, $4::pg_lsn, array_agg(k::text[]) FROM unnest($5::text[]) k",
      {stream, plan.schema, plan.name, position.to_string(), control::text_array_literal(rows)});
}

void clear_dirty_through(pg::Connection& target, const std::string& stream, const TablePlan& plan,
                         Lsn position) {
  target.exec(
      "DELETE FROM switchyard.dirty_keys WHERE stream = $1 AND schema_name = $2 "
      "AND table_name = $3 AND marked_lsn <= $4",
      {stream, plan.schema, plan.name, position.to_string()});
}

}  // namespace store
}  // namespace switchyard::verify
