#include "replicator/changelog_feed.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>

#include "common/backoff.h"
#include "common/error.h"
#include "common/shutdown.h"
#include "common/units.h"
#include "control/control_schema.h"
#include "drivers/pg/sql.h"
#include "replicator/apply_loop.h"
#include "replicator/changelog_watermark.h"
#include "replicator/legacy_setup.h"
#include "replicator/stream_lock.h"

namespace switchyard {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kRowsPerRead = 2000;
constexpr uint64_t kRowsPerPrune = 10'000;
// Seconds from the Unix epoch to PostgreSQL's, 2000-01-01.
constexpr double kPostgresEpoch = 946684800.0;

// Seconds since the epoch, as an engine returns them: a float (SQLite's
// julianday arithmetic), an integer, or a decimal (MariaDB's UNIX_TIMESTAMP).
double seconds_of(const Value& value) {
  switch (value.type) {
    case ValueType::kFloat:
      return value.real;
    case ValueType::kInt:
      return static_cast<double>(value.integer);
    case ValueType::kNull:
      return 0;
    default:
      return std::stod(std::string(value.bytes));
  }
}

uint32_t relation_id(size_t table_idx) {
  return static_cast<uint32_t>(table_idx + 1);
}

}  // namespace

// ---- decoding -----------------------------------------------------------

ChangelogDecoder::ChangelogDecoder(const std::string& engine,
                                   const std::vector<LegacyStreamTable>& tables)
    : tables_(tables) {
  for (size_t idx = 0; idx < tables.size(); ++idx) {
    by_name_[tables[idx].legacy.name] = idx;
    values_.push_back(
        std::make_unique<LegacyValues>(engine, tables[idx].legacy, tables[idx].translation));
  }
}

Tuple ChangelogDecoder::to_tuple(const LegacyStreamTable& table, const LegacyValues& values,
                                 const std::string& json, bool key_only, uint64_t seq) const {
  boost::system::error_code error;
  const boost::json::value parsed = boost::json::parse(json, error);
  const size_t expected = key_only ? table.key.size() : table.legacy.columns.size();
  if (error || !parsed.is_array() || parsed.as_array().size() != expected) {
    throw Error(ErrorKind::kDatabase, "source: changelog row " + std::to_string(seq) + " of " +
                                          table.legacy_display() +
                                          " does not hold the table's columns; was the table "
                                          "altered without switchyard (run init again)?");
  }
  const boost::json::array& items = parsed.as_array();
  std::vector<std::optional<std::string_view>> texts(items.size());
  std::vector<std::string> numbers(items.size());
  for (size_t idx = 0; idx < items.size(); ++idx) {
    // Integers are captured as JSON numbers (exact in 64 bits), the rest
    // as strings.
    if (items[idx].is_string()) {
      texts[idx] = std::string_view(items[idx].as_string());
    } else if (items[idx].is_int64() || items[idx].is_uint64()) {
      numbers[idx] = items[idx].is_int64() ? std::to_string(items[idx].as_int64())
                                           : std::to_string(items[idx].as_uint64());
      texts[idx] = numbers[idx];
    } else if (!items[idx].is_null()) {
      throw Error(ErrorKind::kDatabase, "source: changelog row " + std::to_string(seq) +
                                            " holds a value that is not text");
    }
  }
  auto key = [&] {
    std::vector<std::optional<std::string>> key_values;
    for (size_t idx = 0; idx < table.key.size(); ++idx) {
      const auto& text = texts[key_only ? idx : table.key[idx]];
      key_values.push_back(text ? std::optional(std::string(*text)) : std::nullopt);
    }
    return describe_key(key_values);
  };
  Tuple tuple(table.legacy.columns.size());
  if (key_only) {
    for (size_t idx = 0; idx < table.key.size(); ++idx) {
      tuple[table.key[idx]] = values.to_target(table.key[idx], texts[idx], key);
    }
  } else {
    for (size_t idx = 0; idx < texts.size(); ++idx) {
      tuple[idx] = values.to_target(idx, texts[idx], key);
    }
  }
  return tuple;
}

