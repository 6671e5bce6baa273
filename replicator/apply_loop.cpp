#include "replicator/apply_loop.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>

#include "common/error.h"
#include "common/log.h"
#include "common/metrics.h"
#include "control/control_schema.h"
#include "drivers/pg/sql.h"
#include "replicator/apply_statements.h"
#include "replicator/changed_keys.h"
#include "replicator/row_run.h"
#include "replicator/table_sync.h"
#include "replicator/target_table.h"

namespace switchyard {
namespace {

// A batch ends at the next commit once it has marked this many keys: many
// small transactions (a loader) never reach kMaxKeysPerBatch together, and
// only a single transaction larger than that makes a whole-table mark.
constexpr uint64_t kKeysToEndBatch = 20'000;

// While a cutover prepares, a batch also ends at the first commit after it
// has been open this long. Under a steady load the feed never runs dry, and
// a batch of apply.batch_transactions held most of a second of changes
// unseen by the cutover's rounds, for its gate to compare with writes
// frozen (and its drain to apply). Not much shorter: every commit costs
// the stream a round trip, and a stream that falls behind helps no one.
constexpr auto kBatchAgeWhileExact = std::chrono::milliseconds(100);

// Types without a usable '=' (json, xml, geometric): REPLICA IDENTITY FULL
// matches them by their text form instead.
bool compare_as_text(uint32_t type_oid) {
  static const std::set<uint32_t> kTypes{114, 199, 142,  143,  600,  601,  602,  603, 604,
                                         628, 718, 1017, 1018, 1019, 1020, 1027, 629, 719};
  return kTypes.count(type_oid) > 0;
}

// A statement's tag: relation, operation and how many rows it carries, so a
// completed UPDATE or DELETE that matched fewer rows can be reported.
uint64_t statement_tag(uint32_t relation_id, char op, size_t rows) {
  return (uint64_t{relation_id} << 32) | (uint64_t{static_cast<unsigned char>(op)} << 24) |
         (rows & 0xffffff);
}

// A row's values for a text[] literal (append_image_literal): null for NULL.
std::vector<const std::string*> row_texts(const Tuple& row) {
  std::vector<const std::string*> texts;
  texts.reserve(row.size());
  for (const Datum& datum : row) {
    texts.push_back(datum.kind == DatumKind::kNull ? nullptr : &datum.bytes);
  }
  return texts;
}

size_t tuple_bytes(const Tuple& tuple) {
  size_t bytes = 0;
  for (const Datum& datum : tuple) bytes += datum.bytes.size() + 8;
  return bytes;
}

// Rows are buffered to send them as multi-row statements, and a run of
// 256 rows fills the largest; beyond that, buffering buys little. Held to
// this much memory, whatever apply.batch_bytes says (that bounds how much
// change data one target transaction commits, not what waits here).
constexpr size_t kMaxBufferedMemory = 8u << 20;

}  // namespace

struct ApplyLoop::RelationState {
  uint32_t id = 0;
  char replica_identity = 'd';
  TableShape shape;
  std::string schema, name;  // as on the source
  std::string display;       // schema.name, for messages
  // Key identity and no other unique index on the target: updates and
  // deletes are buffered into runs too (inserts always are). Otherwise each
  // is applied in source order.
  bool batched = false;
  std::unordered_map<std::string, std::string> statements;  // shape -> prepared name

  // The current run of same-kind changes, not yet sent.
  RowRun run;

