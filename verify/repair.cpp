#include "verify/repair.h"

#include <algorithm>
#include <map>

#include "common/log.h"
#include "control/large_objects.h"
#include "drivers/pg/sql.h"
#include "verify/verify_store.h"

namespace switchyard::verify {
namespace {

constexpr int kAttempts = 5;

using TextRow = std::vector<std::optional<std::string>>;

// The rows for `keys` on one side, every column as text, sorted so two
// reads compare as sets.
std::vector<TextRow> read_text_rows(pg::Connection& connection, const TablePlan& plan, Side side,
                                    const std::vector<KeyText>& keys) {
  pg::Result result = connection.exec(plan.select_keys_as_text(side, keys));
  std::vector<TextRow> rows;
  for (int row = 0; row < result.rows(); ++row) {
    TextRow values;
    for (int column = 0; column < result.columns(); ++column) {
      values.push_back(result.optional(row, column));
    }
    rows.push_back(std::move(values));
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

// Source rows at a position: the rows, and S.
std::pair<std::vector<TextRow>, Lsn> read_source(pg::Connection& source, const TablePlan& plan,
                                                 const std::vector<KeyText>& keys) {
  source.exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
  const Lsn position =
      Lsn::parse(source.exec("SELECT pg_catalog.pg_current_wal_insert_lsn()::text").get(0, 0))
          .value_or(Lsn{});
  auto rows = read_text_rows(source, plan, Side::kSource, keys);
  source.exec("COMMIT");
  return {std::move(rows), position};
}

// DELETE the keys' rows, INSERT the source's images: one statement each.
std::pair<std::string, std::string> repair_sql(pg::Connection& target, const TablePlan& plan,
                                               const std::vector<KeyText>& keys,
                                               const std::vector<TextRow>& rows) {
  const int target_side = static_cast<int>(Side::kTarget);
  const std::string del = "DELETE FROM " + plan.qualified + " t USING " +
                          plan.key_table(Side::kTarget, keys) + " WHERE " + plan.key_match();
  if (rows.empty()) return {del, ""};
  // Generated columns on the target compute their own values.
  pg::Result generated = target.exec(
      "SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = pg_catalog.to_regclass($1) "
      "AND attgenerated <> ''",
      {plan.qualified});
  std::vector<bool> writable;
  std::string columns;
  for (const auto& column : plan.columns) {
    bool is_generated = false;
    for (int row = 0; row < generated.rows(); ++row)
      is_generated |= generated.get(row, 0) == column.name;
    writable.push_back(!is_generated);
    if (!is_generated) columns += (columns.empty() ? "" : ", ") + pg::quote_ident(column.name);
  }
  std::string insert =
      "INSERT INTO " + plan.qualified + " (" + columns + ") OVERRIDING SYSTEM VALUE VALUES ";
  for (size_t row = 0; row < rows.size(); ++row) {
    insert += row ? ", (" : "(";
    bool first = true;
    for (size_t column_idx = 0; column_idx < plan.columns.size(); ++column_idx) {
      if (!writable[column_idx]) continue;
      const auto& value = rows[row][column_idx];
      insert += first ? "" : ", ";
      insert +=
          value ? pg::quote_literal(*value) + "::" + plan.columns[column_idx].type_name[target_side]
                : std::string("NULL");
      first = false;
    }
    insert += ")";
  }
  return {del, insert};
}

}  // namespace

std::vector<RepairReport> repair_mismatches(const Config& config, Verifier& verifier,
                                            const std::optional<std::string>& table) {
  Sides& sides = verifier.sides();
  std::map<std::string, std::vector<store::OpenMismatch>> by_table;
  for (auto& open : store::open_mismatches(sides.control(), config.name)) {
    const std::string name = open.schema + "." + open.name;
    // Large objects are repaired by object (repair_large_objects).
    if (name == control::large_objects::kDisplayName) continue;
    if (!table || *table == name) by_table[name].push_back(std::move(open));
  }
  std::vector<RepairReport> reports;
  if (by_table.empty()) {
    spdlog::info("no open mismatches{} to repair", table ? " in " + *table : "");
    return reports;
  }
  for (const auto& [name, mismatches] : by_table) {
    const TablePlan plan = verifier.plan_tables(name).at(0);
    RepairReport report;
    report.table = name;
    if (plan.keyless()) {
      report.skipped = mismatches.size();
      spdlog::warn(
          "{}: {} differing row(s) left as they are: a table without a key cannot be "
          "repaired row by row (re-copy it)",
          name, mismatches.size());
      reports.push_back(report);
      continue;
    }
    std::vector<KeyText> keys;
    for (const auto& mismatch : mismatches) keys.push_back(mismatch.key);
    bool done = false;
    for (int attempt = 1; attempt <= kAttempts && !done; ++attempt) {
      auto [rows, position] = read_source(sides.source(), plan, keys);
      if (!sides.wait_applied(position, config.verify.recheck_timeout)) break;
      auto [del, insert] = repair_sql(sides.control(), plan, keys, rows);
      pg::Connection& target = sides.control();
      target.exec("BEGIN");
      target.exec("SET LOCAL session_replication_role = replica");
      const uint64_t deleted = target.exec(del).affected_rows();
      const uint64_t inserted = insert.empty() ? 0 : target.exec(insert).affected_rows();
      if (read_source(sides.source(), plan, keys).first != rows) {
        target.exec("ROLLBACK");
        spdlog::info("{}: the source changed during repair; trying again", name);
        continue;
      }
      target.exec("COMMIT");
      done = true;
      spdlog::info("{}: repaired {} row(s): {} target row(s) removed, {} copied from the source",
                   name, mismatches.size(), deleted, inserted);
    }
    for (const auto& mismatch : mismatches) {
      std::string shown;
      for (const auto& part : mismatch.key) shown += (shown.empty() ? "" : ", ") + part;
      if (done) {
        store::resolve(sides.control(), config.name, plan, mismatch.key, "repaired");
        spdlog::info("{}: repaired row ({}) that was {}", name, shown, mismatch.kind);
        ++report.repaired;
      } else {
        spdlog::warn(
            "{}: row ({}) not repaired: the source kept changing or the target did not "
            "catch up; run verify again",
            name, shown);
        ++report.unsettled;
      }
    }
    reports.push_back(report);
  }
  return reports;
}

}  // namespace switchyard::verify
