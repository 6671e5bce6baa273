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
#include "replicator/legacy_setup.h"

namespace switchyard {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kRowsPerRead = 2000;
// How long to wait before looking at the changelog again when it had
// nothing past the watermark.
constexpr auto kPollPause = std::chrono::milliseconds(50);
// How often the feed looks for tables that appeared on the source.
constexpr auto kNewNameCheckInterval = std::chrono::seconds(5);
constexpr auto kNewTableCheckInterval = std::chrono::seconds(60);
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

// A row as earlier versions' capture wrote it: a JSON array, integers as
// numbers and the rest as strings. A stream that ran through an upgrade
// still has them, and its triggers write them until they are installed
// again. `parsed` holds what `texts` points into.
bool parse_json_row(const std::string& json, boost::json::value& parsed,
                    std::vector<std::optional<std::string_view>>& texts,
                    std::vector<std::string>& numbers, uint64_t seq) {
  boost::system::error_code error;
  parsed = boost::json::parse(json, error);
  if (error || !parsed.is_array()) return false;
  const boost::json::array& items = parsed.as_array();
  numbers.assign(items.size(), std::string());
  for (size_t idx = 0; idx < items.size(); ++idx) {
    if (items[idx].is_string()) {
      texts.emplace_back(std::string_view(items[idx].as_string()));
    } else if (items[idx].is_int64() || items[idx].is_uint64()) {
      numbers[idx] = items[idx].is_int64() ? std::to_string(items[idx].as_int64())
                                           : std::to_string(items[idx].as_uint64());
      texts.emplace_back(numbers[idx]);
    } else if (items[idx].is_null()) {
      texts.emplace_back(std::nullopt);
    } else {
      throw Error(ErrorKind::kDatabase, "source: changelog row " + std::to_string(seq) +
                                            " holds a value that is not text");
    }
  }
  return true;
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
                                 const std::string& captured, bool key_only, uint64_t seq) const {
  std::vector<std::optional<std::string_view>> texts;
  boost::json::value json;           // of a JSON row: the row,
  std::vector<std::string> numbers;  // and its integers as text
  const bool parsed = !captured.empty() && captured.front() == '['
                          ? parse_json_row(captured, json, texts, numbers, seq)
                          : odbc::parse_captured_row(captured, texts);
  const size_t expected = key_only ? table.key.size() : table.legacy.columns.size();
  if (!parsed || texts.size() != expected) {
    throw Error(ErrorKind::kDatabase, "source: changelog row " + std::to_string(seq) + " of " +
                                          table.legacy_display() +
                                          " does not hold the table's columns; was the table "
                                          "altered without switchyard (run init again)?");
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

// ---- the feed -----------------------------------------------------------

ChangelogFeed::ChangelogFeed(const Config& config, pg::Connection& target,
                             std::set<std::string>& warned)
    : config_(config),
      target_(target),
      warned_(warned),
      source_(config),
      tables_(usable_tables()),
      names_(source_.selected_names()),
      decoder_(source_.engine(), tables_),
      read_sql_(source_.dialect().changelog_read(config.name, kRowsPerRead)) {}

std::string ChangelogFeed::start(Lsn from) {
  next_ = std::max(from.value, kFirstChangelogPosition);
  // The tables' descriptions come first, as pgoutput sends its Relations.
  for (change::Message& message : describe_tables(target_, tables_)) {
    queue_.push_back(std::move(message));
  }
  return "streaming from " + config_.source.name + "'s changelog (sequence " +
         std::to_string(next_) + ") into " + config_.target.name;
}

std::optional<change::Message> ChangelogFeed::next(std::chrono::milliseconds wait) {
  if (queue_.empty() && reached_watermark_) {
    // Everything committed up to the watermark is handed over: the feed has
    // run dry for now, and the session commits what it applied. (Polling
    // again at once would find the next few rows every time under a steady
    // load, and the batch would not commit until it was full.)
    reached_watermark_ = false;
    return std::nullopt;
  }
  if (queue_.empty() && !read_chunk()) {
    // Nothing committed past the watermark: look again after a pause.
    sleep_unless_stopped(std::min(wait, kPollPause));
    return std::nullopt;
  }
  change::Message message = std::move(queue_.front());
  queue_.pop_front();
  return message;
}

// Queues the next chunk of rows up to the safe watermark, probing the
// changelog when the last watermark is used up; false if there was none.
bool ChangelogFeed::read_chunk() {
  odbc::Connection& connection = source_.connection();
  const odbc::Dialect& dialect = source_.dialect();
  if (next_ > safe_) {
    probe_ = dialect.probe_changelog(connection, config_.name);
    safe_ = watermark_.advance(probe_, [&](const std::vector<std::string>& open) {
      return dialect.transactions_ended(connection, open);
    });
    if (next_ > safe_) return false;
  }
  std::vector<ChangelogRow> rows;
  {
    odbc::Statement statement(connection, read_sql_, {std::to_string(next_), std::to_string(safe_)},
                              256);
    std::vector<Value> values;
    while (statement.next(values)) rows.push_back(to_row(values));
  }
  if (rows.empty()) {
    next_ = safe_ + 1;  // sequence values of rolled-back transactions
    return false;
  }
  // The chunk is one source transaction; it ends where the next read
  // starts, past the watermark when the chunk reached it.
  const uint64_t end = rows.size() < kRowsPerRead ? safe_ + 1 : rows.back().seq + 1;
  const auto time_us =
      static_cast<int64_t>(std::llround((rows.back().captured_at - kPostgresEpoch) * 1e6));
  queue_.emplace_back(change::Begin{Lsn(rows.front().seq), time_us, 0});
  std::vector<change::Message> messages;
  for (const ChangelogRow& row : rows) {
    messages.clear();
    decoder_.decode(row, messages);
    for (change::Message& message : messages) queue_.push_back(std::move(message));
  }
  queue_.emplace_back(change::Commit{0, Lsn(rows.back().seq), Lsn(end), time_us});
  next_ = end;
  reached_watermark_ = rows.size() < kRowsPerRead;
  return true;
}

std::vector<LegacyStreamTable> ChangelogFeed::usable_tables() {
  std::vector<std::string> problems;
  std::vector<LegacyStreamTable> tables = source_.selected_tables(&problems);
  for (const std::string& problem : problems) {
    if (warned_.insert(problem).second) spdlog::warn("{}; it is not replicated", problem);
  }
  return tables;
}

bool ChangelogFeed::tables_appeared() {
  const auto now = Clock::now();
  if (now - last_names_check_ < kNewNameCheckInterval) return false;
  last_names_check_ = now;
  std::vector<std::string> names = source_.selected_names();
  if (names == names_ && now - last_table_check_ < kNewTableCheckInterval) return false;
  names_ = std::move(names);
  last_table_check_ = now;
  for (const LegacyStreamTable& table : usable_tables()) {
    const bool streamed = std::any_of(
        tables_.begin(), tables_.end(),
        [&](const LegacyStreamTable& known) { return known.legacy.name == table.legacy.name; });
    if (!streamed) return true;
  }
  return false;
}

ChangelogRow ChangelogFeed::to_row(const std::vector<Value>& values) {
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

// Rows the target has durably applied leave the changelog, a bounded batch
// at a time; its highest row always stays, so that a restarted engine never
// hands out a sequence value again.
void ChangelogFeed::acknowledge(const Applied& applied) {
  const uint64_t bound = std::min(applied.durable.value, probe_.highest);
  const auto deadline = Clock::now() + std::chrono::milliseconds(200);
  while (bound > pruned_below_ && Clock::now() < deadline && !stop_requested()) {
    const uint64_t upper = std::min(bound, pruned_below_ + kRowsPerPrune);
    source_.connection().exec("DELETE FROM " + source_.changelog() + " WHERE seq < ?",
                              {std::to_string(upper)});
    pruned_below_ = upper;
  }
}

// Lag in changes: the changelog rows past what is applied. In seconds: how
// long ago the oldest of them was captured, by the source's clock.
SourceLag ChangelogFeed::lag(const Applied& applied, int64_t) {
  const uint64_t done = applied.committed.value;
  const uint64_t pending = probe_.highest >= done ? probe_.highest - done + 1 : 0;
  SourceLag lag;
  lag.newest = Lsn(probe_.highest + 1);
  lag.behind = std::to_string(pending) + (pending == 1 ? " change" : " changes");
  lag.changes = pending;
  if (pending == 0) return lag;
  const odbc::Dialect& dialect = source_.dialect();
  odbc::Statement oldest(source_.connection(), dialect.changelog_read(config_.name, 1),
                         {std::to_string(done), std::to_string(UINT64_MAX)}, 1);
  odbc::Statement now(source_.connection(), "SELECT " + dialect.epoch_now(), {}, 1);
  std::vector<Value> row;
  if (oldest.next(row)) {
    const double captured = to_row(row).captured_at;
    if (now.next(row)) lag.seconds = std::max(0.0, seconds_of(row[0]) - captured);
  }
  return lag;
}

}  // namespace switchyard