void ChangelogDecoder::decode(const ChangelogRow& row, std::vector<change::Message>& out) const {
  const auto found = by_name_.find(row.table);
  if (found == by_name_.end()) return;
  const size_t table_idx = found->second;
  const LegacyStreamTable& table = tables_[table_idx];
  const LegacyValues& values = *values_[table_idx];
  const uint32_t id = relation_id(table_idx);
  auto need = [&](const std::optional<std::string>& json, const char* what) -> const std::string& {
    if (!json) {
      throw Error(ErrorKind::kDatabase, "source: changelog row " + std::to_string(row.seq) + " (" +
                                            std::string(1, row.kind) + ") lacks its " + what);
    }
    return *json;
  };
  switch (row.kind) {
    case 'I':
      out.emplace_back(
          change::Insert{id, to_tuple(table, values, need(row.new_row, "row"), false, row.seq)});
      return;
    case 'U': {
      Tuple new_row = to_tuple(table, values, need(row.new_row, "row"), false, row.seq);
      if (!row.old_key) {  // the key did not change: the trigger left it out
        out.emplace_back(change::Insert{id, std::move(new_row)});
        return;
      }
      Tuple old_key = to_tuple(table, values, *row.old_key, true, row.seq);
      bool key_changed = false;
      for (size_t column_idx : table.key) {
        key_changed |= old_key[column_idx].kind != new_row[column_idx].kind ||
                       old_key[column_idx].bytes != new_row[column_idx].bytes;
      }
      if (key_changed) out.emplace_back(change::Delete{id, 'K', std::move(old_key)});
      out.emplace_back(change::Insert{id, std::move(new_row)});
      return;
    }
    case 'D':
      out.emplace_back(change::Delete{
          id, 'K', to_tuple(table, values, need(row.old_key, "old key"), true, row.seq)});
      return;
    default:
      throw Error(ErrorKind::kDatabase, "source: changelog row " + std::to_string(row.seq) +
                                            " has an unknown kind '" + std::string(1, row.kind) +
                                            "'");
  }
}

std::vector<change::Message> describe_tables(pg::Connection& target,
                                             const std::vector<LegacyStreamTable>& tables) {
  std::vector<change::Message> out;
  for (size_t table_idx = 0; table_idx < tables.size(); ++table_idx) {
    const TableTranslation& translation = tables[table_idx].translation;
    pg::Result columns = target.exec(
        "SELECT a.attname, a.atttypid::int8, a.atttypmod, t.typtype, tn.nspname, t.typname "
        "FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
        "JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace "
        "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped",
        {pg::qualified(translation.schema, translation.name)});
    change::Relation relation;
    relation.relation_id = relation_id(table_idx);
    relation.schema = translation.schema;
    relation.name = translation.name;
    relation.replica_identity = 'd';
    relation.idempotent = true;
    for (size_t column_idx = 0; column_idx < translation.columns.size(); ++column_idx) {
      const std::string& name = translation.columns[column_idx].name;
      int row = -1;
      for (int idx = 0; idx < columns.rows(); ++idx) {
        if (columns.get(idx, 0) == name) row = idx;
      }
      if (row < 0) {
        throw Error(ErrorKind::kSchemaDrift, "target: table " + translation.schema + "." +
                                                 translation.name + " has no column " + name);
      }
      const auto oid = static_cast<uint32_t>(std::stoul(std::string(columns.get(row, 1))));
      if (columns.get(row, 3) != "b") {
        out.emplace_back(
            change::Type{oid, std::string(columns.get(row, 4)), std::string(columns.get(row, 5))});
      }
      const auto& key = tables[table_idx].key;
      change::RelationColumn column;
      column.is_key = std::find(key.begin(), key.end(), column_idx) != key.end();
      column.name = name;
      column.type_oid = oid;
      column.type_modifier = static_cast<int32_t>(std::stol(std::string(columns.get(row, 2))));
      relation.columns.push_back(std::move(column));
    }
    out.emplace_back(std::move(relation));
  }
  return out;
}