  // The columns verify identifies rows by (the target's primary key, or
  // replica identity index), as indexes into the source columns; empty when
  // there are none. And the rows this batch changed, by them.
  std::vector<size_t> verify_key;
  ChangedKeys changed;
  // Added while streaming: transactions committed before this are in its copy.
  Lsn synced_from;
  // No key, REPLICA IDENTITY FULL: while a cutover prepares, the rows
  // written are logged (switchyard.keyless_images). Rows inserted in this
  // batch wait here: their commit positions and a text[] literal body.
  bool log_images = false;
  std::string inserted_lsns;
  std::string inserted_images;
};

ApplyLoop::ApplyLoop(const Config& config, pg::Connection& catalog)
    : config_(config), catalog_(catalog), session_(config.target.conninfo, config.target.name) {
  // Type names rendered by the catalog session must resolve in the apply
  // session: both see only pg_catalog, so user types come out qualified.
  catalog_.exec("SET search_path = pg_catalog");
  control::ensure_schema(catalog_);  // adds tables a newer release introduced
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
  // A cutover already preparing: log from the first batch (the last
  // process's log ends where its commits did, so the log stays whole).
  refresh_request(/*between_batches=*/true);
  pipeline_ = std::make_unique<pg::Pipeline>(
      session_, config_.apply.pipeline_bytes, [this](uint64_t tag, uint64_t affected) {
        const char op = static_cast<char>((tag >> 24) & 0xff);
        const uint64_t rows = tag & 0xffffff;
        if ((op != 'U' && op != 'D') || affected >= rows) return;
        auto it = relations_.find(static_cast<uint32_t>(tag >> 32));
        if (it != relations_.end() && it->second->shape.upsert) return;  // a replayed change
        spdlog::warn("target: {} of {} {} on {} matched no row; the target had diverged",
                     rows - affected, rows, op == 'U' ? "updates" : "deletes",
                     it != relations_.end() ? it->second->display : "?");
      });
}

ApplyLoop::~ApplyLoop() = default;

bool ApplyLoop::batch_full() const {
  return batch_transactions_ >= config_.apply.batch_transactions ||
         batch_bytes_ >= config_.apply.batch_bytes || batch_marked_keys_ >= kKeysToEndBatch ||
         (exact_marks_ && std::chrono::steady_clock::now() - batch_opened_ >= kBatchAgeWhileExact);
}

void ApplyLoop::handle(change::Message&& message) {
  std::visit(
      [this](auto&& decoded) {
        using T = std::decay_t<decltype(decoded)>;
        if constexpr (std::is_same_v<T, change::Begin>) {
          on_begin(decoded);
        } else if constexpr (std::is_same_v<T, change::Commit>) {
          on_commit(decoded);
        } else if constexpr (std::is_same_v<T, change::Relation>) {
          on_relation(std::move(decoded));
        } else if constexpr (std::is_same_v<T, change::Type>) {
          types_[decoded.type_oid] = {decoded.schema, decoded.name};
        } else if constexpr (std::is_same_v<T, change::Origin>) {
          on_origin(decoded);
        } else if constexpr (std::is_same_v<T, change::LogicalMessage>) {
          on_message(decoded);
        } else if (!skipping_) {
          if constexpr (std::is_same_v<T, change::Insert>) on_insert(std::move(decoded));
          if constexpr (std::is_same_v<T, change::Update>) on_update(std::move(decoded));
          if constexpr (std::is_same_v<T, change::Delete>) on_delete(std::move(decoded));
          if constexpr (std::is_same_v<T, change::Truncate>) on_truncate(decoded);
        }
      },
      std::move(message));
}

// ---- transactions -----------------------------------------------------

void ApplyLoop::on_begin(const change::Begin& begin) {
  in_source_transaction_ = true;
  transaction_commit_lsn_ = begin.final_lsn;
  // The commit record of an applied transaction starts before the origin's
  // position (its end); any later transaction's starts at or after it.
  skipping_ = begin.final_lsn < committed_;
  if (skipping_) {
    spdlog::debug("skipping transaction {} committed at {}: already applied", begin.xid,
                  begin.final_lsn.to_string());
  }
}

void ApplyLoop::on_commit(const change::Commit& commit) {
  in_source_transaction_ = false;
  if (skipping_) {
    skipping_ = false;
    return;
  }
  if (batch_transactions_++ == 0) batch_opened_ = std::chrono::steady_clock::now();
  batch_end_ = commit.end_lsn;
  batch_commit_time_us_ = commit.commit_time_us;
}

// A transaction that reached the source through our own stream in the
// other direction (the reverse stream writes under an origin of the same
// name) is not sent back: that is the loop protection that lets both
// directions exist around a cutover. Other origins (the source may itself
// subscribe to something) are ordinary changes.
void ApplyLoop::on_origin(const change::Origin& origin) {
  if (origin.name != config_.origin_name() || skipping_) return;
  skipping_ = true;
  spdlog::debug("skipping transaction committed at {}: it came from this stream's other direction",
                origin.commit_lsn.to_string());
}

// Cutover's drain marker (see cutover/switchover.cpp): a transactional
// message emitted on the frozen source. Its transaction has no rows, so the
// batch gets a write of its own; that gives the target transaction an xid,
// and the origin advances past the marker at commit.
void ApplyLoop::on_message(const change::LogicalMessage& message) {
  if (skipping_ || !message.transactional || message.prefix != kDrainMarkerPrefix) return;
  spdlog::debug("drain marker at {}", message.lsn.to_string());
  marker_in_batch_ = true;
}

void ApplyLoop::ensure_target_transaction() {
  if (target_transaction_open_) return;
  pipeline_->command("BEGIN");
  target_transaction_open_ = true;
}

void ApplyLoop::commit_batch() {
  if (batch_transactions_ == 0) return;
  flush_all();
  ensure_target_transaction();
  write_images();
  write_dirty_marks();
  if (marker_in_batch_) {
    pipeline_->command(
        "UPDATE switchyard.streams SET applied_lsn = " + pg::quote_literal(batch_end_.to_string()) +
        ", reported_at = pg_catalog.now() WHERE name = " + pg::quote_literal(config_.name));
    marker_in_batch_ = false;
  }
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
  changes_applied_ += batch_changes_;
  metrics::StreamMetrics& counted = metrics::stream();
  counted.transactions_applied.Increment(static_cast<double>(batch_transactions_));
  counted.inserts.Increment(static_cast<double>(batch_inserts_));
  counted.updates.Increment(static_cast<double>(batch_updates_));
  counted.deletes.Increment(static_cast<double>(batch_deletes_));
  partitions_in_batch_.clear();
  batch_transactions_ = 0;
  batch_changes_ = batch_inserts_ = batch_updates_ = batch_deletes_ = 0;
  batch_bytes_ = 0;
  batch_marked_keys_ = 0;
}

void ApplyLoop::rollback_batch() {
  for (auto& [id, state] : relations_) {
    state->changed.clear_batch();
    state->run.clear();
    state->inserted_lsns.clear();
    state->inserted_images.clear();
  }
  buffered_bytes_ = 0;
  marker_in_batch_ = false;
  if (target_transaction_open_) {
    pipeline_->command("ROLLBACK");
    pipeline_->sync();
    target_transaction_open_ = false;
  }
  batch_transactions_ = 0;
  batch_changes_ = batch_inserts_ = batch_updates_ = batch_deletes_ = 0;
  batch_bytes_ = 0;
  batch_marked_keys_ = 0;
  in_source_transaction_ = false;
  skipping_ = false;
  partitions_in_batch_.clear();
}

// ---- schema -----------------------------------------------------------

void ApplyLoop::on_relation(change::Relation&& relation) {
  // Statements already buffered were built for the old definition.
  if (auto it = relations_.find(relation.relation_id); it != relations_.end()) flush(*it->second);
  // A name the stream does not carry: a partition of one of its tables, or
  // a table renamed on the source (asked once per Relation message).
  if (!config_.source.odbc() && !stream_table(relation.schema, relation.name) &&
      (partition_of_stream_table(relation) || renamed_into_selection(relation))) {
    return;
  }
  auto state = std::make_unique<RelationState>();
  state->id = relation.relation_id;
  state->replica_identity = relation.replica_identity;
  state->shape.qualified = pg::qualified(relation.schema, relation.name);
  state->shape.upsert = relation.idempotent;
  state->schema = relation.schema;
  state->name = relation.name;
  state->display = relation.schema + "." + relation.name;
  for (size_t column_idx = 0; column_idx < relation.columns.size(); ++column_idx) {
    const auto& column = relation.columns[column_idx];
    state->shape.columns.push_back(column.name);
    state->shape.compare_as_text.push_back(compare_as_text(column.type_oid));
    if (column.is_key) state->shape.key_columns.push_back(column_idx);
  }
  check_target_table(*state, relation);
  pg::Result synced = catalog_.exec(
      "SELECT synced_from_lsn::text FROM switchyard.tables "
      "WHERE stream = $1 AND schema_name = $2 AND table_name = $3 AND synced_from_lsn IS NOT NULL",
      {config_.name, relation.schema, relation.name});
  if (synced.rows() > 0) state->synced_from = Lsn::parse(synced.get(0, 0)).value_or(Lsn{});
  if (auto it = relations_.find(relation.relation_id); it != relations_.end()) {
    // Keys marked earlier in this batch still need writing.
    RelationState& previous = *it->second;
    state->changed.carry_from(std::move(previous.changed),
                              previous.verify_key == state->verify_key);
    state->inserted_lsns = std::move(previous.inserted_lsns);
    state->inserted_images = std::move(previous.inserted_images);
    // The feed (pgoutput) sends a table's Relation again after any invalidation of it
    // (VACUUM, ANALYZE, a DDL elsewhere on it): the same shape keeps its
    // statements; another frees them, or they would pile up for weeks.
    if (previous.shape == state->shape) {
      state->statements = std::move(previous.statements);
    } else {
      for (const auto& [shape, name] : previous.statements) {
        pipeline_->command("DEALLOCATE " + name);
        --prepared_statements_;
      }
    }
  }
  relations_[relation.relation_id] = std::move(state);
}

// The feed publishes a partition's changes as its root's (the publication
// has publish_via_partition_root), but sends the partition's own Relation
// message beside the root's, and no change names it. Such a partition needs
// no plan, only to exist on the target for the root's rows to land in. One
// created on the source since init (next month's) is created there too, with
// any partitioned level above it, in the batch, ahead of the rows it takes.
// (Rows a table held before it was ATTACHed were never changes: verify finds
// them missing, and --repair or recopy of the root brings them.)
bool ApplyLoop::stream_table(const std::string& schema, const std::string& name) {
  return catalog_
      .exec(
          "SELECT EXISTS (SELECT FROM switchyard.tables "
          "WHERE stream = $1 AND schema_name = $2 AND table_name = $3)",
          {config_.name, schema, name})
      .boolean(0, 0);
}

bool ApplyLoop::partition_of_stream_table(const change::Relation& relation) {
  const std::string qualified = pg::qualified(relation.schema, relation.name);
  pg::Result on_target = catalog_.exec(
      "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c "
      "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
      " WHERE c.oid = pg_catalog.pg_partition_root(pg_catalog.to_regclass($1)) "
      "   AND pg_catalog.to_regclass($1) <> c.oid",
      {qualified});
  if (on_target.rows() > 0) return stream_table(on_target.str(0, 0), on_target.str(0, 1));

  // Not on the target: its levels on the source, itself first, up to (not
  // including) the root.
  pg::Connection source(config_.source.conninfo, config_.source.name);
  pg::Result levels = source.exec(
      "SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname), "
      "       pg_catalog.quote_ident(pn.nspname) || '.' || pg_catalog.quote_ident(p.relname), "
      "       pg_catalog.pg_get_expr(c.relpartbound, c.oid), "
      "       CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END, "
      "       rn.nspname, r.relname "
      "  FROM pg_catalog.pg_partition_ancestors(pg_catalog.to_regclass($1)) WITH ORDINALITY a "
      "  JOIN pg_catalog.pg_class c ON c.oid = a.relid "
      "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
      "  JOIN pg_catalog.pg_inherits i ON i.inhrelid = c.oid "
      "  JOIN pg_catalog.pg_class p ON p.oid = i.inhparent "
      "  JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace "
      "  JOIN pg_catalog.pg_class r "
      "    ON r.oid = pg_catalog.pg_partition_root(pg_catalog.to_regclass($1)) "
      "  JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace "
      " ORDER BY a.ordinality DESC",
      {qualified});
  if (levels.rows() == 0 || !stream_table(levels.str(0, 4), levels.str(0, 5))) return false;
  ensure_target_transaction();
  for (int level = 0; level < levels.rows(); ++level) {
    const std::string name = levels.str(level, 0);
    if (partitions_in_batch_.count(name) ||
        !catalog_.exec("SELECT pg_catalog.to_regclass($1)", {name}).is_null(0, 0)) {
      continue;
    }
    std::string sql = "CREATE TABLE " + name + " PARTITION OF " + levels.str(level, 1) + " " +
                      levels.str(level, 2);
    if (!levels.is_null(level, 3)) sql += " PARTITION BY " + levels.str(level, 3);
    spdlog::info("target: creating partition {} of {}, new on the source", name,
                 levels.str(level, 1));
    pipeline_->command(sql);
    partitions_in_batch_.insert(name);
  }
  return true;
}

// A table the publication sends under a name the stream does not carry:
// renamed on the source since replicate's last table check (every 5 s). If
// tables.include selects the new name, that check follows it (the target's
// table renamed too, replicator/table_sync.h) once no batch holds the table:
// the session ends at this message, the source transaction unapplied, for
// replicate to run the check and stream on. Otherwise the drift check names
// the table.
bool ApplyLoop::renamed_into_selection(const change::Relation& relation) {
  if (control::read_direction(catalog_, config_.name) != control::Direction::kForward) {
    return false;
  }
  pg::Connection source(config_.source.conninfo, config_.source.name);
  const NewTables found = find_new_tables(source, catalog_, config_, /*streaming=*/true);
  const std::string display = relation.schema + "." + relation.name;
  if (std::none_of(found.to_add.begin(), found.to_add.end(),
                   [&](const SourceTable& table) { return table.display_name() == display; }) &&
      std::find(found.renamed.begin(), found.renamed.end(), display) == found.renamed.end()) {
    return false;
  }
  spdlog::info(
      "{} is not in the stream under this name (renamed on the source?); taking it in before "
      "applying on",
      display);
  relations_.erase(relation.relation_id);
  table_to_take_in_ = true;
  return true;
}

// Schema drift is refused (replicator/target_table.h); the target's
// definition decides how the table's changes are written.
void ApplyLoop::check_target_table(RelationState& state, const change::Relation& relation) {
  const TargetTable target = read_target_table(catalog_, state.shape.qualified, relation, types_);
  TargetPlan plan = plan_target(state.display, relation, state.shape.key_columns, target);
  state.shape.types = std::move(plan.types);
  state.shape.identity_always = std::move(plan.identity_always);
  state.batched = plan.batched;
  state.verify_key = std::move(plan.verify_key);
  // An integer key is marked by runs of values (replicator/changed_keys.h).
  const std::string key_type =
      state.verify_key.size() == 1 ? state.shape.types[state.verify_key[0]] : std::string();
  const bool integer_key = key_type == "smallint" || key_type == "integer" || key_type == "bigint";
  state.changed = ChangedKeys(state.verify_key.size(), integer_key);
  state.log_images = state.verify_key.empty() && relation.replica_identity == 'f';
}

ApplyLoop::RelationState& ApplyLoop::relation(uint32_t relation_id) {
  auto it = relations_.find(relation_id);
  if (it == relations_.end()) {
    throw Error(ErrorKind::kDatabase, "change feed: change for relation " +
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
  ++prepared_statements_;
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
    }
  }
  pipeline_->execute(name, values_, lengths_, tag);
}

// ---- runs -------------------------------------------------------------

void ApplyLoop::buffer_row(RelationState& state, char kind, Tuple&& row) {
  if (state.run.kind() != kind) flush(state);
  batch_bytes_ += tuple_bytes(row);
  buffered_bytes_ += state.run.add(kind, std::move(row), state.shape);
  // A very large source transaction is sent in pieces; it still commits once.
  if (buffered_bytes_ >= std::min<uint64_t>(config_.apply.batch_bytes, kMaxBufferedMemory)) {
    flush_all();
  }
}

void ApplyLoop::flush_all() {
  for (auto& [id, state] : relations_) flush(*state);
}

void ApplyLoop::flush(RelationState& state) {
  if (state.run.empty()) return;
  ensure_target_transaction();
  const char op = state.run.kind();
  state.run.for_each_statement(state.shape, [&](const RowRun::Statement& run_statement) {
    const auto& name = statement(state, run_statement.shape, run_statement.sql);
    execute(name, run_statement.params, statement_tag(state.id, op, run_statement.rows));
  });
  buffered_bytes_ -= state.run.memory();
  state.run.clear();
}

// ---- changes ----------------------------------------------------------

// A table added while streaming holds, from its copy, every transaction
// committed before the copy's consistent point (replicator/table_sync.h).
bool ApplyLoop::in_copy(const RelationState& state) const {
  return transaction_commit_lsn_ < state.synced_from;
}

void ApplyLoop::on_insert(change::Insert&& insert) {
  RelationState& state = relation(insert.relation_id);
  if (in_copy(state)) return;
  ++batch_changes_;
  ++batch_inserts_;
  if (insert.new_tuple.size() != state.shape.columns.size()) {
    throw Error(ErrorKind::kDatabase,
                "change feed: insert into " + state.display + " has the wrong number of columns");
  }
  mark_dirty(state, insert.new_tuple);
  if (logging(state)) log_inserted(state, insert.new_tuple);
  // Inserts are buffered into runs for every table, with a key or not,
  // with other unique indexes or not: rows inserted one after another
  // coexisted on the source, so one multi-row INSERT is what they were. An
  // update or delete of the table flushes the run first (order within the
  // table is kept), and so does any change of kind.
  buffer_row(state, 'I', std::move(insert.new_tuple));
}

void ApplyLoop::on_update(change::Update&& update) {
  RelationState& state = relation(update.relation_id);
  if (in_copy(state)) return;
  ++batch_changes_;
  ++batch_updates_;
  if (update.new_tuple.size() != state.shape.columns.size()) {
    throw Error(ErrorKind::kDatabase,
                "change feed: update of " + state.display + " has the wrong number of columns");
  }
  for (size_t column_idx : state.shape.key_columns) {
    if (update.new_tuple[column_idx].kind == DatumKind::kUnchanged && update.old_kind == 0) {
      throw Error(ErrorKind::kDatabase, "change feed: update of " + state.display +
                                            " without its key value (unchanged TOAST)");
    }
  }
  mark_dirty(state, update.new_tuple);
  if (update.old_kind != 0) mark_dirty(state, update.old_tuple);
  // An old tuple means the key changed (or REPLICA IDENTITY FULL): the
  // change must keep its exact place among this table's changes.
  if (!state.batched || update.old_kind != 0) {
    flush(state);
    update_one(state, update);
    return;
  }
  buffer_row(state, 'U', std::move(update.new_tuple));
}

void ApplyLoop::on_delete(change::Delete&& del) {
  RelationState& state = relation(del.relation_id);
  if (in_copy(state)) return;
  ++batch_changes_;
  ++batch_deletes_;
  mark_dirty(state, del.old_tuple);
  if (!state.batched || del.old_kind != 'K') {
    flush(state);
    delete_one(state, del);
    return;
  }
  buffer_row(state, 'D', std::move(del.old_tuple));
}

// Appends the values that identify one row to params_ (the key columns, or
// every column under REPLICA IDENTITY FULL) and returns their mask: 'k'
// for a value sent, 'u' for an unchanged TOASTed one, which cannot be
// compared and is left out of the match.
std::string ApplyLoop::add_key_params(const RelationState& state, const Tuple& key_tuple,
                                      bool full_identity) {
  std::string key_mask;
  auto add = [&](size_t column_idx) {
    const bool sent = key_tuple[column_idx].kind != DatumKind::kUnchanged;
    key_mask += sent ? 'k' : 'u';
    if (sent) params_.push_back(&key_tuple[column_idx]);
  };
  if (full_identity) {
    for (size_t column_idx = 0; column_idx < key_tuple.size(); ++column_idx) add(column_idx);
  } else {
    for (size_t column_idx : state.shape.key_columns) add(column_idx);
  }
  return key_mask;
}

// Whether an update leaves every GENERATED ALWAYS identity value as it was
// (then it is not SET: no UPDATE may). Known when the column is in the key
// and the key is unchanged, or when the old row carries it.
bool ApplyLoop::identity_unchanged(const RelationState& state, const change::Update& update) {
  const TableShape& shape = state.shape;
  for (size_t column_idx = 0; column_idx < shape.identity_always.size(); ++column_idx) {
    if (!shape.identity_always[column_idx]) continue;
    const bool in_key = std::find(shape.key_columns.begin(), shape.key_columns.end(), column_idx) !=
                        shape.key_columns.end();
    if (update.old_kind == 0 && in_key) continue;
    const bool old_sent = update.old_kind == 'O' || (update.old_kind == 'K' && in_key);
    if (!old_sent || update.old_tuple[column_idx].kind != update.new_tuple[column_idx].kind ||
        update.old_tuple[column_idx].bytes != update.new_tuple[column_idx].bytes) {
      return false;
    }
  }
  return true;
}

void ApplyLoop::update_one(RelationState& state, const change::Update& update) {
  const TableShape& shape = state.shape;
  ensure_target_transaction();
  params_.clear();
  const bool replace = shape.has_identity_always() && !identity_unchanged(state, update);
  std::string set_mask(shape.columns.size(), 's');
  for (size_t column_idx = 0; column_idx < set_mask.size(); ++column_idx) {
    // An unchanged TOASTed value is not sent: leave the target's in place.
    // Nor is an identity value that stays as it is.
    if (update.new_tuple[column_idx].kind == DatumKind::kUnchanged) {
      set_mask[column_idx] = 'u';
    } else if (!replace && shape.identity_always[column_idx]) {
      set_mask[column_idx] = 'i';
    } else {
      params_.push_back(&update.new_tuple[column_idx]);
    }
  }
  if (params_.empty()) return;  // nothing but unchanged TOAST: no visible change
  const bool full = update.old_kind == 'O';
  const std::string key_mask =
      add_key_params(state, update.old_kind ? update.old_tuple : update.new_tuple, full);
  batch_bytes_ += tuple_bytes(update.new_tuple);
  if (replace) {
    const auto& name = statement(state, "R1" + set_mask + (full ? "|F" : "|K") + key_mask,
                                 [&] { return replace_one_sql(shape, set_mask, key_mask, full); });
    execute(name, params_, statement_tag(state.id, 'U', 1));
    // The row log (tables without a key) cannot describe a replaced row:
    // the cutover then refuses to prove that table by its log.
    if (logging(state)) log_unapplied(state);
    return;
  }
  if (logging(state) && full) {
    // The row removed and the row added; the new image takes an unchanged
    // TOASTed value from the old one, which REPLICA IDENTITY FULL sends whole.
    const auto old_row = row_texts(update.old_tuple);
    auto new_row = row_texts(update.new_tuple);
    for (size_t column_idx = 0; column_idx < new_row.size(); ++column_idx) {
      if (update.new_tuple[column_idx].kind == DatumKind::kUnchanged) {
        new_row[column_idx] = old_row[column_idx];
      }
    }
    std::vector<Datum> log = logged_change_params(state);
    log.resize(6, {DatumKind::kText, {}});
    append_image_literal(log[4].bytes, old_row);
    append_image_literal(log[5].bytes, new_row);
    for (const Datum& datum : log) params_.push_back(&datum);
    const auto& name = statement(state, "U1" + set_mask + "|L" + key_mask,
                                 [&] { return logged_update_one_sql(shape, set_mask, key_mask); });
    execute(name, params_, 0);  // a miss is logged as a 0, for the cutover to see
    return;
  }
  const auto& name = statement(state, "U1" + set_mask + (full ? "|F" : "|K") + key_mask,
                               [&] { return update_one_sql(shape, set_mask, key_mask, full); });
  execute(name, params_, statement_tag(state.id, 'U', 1));
  if (logging(state)) log_unapplied(state);
}

void ApplyLoop::delete_one(RelationState& state, const change::Delete& del) {
  const TableShape& shape = state.shape;
  ensure_target_transaction();
  params_.clear();
  const bool full = del.old_kind == 'O';
  const std::string key_mask = add_key_params(state, del.old_tuple, full);
  batch_bytes_ += tuple_bytes(del.old_tuple);
  if (logging(state) && full) {
    std::vector<Datum> log = logged_change_params(state);
    log.resize(5, {DatumKind::kText, {}});
    append_image_literal(log[4].bytes, row_texts(del.old_tuple));
    for (const Datum& datum : log) params_.push_back(&datum);
    const auto& name =
        statement(state, "D1L" + key_mask, [&] { return logged_delete_one_sql(shape, key_mask); });
    execute(name, params_, 0);  // a miss is logged as a 0, for the cutover to see
    return;
  }
  const auto& name = statement(state, std::string("D1") + (full ? "F" : "K") + key_mask,
                               [&] { return delete_one_sql(shape, key_mask, full); });
  execute(name, params_, statement_tag(state.id, 'D', 1));
  if (logging(state)) log_unapplied(state);
}

void ApplyLoop::on_truncate(const change::Truncate& truncate) {
  flush_all();
  ensure_target_transaction();
  std::string list;
  for (uint32_t relation_id : truncate.relation_ids) {
    RelationState& state = relation(relation_id);
    if (in_copy(state)) continue;
    state.changed.mark_whole();
    if (logging(state)) log_unapplied(state);
    list += (list.empty() ? "" : ", ") + state.shape.qualified;
  }
  if (list.empty()) return;
  std::string sql = "TRUNCATE " + list;
  if (truncate.options & change::Truncate::kRestartIdentity) sql += " RESTART IDENTITY";
  if (truncate.options & change::Truncate::kCascade) sql += " CASCADE";
  pipeline_->command(sql);
}

// ---- dirty keys ---------------------------------------------------------

namespace {

constexpr auto kExactMarksCheckInterval = std::chrono::milliseconds(250);

}  // namespace

// Notes that the row `tuple` identifies changed in this batch
// (replicator/changed_keys.h).
void ApplyLoop::mark_dirty(RelationState& state, const Tuple& tuple) {
  key_scratch_.clear();
  for (size_t column_idx : state.verify_key) {
    const Datum& datum = tuple[column_idx];
    key_scratch_.push_back(datum.kind == DatumKind::kText ? &datum.bytes : nullptr);
  }
  switch (state.changed.mark(key_scratch_, exact_marks_)) {
    case ChangedKeys::Marked::kNew:
      ++batch_marked_keys_;
      break;
    case ChangedKeys::Marked::kWholeMode:
      spdlog::info(
          "{}: more than {} keys changed in one batch; marking the table as a whole until "
          "verify's next full pass",
          state.display, ChangedKeys::kMaxKeysPerBatch);
      break;
    default:
      break;
  }
}

// Every 30 s, on the catalog session: too many keys waiting for verify
// switch the table to whole-table marks; once a full pass has cleared the
// whole-table mark, keys are marked one by one again.
void ApplyLoop::check_dirty_mode(RelationState& state) {
  if (exact_marks_) {
    if (state.changed.set_exact(true) == ChangedKeys::Mode::kLeftWhole) {
      spdlog::info("{}: a cutover is preparing; marking changed keys one by one", state.display);
    }
    return;
  }
  if (!state.changed.review_due(std::chrono::steady_clock::now())) return;
  pg::Result waiting = catalog_.exec(
      std::string("SELECT ") + control::kDirtyMarkCount +
          ", (SELECT reltuples FROM pg_catalog.pg_class "
          "         WHERE oid = pg_catalog.to_regclass($4)) "
          "  FROM switchyard.dirty_keys WHERE stream = $1 AND schema_name = $2 AND table_name = $3",
      {config_.name, state.schema, state.name, state.shape.qualified});
  const auto keys = static_cast<uint64_t>(waiting.int64(0, 0));
  const uint64_t limit = control::dirty_key_limit(
      waiting.is_null(0, 2) ? 0.0 : std::max(0.0, std::stod(waiting.str(0, 2))));
  switch (state.changed.review(keys, waiting.boolean(0, 1), limit)) {
    case ChangedKeys::Mode::kEnteredWhole:
      spdlog::info(
          "{}: {} changed keys wait for verify (more than {}); marking the table as a "
          "whole until verify's next full pass",
          state.display, keys, limit);
      break;
    case ChangedKeys::Mode::kLeftWhole:
      spdlog::info("{}: a full verify pass cleared the table; marking changed keys again",
                   state.display);
      break;
    default:
      break;
  }
}

// Writes the batch's dirty keys to switchyard.dirty_keys, inside the batch's
// target transaction: a change commits together with its mark. One row per
// table and batch, insert-only, so verify can clear exactly the rows it
// read; a whole-table mark is one row per table, moved forward in place.
void ApplyLoop::write_dirty_marks() {
  const std::string lsn = batch_end_.to_string();
  // Asked often: a cutover waits for this before it freezes writes.
  if (std::chrono::steady_clock::now() >= next_exact_check_) refresh_request(false);
  for (auto& [id, state_ptr] : relations_) {
    RelationState& state = *state_ptr;
    if (!state.changed.pending()) continue;
    check_dirty_mode(state);
    std::vector<Datum> params{{DatumKind::kText, config_.name},
                              {DatumKind::kText, state.schema},
                              {DatumKind::kText, state.name},
                              {DatumKind::kText, lsn}};
    const bool whole = state.changed.whole();
    if (!whole) {
      params.push_back({DatumKind::kText, state.changed.keys_literal()});
      params.push_back({DatumKind::kText, state.changed.ranges_literal()});
    }
    const auto& name = statement(state, whole ? "dirty-whole" : "dirty-keys", [whole] {
      return whole ? std::string(
                         "INSERT INTO switchyard.dirty_keys (stream, schema_name, table_name, "
                         "marked_lsn, keys) VALUES ($1, $2, $3, $4::pg_lsn, '{}') "
                         "ON CONFLICT (stream, schema_name, table_name) "
                         "WHERE keys = '{}' AND key_ranges = '{}' "
                         "DO UPDATE SET marked_lsn = EXCLUDED.marked_lsn")
                   : std::string(
                         "INSERT INTO switchyard.dirty_keys (stream, schema_name, table_name, "
                         "marked_lsn, keys, key_ranges) "
                         "VALUES ($1, $2, $3, $4::pg_lsn, $5::text[], $6::bigint[])");
    });
    params_.clear();
    for (const Datum& datum : params) params_.push_back(&datum);
    execute(name, params_, 0);
    state.changed.clear_batch();
  }
}

// ---- the row log of tables without a key ----------------------------------
//
// A table without a key cannot be probed by key, so the cutover proves it
// equal by its digest instead (cutover/keyless_proof.h): the digest of both
// sides read once before the freeze, and the rows the stream wrote since,
// which it logs here. Logging runs while exact marks are requested; the
// position from which it is complete is noted in
// streams.keyless_images_since.

// Every kExactMarksCheckInterval. Logging turns on between batches, so the
// batch after this one is the first logged whole; once it has been on for a
// whole batch (or now, between batches), every change after committed_ is
// in the log, and that is the position noted.
void ApplyLoop::refresh_request(bool between_batches) {
  next_exact_check_ = std::chrono::steady_clock::now() + kExactMarksCheckInterval;
  const control::ExactMarksRequest request =
      control::read_exact_marks_request(catalog_, config_.name);
  const bool logged_whole_batch = exact_marks_ || between_batches;
  exact_marks_ = request.requested;
  if (request.requested && logged_whole_batch && !request.images_since) {
    control::note_images_since(catalog_, config_.name, committed_);
  }
}

void ApplyLoop::poll_requests() {
  if (in_source_transaction_ || batch_transactions_ > 0 || target_transaction_open_) return;
  if (std::chrono::steady_clock::now() >= next_exact_check_) refresh_request(true);
}

// While a cutover prepares (exact marks), for a keyless FULL-identity table.
bool ApplyLoop::logging(const RelationState& state) const {
  return exact_marks_ && state.log_images;
}

// The parameters of a logged change before its images: stream, schema,
// table, the source transaction's commit position.
std::vector<Datum> ApplyLoop::logged_change_params(const RelationState& state) const {
  return {{DatumKind::kText, config_.name},
          {DatumKind::kText, state.schema},
          {DatumKind::kText, state.name},
          {DatumKind::kText, transaction_commit_lsn_.to_string()}};
}

void ApplyLoop::log_inserted(RelationState& state, const Tuple& row) {
  if (!state.inserted_lsns.empty()) {
    state.inserted_lsns += ',';
    state.inserted_images += ',';
  }
  state.inserted_lsns += transaction_commit_lsn_.to_string();
  append_image_literal(state.inserted_images, row_texts(row));
}

// A change the log cannot describe (a TRUNCATE, an old row not sent whole):
// a 0 tells the cutover that this table must be compared whole.
void ApplyLoop::log_unapplied(RelationState& state) {
  ensure_target_transaction();
  const std::vector<Datum> log{{DatumKind::kText, config_.name},
                               {DatumKind::kText, state.schema},
                               {DatumKind::kText, state.name},
                               {DatumKind::kText, "0"},
                               {DatumKind::kText, "{" + transaction_commit_lsn_.to_string() + "}"},
                               {DatumKind::kNull, {}}};
  params_.clear();
  for (const Datum& datum : log) params_.push_back(&datum);
  execute(statement(state, "log-images", [] { return log_images_sql(); }), params_, 0);
}

// The rows inserted in this batch, one statement per table.
void ApplyLoop::write_images() {
  for (auto& [id, state_ptr] : relations_) {
    RelationState& state = *state_ptr;
    if (state.inserted_lsns.empty()) continue;
    const std::vector<Datum> log{{DatumKind::kText, config_.name},
                                 {DatumKind::kText, state.schema},
                                 {DatumKind::kText, state.name},
                                 {DatumKind::kText, "1"},
                                 {DatumKind::kText, "{" + state.inserted_lsns + "}"},
                                 {DatumKind::kText, "{" + state.inserted_images + "}"}};
    params_.clear();
    for (const Datum& datum : log) params_.push_back(&datum);
    execute(statement(state, "log-images", [] { return log_images_sql(); }), params_, 0);
    state.inserted_lsns.clear();
    state.inserted_images.clear();
  }
}

}  // namespace switchyard
