#include "verify/repair.h"

#include <algorithm>
#include <map>

#include "common/failpoint.h"
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

// How repair may write each of the target's columns: 'w' as any, 'g'
// generated (it computes its own value: never written), 'a' a GENERATED
// ALWAYS identity (inserted with OVERRIDING SYSTEM VALUE, never SET).
std::string column_kinds(pg::Connection& target, const TablePlan& plan) {
  pg::Result special = target.exec(
      "SELECT attname, CASE WHEN attgenerated <> '' THEN 'g' ELSE 'a' END "
      "FROM pg_catalog.pg_attribute WHERE attrelid = pg_catalog.to_regclass($1) "
      "AND (attgenerated <> '' OR attidentity = 'a')",
      {plan.qualified});
  std::string kinds;
  for (const auto& column : plan.columns) {
    char kind = 'w';
    for (int row = 0; row < special.rows(); ++row) {
      if (special.get(row, 0) == column.name) kind = special.get(row, 1)[0];
    }
    kinds.push_back(kind);
  }
  return kinds;
}

// A row's key columns, as the server printed them: the same text on both
// sides for the same value, so rows pair up by it.
KeyText key_of(const TablePlan& plan, const TextRow& row) {
  KeyText key;
  for (size_t column_idx : plan.key) key.push_back(row[column_idx].value_or(""));
  return key;
}

// A repair statement: user data travels as parameters, never as literals.
struct Statement {
  std::string sql;
  pg::Params params;

  // "$n::type" for the next parameter, `value` (NULL when empty).
  std::string bind(const std::optional<std::string>& value, const std::string& type) {
    params.push_back(value);
    return "$" + std::to_string(params.size()) + "::" + type;
  }
};

const std::string& target_type(const TablePlan& plan, size_t column_idx) {
  return plan.columns[column_idx].type_name[static_cast<int>(Side::kTarget)];
}

std::string key_condition(const TablePlan& plan, const KeyText& key, Statement& statement) {
  std::string condition;
  for (size_t key_idx = 0; key_idx < plan.key.size(); ++key_idx) {
    const size_t column_idx = plan.key[key_idx];
    condition += (key_idx ? " AND " : "") + pg::quote_ident(plan.columns[column_idx].name) + " = " +
                 statement.bind(key[key_idx], target_type(plan, column_idx));
  }
  return condition;
}

// The statements that turn the target's rows into the source's, row by
// row: an UPDATE in place where both sides have the key, an INSERT where
// the target lacks it, a DELETE where the source does. In place matters:
// an apply statement waiting on the row's lock goes on to the repaired row
// when the repair commits. A DELETE and INSERT would leave it the deleted
// version, and its change would be lost ("matched no row").
std::vector<Statement> repair_statements(const TablePlan& plan, const std::string& kinds,
                                         const std::vector<TextRow>& source_rows,
                                         const std::vector<TextRow>& target_rows) {
  std::map<KeyText, const TextRow*> on_target;
  for (const auto& row : target_rows) on_target[key_of(plan, row)] = &row;
  std::vector<Statement> statements;
  auto insert = [&](const TextRow& row) {
    Statement statement;
    std::string columns, values;
    for (size_t column_idx = 0; column_idx < plan.columns.size(); ++column_idx) {
      if (kinds[column_idx] == 'g') continue;
      columns += (columns.empty() ? "" : ", ") + pg::quote_ident(plan.columns[column_idx].name);
      values += (values.empty() ? "" : ", ") +
                statement.bind(row[column_idx], target_type(plan, column_idx));
    }
    statement.sql = "INSERT INTO " + plan.qualified + " (" + columns +
                    ") OVERRIDING SYSTEM VALUE VALUES (" + values + ")";
    statements.push_back(std::move(statement));
  };
  auto remove = [&](const KeyText& key) {
    Statement statement;
    statement.sql = "DELETE FROM " + plan.qualified + " WHERE ";
    statement.sql += key_condition(plan, key, statement);
    statements.push_back(std::move(statement));
  };
  for (const auto& row : source_rows) {
    const KeyText key = key_of(plan, row);
    auto found = on_target.find(key);
    if (found == on_target.end()) {
      insert(row);
      continue;
    }
    const TextRow& target_row = *found->second;
    on_target.erase(found);
    if (target_row == row) continue;
    auto in_key = [&](size_t column_idx) {
      return std::find(plan.key.begin(), plan.key.end(), column_idx) != plan.key.end();
    };
    // No UPDATE may set an identity value: a row whose identity differs is
    // replaced instead.
    bool identity_differs = false;
    for (size_t column_idx = 0; column_idx < plan.columns.size(); ++column_idx) {
      identity_differs |= kinds[column_idx] == 'a' && !in_key(column_idx) &&
                          target_row[column_idx] != row[column_idx];
    }
    if (identity_differs) {
      remove(key);
      insert(row);
      continue;
    }
    Statement statement;
    std::string set;
    for (size_t column_idx = 0; column_idx < plan.columns.size(); ++column_idx) {
      if (kinds[column_idx] != 'w' || in_key(column_idx)) continue;
      set += (set.empty() ? "" : ", ") + pg::quote_ident(plan.columns[column_idx].name) + " = " +
             statement.bind(row[column_idx], target_type(plan, column_idx));
    }
    if (set.empty()) continue;  // nothing but the key: equal already
    statement.sql = "UPDATE " + plan.qualified + " SET " + set + " WHERE ";
    statement.sql += key_condition(plan, key, statement);
    statements.push_back(std::move(statement));
  }
  for (const auto& [key, row] : on_target) remove(key);
  return statements;
}

}  // namespace