// ---- the stream ---------------------------------------------------------

namespace {

// One connected run of the stream: from the target's origin to a stop or
// an error.
class FeedSession {
 public:
  explicit FeedSession(const Config& config)
      : config_(config),
        source_(config),
        tables_(source_.selected_tables()),
        catalog_(config.target.conninfo, config.target.name, pg::Mode::kNormal, "apply-catalog"),
        control_(config.target.conninfo, config.target.name, pg::Mode::kNormal, "control"),
        apply_(config, catalog_),
        decoder_(source_.engine(), tables_),
        read_sql_(source_.dialect().changelog_read(config.name, kRowsPerRead)) {
    for (change::Message& message : describe_tables(catalog_, tables_)) {
      apply_.handle(std::move(message));
    }
    next_ = apply_.resume_position().value;
  }

  // Returns when a stop is requested.
  void run(bool& progress_made) {
    spdlog::info("streaming from {}'s changelog (sequence {}) into {}", config_.source.name, next_,
                 config_.target.name);
    auto next_report = Clock::now();
    auto next_prune = Clock::now();
    while (!stop_requested()) {
      const bool read_any = poll();
      if (apply_.pending_transactions() > 0) {
        apply_.commit_batch();
        progress_made = true;
      }
      const auto now = Clock::now();
      if (now >= next_prune) {
        prune();
        next_prune = now + std::chrono::seconds(1);
      }
      if (now >= next_report) {
        report();
        next_report = now + config_.stream.status_interval;
      }
      if (!read_any) {
        apply_.poll_requests();
        sleep_unless_stopped(std::chrono::milliseconds(50));
      }
    }
  }

 private:
  // Reads every row up to the safe watermark; false if there was none.
  bool poll() {
    odbc::Connection& connection = source_.connection();
    const odbc::Dialect& dialect = source_.dialect();
    probe_ = dialect.probe_changelog(connection, config_.name);
    const uint64_t safe = watermark_.advance(probe_, [&](const std::vector<std::string>& open) {
      return dialect.transactions_ended(connection, open);
    });
    bool read_any = false;
    while (safe >= next_ && !stop_requested()) {
      std::vector<ChangelogRow> rows;
      {
        odbc::Statement statement(connection, read_sql_,
                                  {std::to_string(next_), std::to_string(safe)}, 256);
        std::vector<Value> values;
        while (statement.next(values)) rows.push_back(to_row(values));
      }
      const bool complete = rows.size() < kRowsPerRead;
      if (rows.empty()) {
        next_ = safe + 1;  // sequence values of rolled-back transactions
        break;
      }
      read_any = true;
      const uint64_t end = complete ? safe + 1 : rows.back().seq + 1;
      apply_chunk(rows, end);
      next_ = end;
      if (complete) break;
    }
    return read_any;
  }

  static ChangelogRow to_row(const std::vector<Value>& values) {
    ChangelogRow row;
    auto text = [&](size_t idx) -> std::optional<std::string> {
      if (values[idx].type == ValueType::kNull) return std::nullopt;
      if (values[idx].type == ValueType::kInt) return std::to_string(values[idx].integer);
      return std::string(values[idx].bytes);
    };
    row.seq = std::stoull(text(0).value_or("0"));
    row.table = text(1).value_or("");
    row.kind = text(2).value_or("?")[0];
    row.old_key = text(3);
    row.new_row = text(4);
    row.captured_at = seconds_of(values[5]);
    return row;
  }

  void apply_chunk(const std::vector<ChangelogRow>& rows, uint64_t end) {
    const auto time_us =
        static_cast<int64_t>(std::llround((rows.back().captured_at - kPostgresEpoch) * 1e6));
    apply_.handle(change::Begin{Lsn(rows.front().seq), time_us, 0});
    std::vector<change::Message> messages;
    for (const ChangelogRow& row : rows) {
      messages.clear();
      decoder_.decode(row, messages);
      for (change::Message& message : messages) apply_.handle(std::move(message));
    }
    apply_.handle(change::Commit{0, Lsn(rows.back().seq), Lsn(end), time_us});
    changes_ += rows.size();
    if (apply_.batch_full()) apply_.commit_batch();
  }

