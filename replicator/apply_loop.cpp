#include "replicator/apply_loop.h"

#include <cstdio>
#include <set>

#include "common/error.h"
#include "common/log.h"
#include "drivers/pg/sql.h"

namespace switchyard {
namespace {

constexpr uint32_t kFirstUserOid = 16384;

// Types without a usable '=' (json, xml, geometric): REPLICA IDENTITY FULL
// matches them by their text form instead.
bool compare_as_text(uint32_t type_oid) {
  static const std::set<uint32_t> kTypes{114, 199, 142,  143,  600,  601,  602,  603, 604,
                                         628, 718, 1017, 1018, 1019, 1020, 1027, 629, 719};
  return kTypes.count(type_oid) > 0;
}

uint64_t statement_tag(uint32_t relation_id, char op) {
  return (uint64_t{relation_id} << 8) | static_cast<unsigned char>(op);
}

}  // namespace

struct ApplyLoop::RelationState {
  pgoutput::Relation relation;
  std::string qualified;
  std::string display;
  std::vector<size_t> key_columns;
  std::unordered_map<std::string, std::string> statements;  // shape -> prepared name
};

ApplyLoop::ApplyLoop(const Config& config, pg::Connection& catalog)
    : config_(config), catalog_(catalog), session_(config.target.conninfo, "target") {
  session_.exec(
      "SET session_replication_role = replica; SET synchronous_commit = off; "
      "SET search_path = pg_catalog");
  session_.exec("SELECT pg_catalog.pg_replication_origin_session_setup($1)",
                {config_.origin_name()});
  pg::Result progress =
      session_.exec("SELECT pg_catalog.pg_replication_origin_session_progress(false)::text");
  if (progress.is_null(0, 0)) {
    throw Error(ErrorKind::kPrecondition,
                "target: replication origin " + config_.origin_name() +
                    " has no position; the initial copy has not completed (run snapshot)");
  }
  committed_ = *Lsn::parse(progress.get(0, 0));
  pipeline_ = std::make_unique<pg::Pipeline>(
      session_, config_.apply.pipeline_bytes, [this](uint64_t tag, uint64_t affected) {
        if (tag == 0 || affected > 0) return;
        const char op = static_cast<char>(tag & 0xff);
        auto it = relations_.find(static_cast<uint32_t>(tag >> 8));
        spdlog::warn("target: {} on {} matched no row; the target had diverged from the source",
                     op == 'U' ? "update" : "delete",
                     it != relations_.end() ? it->second->display : "?");
      });
}

ApplyLoop::~ApplyLoop() = default;

bool ApplyLoop::batch_full() const {
  return batch_transactions_ >= config_.apply.batch_transactions ||
         batch_bytes_ >= config_.apply.batch_bytes;
}

void ApplyLoop::handle(const pgoutput::Message& message) {
  std::visit(
      [this](const auto& decoded) {
        using T = std::decay_t<decltype(decoded)>;
        if constexpr (std::is_same_v<T, pgoutput::Begin>) on_begin(decoded);
        else if constexpr (std::is_same_v<T, pgoutput::Commit>) on_commit(decoded);
        else if constexpr (std::is_same_v<T, pgoutput::Relation>) on_relation(decoded);
        else if constexpr (std::is_same_v<T, pgoutput::Type>) {
          types_[decoded.type_oid] = {decoded.schema, decoded.name};
        } else if constexpr (std::is_same_v<T, pgoutput::Origin>) {
          // Changes that reached the source through replication themselves.
          // Nothing to filter yet: the forward stream has one origin.
        } else if (!skipping_) {
          if constexpr (std::is_same_v<T, pgoutput::Insert>) on_insert(decoded);
          else if constexpr (std::is_same_v<T, pgoutput::Update>) on_update(decoded);
          else if constexpr (std::is_same_v<T, pgoutput::Delete>) on_delete(decoded);
          else if constexpr (std::is_same_v<T, pgoutput::Truncate>) on_truncate(decoded);
        }
      },
      message);
}

void ApplyLoop::on_begin(const pgoutput::Begin& begin) {
  in_source_transaction_ = true;
  // The commit record of an applied transaction starts before the origin's
  // position (its end); any later transaction's starts at or after it.
  skipping_ = begin.final_lsn < committed_;
  if (skipping_) {
    spdlog::debug("skipping transaction {} committed at {}: already applied", begin.xid,
                  begin.final_lsn.to_string());
  }
}

void ApplyLoop::on_commit(const pgoutput::Commit& commit) {
  in_source_transaction_ = false;
  if (skipping_) {
    skipping_ = false;
    return;
  }
  ++batch_transactions_;
  batch_end_ = commit.end_lsn;
  batch_commit_time_us_ = commit.commit_time_us;
}

void ApplyLoop::ensure_target_transaction() {
  if (target_transaction_open_) return;
  pipeline_->command("BEGIN");
  target_transaction_open_ = true;
}

void ApplyLoop::commit_batch() {
  if (batch_transactions_ == 0) return;
  ensure_target_transaction();
  // pg_replication_origin_xact_setup ties the origin's advance to this commit.
  char setup[160];
  const double commit_seconds = static_cast<double>(batch_commit_time_us_) / 1e6 + 946684800.0;
  std::snprintf(setup, sizeof setup,
                "SELECT pg_catalog.pg_replication_origin_xact_setup('%s', "
                "pg_catalog.to_timestamp(%.6f))",
                batch_end_.to_string().c_str(), commit_seconds);
  pipeline_->command(setup);
  pipeline_->command("COMMIT");
  pipeline_->sync();
  target_transaction_open_ = false;
  committed_ = batch_end_;
  committed_time_us_ = batch_commit_time_us_;
  transactions_applied_ += static_cast<uint64_t>(batch_transactions_);
  batch_transactions_ = 0;
  batch_bytes_ = 0;
}

void ApplyLoop::rollback_batch() {
  if (target_transaction_open_) {
    pipeline_->command("ROLLBACK");
    pipeline_->sync();
    target_transaction_open_ = false;
  }
  batch_transactions_ = 0;
  batch_bytes_ = 0;
  in_source_transaction_ = false;
  skipping_ = false;
}

// ---- schema -----------------------------------------------------------

void ApplyLoop::on_relation(const pgoutput::Relation& relation) {
  auto state = std::make_unique<RelationState>();
  state->relation = relation;
  state->qualified = pg::qualified(relation.schema, relation.name);
  state->display = relation.schema + "." + relation.name;
  for (size_t column_idx = 0; column_idx < relation.columns.size(); ++column_idx) {
    if (relation.columns[column_idx].is_key) state->key_columns.push_back(column_idx);
  }
  check_target_columns(*state);
  relations_[relation.relation_id] = std::move(state);  // drops the old statements
}

// Schema drift: every source column must exist on the target with the same
// type; an extra target column must be fillable without us (nullable, a
// default, generated). Expand/contract keeps both true during a change.
void ApplyLoop::check_target_columns(RelationState& state) {
  pg::Result columns = catalog_.exec(
      "SELECT a.attname, a.atttypid, tn.nspname, t.typname, "
      "       pg_catalog.format_type(a.atttypid, a.atttypmod), "
      "       a.attnotnull AND NOT a.atthasdef AND a.attidentity = '', a.attgenerated <> '' "
      "  FROM pg_catalog.pg_attribute a "
      "  JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
      "  JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace "
      " WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
      {state.qualified});
  if (columns.rows() == 0) {
    throw Error(ErrorKind::kSchemaDrift,
                "schema drift: table " + state.display + " does not exist on the target");
  }
  std::set<std::string> source_names;
  for (const auto& column : state.relation.columns) {
    source_names.insert(column.name);
    int match = -1;
    for (int row = 0; row < columns.rows(); ++row) {
      if (columns.get(row, 0) == column.name) match = row;
    }
    if (match < 0) {
      throw Error(ErrorKind::kSchemaDrift,
                  "schema drift: column " + column.name + " of table " + state.display +
                      " exists on the source but not on the target; add it to the target first "
                      "(expand/contract, see README)");
    }
    if (columns.boolean(match, 6)) {
      throw Error(ErrorKind::kSchemaDrift, "schema drift: column " + column.name + " of table " +
                                               state.display +
                                               " is generated on the target but not on the source");
    }
    // pgoutput may describe a domain column by its base type: walk the
    // target column's domains down to the base until one level matches.
    const auto user_type = types_.find(column.type_oid);
    uint32_t level_oid = static_cast<uint32_t>(columns.int64(match, 1));
    bool same_type =
        column.type_oid >= kFirstUserOid && user_type == types_.end();  // unknown: trust
    for (int depth = 0; depth < 8 && level_oid != 0 && !same_type; ++depth) {
      pg::Result level = catalog_.exec(
          "SELECT n.nspname, t.typname, t.typbasetype FROM pg_catalog.pg_type t "
          "JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE t.oid = $1",
          {std::to_string(level_oid)});
      if (level.rows() == 0) break;
      same_type = level_oid == column.type_oid ||
                  (user_type != types_.end() && user_type->second.first == level.get(0, 0) &&
                   user_type->second.second == level.get(0, 1));
      level_oid = static_cast<uint32_t>(level.int64(0, 2));
    }
    if (!same_type) {
      throw Error(ErrorKind::kSchemaDrift, "schema drift: column " + column.name + " of table " +
                                               state.display + " has another type on the target (" +
                                               columns.str(match, 4) + ")");
    }
  }
  for (int row = 0; row < columns.rows(); ++row) {
    if (columns.boolean(row, 5) && !source_names.count(columns.str(row, 0))) {
      throw Error(ErrorKind::kSchemaDrift,
                  "schema drift: column " + columns.str(row, 0) + " of table " + state.display +
                      " is NOT NULL without a default on the target and missing on the source");
    }
  }
}

ApplyLoop::RelationState& ApplyLoop::relation(uint32_t relation_id) {
  auto it = relations_.find(relation_id);
  if (it == relations_.end()) {
    throw Error(ErrorKind::kDatabase, "pgoutput: change for relation " +
                                          std::to_string(relation_id) +
                                          " before its Relation message");
  }
  return *it->second;
}

// ---- statements -------------------------------------------------------

const std::string& ApplyLoop::statement(RelationState& state, const std::string& shape,
                                        const std::function<std::string()>& render) {
  auto it = state.statements.find(shape);
  if (it != state.statements.end()) return it->second;
  std::string name = "sy" + std::to_string(++statement_counter_);
  pipeline_->prepare(name, render());
  return state.statements.emplace(shape, std::move(name)).first->second;
}

void ApplyLoop::execute(const std::string& name, const std::vector<const Datum*>& params,
                        uint64_t tag) {
  values_.clear();
  lengths_.clear();
  for (const Datum* datum : params) {
    if (datum->kind == DatumKind::kNull) {
      values_.push_back(nullptr);
      lengths_.push_back(0);
    } else {
      values_.push_back(datum->bytes.c_str());
      lengths_.push_back(static_cast<int>(datum->bytes.size()));
      batch_bytes_ += datum->bytes.size();
    }
  }
  pipeline_->execute(name, values_, lengths_, tag);
}

// The row a change applies to. Key identity: key = $n. REPLICA IDENTITY
// FULL: the first row equal in every sent column (duplicates may exist;
// exactly one changes, as on the source). key_params collects the values
// and appends the condition's shape ('k' sent, 'u' unchanged TOAST, which
// cannot be compared); where_sql renders a shape once per prepared statement.
void ApplyLoop::key_params(const RelationState& state, const Tuple& key_tuple, bool full_identity,
                           std::vector<const Datum*>& params, std::string& shape) const {
  auto add = [&](size_t column_idx) {
    const Datum& datum = key_tuple[column_idx];
    if (datum.kind == DatumKind::kUnchanged) {
      shape += 'u';
    } else {
      shape += 'k';
      params.push_back(&datum);
    }
  };
  if (full_identity) {
    for (size_t column_idx = 0; column_idx < key_tuple.size(); ++column_idx) add(column_idx);
  } else {
    for (size_t column_idx : state.key_columns) add(column_idx);
  }
}

std::string ApplyLoop::where_sql(const RelationState& state, std::string_view key_shape,
                                 bool full_identity, int first_param) const {
  const auto& columns = state.relation.columns;
  std::string condition;
  int param = first_param;
  for (size_t shape_idx = 0; shape_idx < key_shape.size(); ++shape_idx) {
    if (key_shape[shape_idx] != 'k') continue;
    const size_t column_idx = full_identity ? shape_idx : state.key_columns[shape_idx];
    if (!condition.empty()) condition += " AND ";
    const std::string column = pg::quote_ident(columns[column_idx].name);
    const std::string value = "$" + std::to_string(param++);
    if (!full_identity) {
      condition += column + " = " + value;
    } else if (compare_as_text(columns[column_idx].type_oid)) {
      condition += column + "::text IS NOT DISTINCT FROM " + value + "::text";
    } else {
      condition += column + " IS NOT DISTINCT FROM " + value;
    }
  }
  if (!full_identity) return " WHERE " + condition;
  return " WHERE ctid = (SELECT ctid FROM " + state.qualified + " WHERE " + condition + " LIMIT 1)";
}

void ApplyLoop::on_insert(const pgoutput::Insert& insert) {
  RelationState& state = relation(insert.relation_id);
  const auto& columns = state.relation.columns;
  if (insert.new_tuple.size() != columns.size()) {
    throw Error(ErrorKind::kDatabase,
                "pgoutput: insert into " + state.display + " has the wrong number of columns");
  }
  ensure_target_transaction();
  std::vector<const Datum*> params;
  params.reserve(columns.size());
  for (const Datum& datum : insert.new_tuple) params.push_back(&datum);
  const std::string& name = statement(state, "I", [&] {
    std::vector<std::string> names;
    std::string values;
    for (size_t column_idx = 0; column_idx < columns.size(); ++column_idx) {
      names.push_back(columns[column_idx].name);
      values += (column_idx ? ", $" : "$") + std::to_string(column_idx + 1);
    }
    return "INSERT INTO " + state.qualified + " (" + pg::ident_list(names) + ") VALUES (" + values +
           ")";
  });
  execute(name, params, 0);
}

void ApplyLoop::on_update(const pgoutput::Update& update) {
  RelationState& state = relation(update.relation_id);
  const auto& columns = state.relation.columns;
  if (update.new_tuple.size() != columns.size()) {
    throw Error(ErrorKind::kDatabase,
                "pgoutput: update of " + state.display + " has the wrong number of columns");
  }
  ensure_target_transaction();
  std::vector<const Datum*> params;
  params.reserve(columns.size() * 2);
  std::string shape = "U";
  for (const Datum& datum : update.new_tuple) {
    // An unchanged TOASTed value is not sent: leave the target's in place.
    if (datum.kind == DatumKind::kUnchanged) {
      shape += 'u';
    } else {
      shape += 's';
      params.push_back(&datum);
    }
  }
  const size_t set_count = params.size();
  if (set_count == 0) return;  // nothing but unchanged TOAST: no visible change
  const bool full = update.old_kind == 'O';
  const Tuple& key_tuple = update.old_kind ? update.old_tuple : update.new_tuple;
  shape += full ? "|F" : "|K";
  const size_t key_shape_at = shape.size();
  key_params(state, key_tuple, full, params, shape);
  const std::string& name = statement(state, shape, [&] {
    std::string set;
    int param = 0;
    for (size_t column_idx = 0; column_idx < columns.size(); ++column_idx) {
      if (shape[1 + column_idx] != 's') continue;
      if (!set.empty()) set += ", ";
      set += pg::quote_ident(columns[column_idx].name) + " = $" + std::to_string(++param);
    }
    return "UPDATE " + state.qualified + " SET " + set +
           where_sql(state, std::string_view(shape).substr(key_shape_at), full, param + 1);
  });
  execute(name, params, statement_tag(update.relation_id, 'U'));
}

void ApplyLoop::on_delete(const pgoutput::Delete& del) {
  RelationState& state = relation(del.relation_id);
  ensure_target_transaction();
  std::vector<const Datum*> params;
  const bool full = del.old_kind == 'O';
  std::string shape = full ? "D|F" : "D|K";
  key_params(state, del.old_tuple, full, params, shape);
  const std::string& name = statement(state, shape, [&] {
    return "DELETE FROM " + state.qualified +
           where_sql(state, std::string_view(shape).substr(3), full, 1);
  });
  execute(name, params, statement_tag(del.relation_id, 'D'));
}

void ApplyLoop::on_truncate(const pgoutput::Truncate& truncate) {
  ensure_target_transaction();
  std::string sql = "TRUNCATE ";
  for (size_t idx = 0; idx < truncate.relation_ids.size(); ++idx) {
    sql += (idx ? ", " : "") + relation(truncate.relation_ids[idx]).qualified;
  }
  if (truncate.options & pgoutput::Truncate::kRestartIdentity) sql += " RESTART IDENTITY";
  if (truncate.options & pgoutput::Truncate::kCascade) sql += " CASCADE";
  pipeline_->command(sql);
}

}  // namespace switchyard