std::vector<RepairReport> repair_mismatches(const Config& config, Verifier& verifier,
                                            PostgresSides& sides,
                                            const std::optional<std::string>& table) {
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
          "repaired row by row; copy it again with `switchyard recopy {}`",
          name, mismatches.size(), name);
      reports.push_back(report);
      continue;
    }
    std::vector<KeyText> keys;
    for (const auto& mismatch : mismatches) keys.push_back(mismatch.key);
    const std::string kinds = column_kinds(sides.control(), plan);
    bool done = false;
    for (int attempt = 1; attempt <= kAttempts && !done; ++attempt) {
      auto [rows, position] = read_source(sides.source(), plan, keys);
      if (!sides.wait_applied(position, config.verify.recheck_timeout)) break;
      pg::Connection& target = sides.control();
      target.exec("BEGIN");
      target.exec("SET LOCAL session_replication_role = replica");
      const auto statements =
          repair_statements(plan, kinds, rows, read_text_rows(target, plan, Side::kTarget, keys));
      for (const auto& statement : statements) target.exec(statement.sql, statement.params);
      if (read_source(sides.source(), plan, keys).first != rows) {
        target.exec("ROLLBACK");
        spdlog::info("{}: the {} changed during repair; trying again", name, sides.source().role());
        continue;
      }
      failpoint("repair:before_commit");  // tests make the stream race the commit here
      target.exec("COMMIT");
      // A change the source committed after that last look may have reached
      // the apply loop before our commit and found no row where we inserted
      // one: the rows are compared once more, position-tied, and repaired
      // again if they differ.
      auto [after, settled_at] = read_source(sides.source(), plan, keys);
      if (!sides.wait_applied(settled_at, config.verify.recheck_timeout)) break;
      const auto target_now = read_text_rows(sides.control(), plan, Side::kTarget, keys);
      // Equal to the source at that position, or to the source now (the
      // stream moved both on).
      if (target_now != after && target_now != read_source(sides.source(), plan, keys).first) {
        spdlog::info("{}: the stream changed repaired rows as the repair committed; again", name);
        continue;
      }
      done = true;
      spdlog::info("{}: repaired {} row(s) with {} statement(s)", name, mismatches.size(),
                   statements.size());
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
            "{}: row ({}) not repaired: the {} kept changing or the {} did not catch up; run "
            "verify again",
            name, shown, sides.source().role(), sides.target().role());
        ++report.unsettled;
      }
    }
    reports.push_back(report);
  }
  return reports;
}

}  // namespace switchyard::verify