  // Rows the target has durably applied leave the changelog, a bounded
  // batch at a time; its highest row always stays, so that a restarted
  // engine never hands out a sequence value again.
  void prune() {
    const std::optional<Lsn> flushed =
        control::origin_progress(control_, config_.origin_name(), true);
    if (!flushed) return;
    const uint64_t bound = std::min(flushed->value, probe_.highest);
    const auto deadline = Clock::now() + std::chrono::milliseconds(200);
    while (bound > pruned_below_ && Clock::now() < deadline && !stop_requested()) {
      const uint64_t upper = std::min(bound, pruned_below_ + kRowsPerPrune);
      source_.connection().exec("DELETE FROM " + source_.changelog() + " WHERE seq < ?",
                                {std::to_string(upper)});
      pruned_below_ = upper;
    }
  }

  // The lag line, and the same figures in the control schema for status.
  void report() {
    const uint64_t applied = apply_.committed_position().value;
    const uint64_t pending = probe_.highest >= applied ? probe_.highest - applied + 1 : 0;
    double lag_seconds = 0;
    if (pending > 0) {
      const odbc::Dialect& dialect = source_.dialect();
      odbc::Statement oldest(source_.connection(), dialect.changelog_read(config_.name, 1),
                             {std::to_string(applied), std::to_string(UINT64_MAX)}, 1);
      odbc::Statement now(source_.connection(), "SELECT " + dialect.epoch_now(), {}, 1);
      std::vector<Value> row;
      if (oldest.next(row)) {
        const double captured = to_row(row).captured_at;
        if (now.next(row)) {
          lag_seconds = std::max(0.0, seconds_of(row[0]) - captured);
        }
      }
    }
    const auto now = Clock::now();
    const double elapsed = std::chrono::duration<double>(now - rate_since_).count();
    const double rate = elapsed > 0 ? static_cast<double>(changes_ - rate_changes_) / elapsed : 0;
    rate_since_ = now;
    rate_changes_ = changes_;
    spdlog::info("applied changelog up to {}, {} pending, lag {}, {:.0f} changes/s", applied,
                 pending, format_duration(lag_seconds), rate);
    control::report_lag(control_, config_.name, Lsn(probe_.highest + 1), Lsn(applied), lag_seconds,
                        apply_.prepared_statements());
  }

  const Config& config_;
  LegacySource source_;
  std::vector<LegacyStreamTable> tables_;
  pg::Connection catalog_;
  pg::Connection control_;
  ApplyLoop apply_;
  ChangelogDecoder decoder_;
  std::string read_sql_;
  SafeWatermark watermark_;
  odbc::Dialect::ChangelogProbe probe_;
  uint64_t next_ = kFirstChangelogPosition;
  uint64_t pruned_below_ = 0;
  uint64_t changes_ = 0;
  uint64_t rate_changes_ = 0;
  Clock::time_point rate_since_ = Clock::now();
};

}  // namespace

void run_legacy_replicate(const Config& config) {
  StreamLock lock(config);
  run_legacy_snapshot(config);
  Backoff backoff(std::chrono::milliseconds(500), config.stream.reconnect_max);
  while (!stop_requested()) {
    bool progress_made = false;
    try {
      lock.keep();
      FeedSession session(config);
      session.run(progress_made);
      return;
    } catch (const Error& error) {
      if (!error.retryable() || stop_requested()) throw;
      if (progress_made) backoff.reset();
      const auto delay = backoff.next_delay();
      spdlog::warn("{}; reconnecting in {}", error.what(),
                   format_duration(static_cast<double>(delay.count()) / 1000.0));
      if (!sleep_unless_stopped(delay)) return;
    }
  }
}

}  // namespace switchyard
