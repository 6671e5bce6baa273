#include "verify/legacy_verify.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "common/backoff.h"
#include "common/error.h"
#include "common/shutdown.h"
#include "common/units.h"
#include "control/control_schema.h"
#include "drivers/pg/binary_copy.h"
#include "drivers/pg/sql.h"
#include "replicator/apply_statements.h"
#include "replicator/legacy_source.h"
#include "replicator/stream_lock.h"
#include "verify/canonical_encoding.h"
#include "verify/chunk_hasher.h"
#include "verify/recheck.h"
#include "verify/verify_store.h"

namespace switchyard::verify {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kChunkRows = 20'000;  // aimed at per ranged chunk
constexpr size_t kKeysPerProbe = 200;
constexpr size_t kMaxDirtyKeys = 100'000;  // beyond: a full pass

// ---- values -------------------------------------------------------------

// How a source value is brought to the target column's type before
// encoding (see legacy_verify.h).
enum class Coerce : uint8_t { kNone, kBool, kScale, kJson };

// Decimal text at `scale` digits after the point, rounded half away from
// zero as PostgreSQL's numeric input does.
std::string rescale(std::string_view text, int scale) {
  bool negative = false;
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    negative = text[0] == '-';
    text.remove_prefix(1);
  }
  const size_t point = text.find('.');
  std::string whole(text.substr(0, point));
  std::string fraction = point == std::string_view::npos ? "" : std::string(text.substr(point + 1));
  if (whole.empty()) whole = "0";
  bool round_up = false;
  if (static_cast<int>(fraction.size()) > scale) {
    round_up = fraction[static_cast<size_t>(scale)] >= '5';
    fraction.resize(static_cast<size_t>(scale));
  }
  fraction.append(static_cast<size_t>(scale) - fraction.size(), '0');
  std::string digits = whole + fraction;
  if (round_up) {
    size_t idx = digits.size();
    while (idx > 0) {
      --idx;
      if (digits[idx] == '9') {
        digits[idx] = '0';
      } else {
        ++digits[idx];
        break;
      }
      if (idx == 0) digits.insert(digits.begin(), '1');
    }
  }
  const size_t whole_size = digits.size() - static_cast<size_t>(scale);
  std::string out = negative ? "-" : "";
  out += digits.substr(0, whole_size);
  if (scale > 0) out += "." + digits.substr(whole_size);
  return out;
}

// A JSON document by its value: objects' keys sorted, numbers in one form.
void write_json(std::string& out, const boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::object: {
      std::map<std::string_view, const boost::json::value*> sorted;
      for (const auto& item : value.as_object()) sorted[item.key()] = &item.value();
      out += '{';
      bool first = true;
      for (const auto& [key, item] : sorted) {
        if (!first) out += ',';
        first = false;
        out += boost::json::serialize(boost::json::string(key));
        out += ':';
        write_json(out, *item);
      }
      out += '}';
      return;
    }
    case boost::json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& item : value.as_array()) {
        if (!first) out += ',';
        first = false;
        write_json(out, item);
      }
      out += ']';
      return;
    }
    case boost::json::kind::double_: {
      const double number = value.as_double();
      char buffer[40];
      if (number == static_cast<double>(static_cast<int64_t>(number)) && std::abs(number) < 1e15) {
        std::snprintf(buffer, sizeof buffer, "%lld", static_cast<long long>(number));
      } else {
        std::snprintf(buffer, sizeof buffer, "%.17g", number);
      }
      out += buffer;
      return;
    }
    default:
      out += boost::json::serialize(value);
  }
}

// ---- a table as both sides read it --------------------------------------

struct CrossPlan {
  const LegacyStreamTable* table = nullptr;
  TablePlan target;  // the target's reads; names and key for the store and findings
  std::vector<std::string> source_columns;  // select-list expressions on the source
  std::vector<Coerce> coerce;
  std::vector<int> scale;
  bool ranged = false;  // chunks are ranges of the first key column (an integer)
  std::string source_from;
};

int numeric_scale(const std::string& type) {
  const size_t comma = type.find(',');
  if (type.rfind("numeric", 0) != 0) return -1;
  if (comma == std::string::npos) return type.find('(') == std::string::npos ? -1 : 0;
  return std::atoi(type.c_str() + comma + 1);
}

CrossPlan plan_table(LegacySource& source, pg::Connection& target, const LegacyStreamTable& table) {
  CrossPlan plan;
  plan.table = &table;
  const TableTranslation& translation = table.translation;
  plan.target.schema = translation.schema;
  plan.target.name = translation.name;
  plan.target.display = translation.schema + "." + translation.name;
  plan.target.qualified = pg::qualified(translation.schema, translation.name);
  plan.target.key = table.key;
  plan.source_from = " FROM " + source.dialect().quote(table.legacy.name) + " t";
  pg::Result columns = target.exec(
      "SELECT a.attname, a.atttypid::int8, pg_catalog.format_type(a.atttypid, a.atttypmod), "
      "t.typname FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
      "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped",
      {plan.target.qualified});
  const bool mariadb = source.engine() == "MariaDB";
  for (size_t idx = 0; idx < translation.columns.size(); ++idx) {
    const std::string& name = translation.columns[idx].name;
    const odbc::LegacyColumn& legacy = table.legacy.columns[idx];
    int row = -1;
    for (int r = 0; r < columns.rows(); ++r) {
      if (columns.get(r, 0) == name) row = r;
    }
    if (row < 0) {
      throw Error(ErrorKind::kSchemaDrift,
                  "target: table " + plan.target.display + " has no column " + name);
    }
    const auto oid = static_cast<uint32_t>(std::stoul(std::string(columns.get(row, 1))));
    const std::string type(columns.get(row, 2));
    const std::string quoted = pg::quote_ident(name);
    PlanColumn column;
    column.name = name;
    column.type_name = {type, type};
    pg::ColumnRead read = pg::column_read(quoted, oid);
    std::string source_expression = "t." + source.dialect().quote(legacy.name);
    Coerce coerce = Coerce::kNone;
    if (type.rfind("character(", 0) == 0 || type == "character") {
      read = {quoted + "::text", pg::WireType::kText};  // without its padding
    } else if (type == "text[]" && legacy.base == "set") {
      read = {"pg_catalog.array_to_string(" + quoted + ", ',')", pg::WireType::kText};
    } else if (type.rfind("bit(", 0) == 0 && legacy.base == "bit") {
      read = {quoted + "::int8", pg::WireType::kInt8};
      if (mariadb) source_expression = "CAST(" + source_expression + " + 0 AS UNSIGNED)";
    } else if (oid == 16) {
      coerce = Coerce::kBool;
      if (mariadb && legacy.base == "bit") source_expression = "(" + source_expression + " + 0)";
    } else if (oid == 114 || oid == 3802) {
      coerce = Coerce::kJson;
    }
    const int scale = numeric_scale(type);
    if (scale >= 0) coerce = Coerce::kScale;
    column.read = {read, read};
    plan.target.columns.push_back(std::move(column));
    plan.source_columns.push_back(source_expression);
    plan.coerce.push_back(coerce);
    plan.scale.push_back(scale);
  }
  const std::string& first = plan.target.columns[table.key.front()].type_name[1];
  plan.ranged = first == "smallint" || first == "integer" || first == "bigint";
  plan.target.integer_key = plan.ranged && table.key.size() == 1;
  return plan;
}

// ---- reading ------------------------------------------------------------

// A JSON document by its value (write_json), both sides alike; false if the
// text does not parse (it is then compared as it is).
bool append_json(std::string& out, std::string_view text, std::string& scratch) {
  boost::system::error_code error;
  const boost::json::value parsed = boost::json::parse(text, error);
  if (error) return false;
  scratch.clear();
  write_json(scratch, parsed);
  append_canonical(out, Value::of_bytes(ValueType::kJson, scratch));
  return true;
}

// Appends the canonical form of a source value, brought to the target's type.
void append_source(std::string& out, const CrossPlan& plan, size_t column, const Value& value,
                   std::string& scratch) {
  if (value.type == ValueType::kNull) {
    append_canonical(out, value);
    return;
  }
  switch (plan.coerce[column]) {
    case Coerce::kNone:
      break;
    case Coerce::kBool:
      if (value.type == ValueType::kInt || value.type == ValueType::kBool) {
        append_canonical(out, Value::of_int(ValueType::kBool, value.integer != 0));
        return;
      }
      if (value.type == ValueType::kBytes && value.bytes.size() == 1) {
        append_canonical(out, Value::of_int(ValueType::kBool, value.bytes[0] != 0));
        return;
      }
      if (value.type == ValueType::kText && (value.bytes == "0" || value.bytes == "1")) {
        append_canonical(out, Value::of_int(ValueType::kBool, value.bytes == "1"));
        return;
      }
      break;
    case Coerce::kScale:
      if (value.type == ValueType::kNumeric || value.type == ValueType::kText) {
        scratch = rescale(value.bytes, plan.scale[column]);
        append_canonical(out, Value::of_bytes(ValueType::kNumeric, scratch));
        return;
      }
      if (value.type == ValueType::kFloat) {
        char buffer[64];
        std::snprintf(buffer, sizeof buffer, "%.*f", plan.scale[column], value.real);
        append_canonical(out, Value::of_bytes(ValueType::kNumeric, buffer));
        return;
      }
      break;
    case Coerce::kJson:
      if (append_json(out, value.bytes, scratch)) return;
      break;
  }
  append_canonical(out, value);
}

void append_target(std::string& out, const CrossPlan& plan, size_t column, const Value& value,
                   std::string& scratch) {
  if (plan.coerce[column] == Coerce::kJson && value.type == ValueType::kJson &&
      append_json(out, value.bytes, scratch)) {
    return;
  }
  append_canonical(out, value);
}

// One row's key and hash into `rows`.
void add_row(ChunkRows& rows, const std::string& encoded, size_t key_size) {
  const Hash128 hash = hash128(encoded);
  rows.digest.add(hash);
  rows.hashes.push_back(hash);
  rows.keys.append(encoded, 0, key_size);
  rows.key_end.push_back(rows.keys.size());
}

// Adds `more`'s rows to `all` (probes read keys in batches).
void append_rows(ChunkRows& all, const ChunkRows& more) {
  for (size_t row = 0; row < more.size(); ++row) {
    all.digest.add(more.hashes[row]);
    all.hashes.push_back(more.hashes[row]);
    all.keys.append(more.key(row));
    all.key_end.push_back(all.keys.size());
  }
}

ChunkRows read_source(odbc::Connection& connection, const CrossPlan& plan, const std::string& where,
                      const std::vector<std::optional<std::string>>& params) {
  std::string select;
  for (const auto& expression : plan.source_columns) {
    select += (select.empty() ? "" : ", ") + expression;
  }
  odbc::Statement statement(connection, "SELECT " + select + plan.source_from + where, params,
                            1024);
  ChunkRows rows;
  std::vector<Value> row;
  std::string encoded, scratch;
  while (statement.next(row)) {
    encoded.clear();
    for (size_t idx : plan.target.key) append_source(encoded, plan, idx, row[idx], scratch);
    const size_t key_size = encoded.size();
    for (size_t idx = 0; idx < row.size(); ++idx) {
      append_source(encoded, plan, idx, row[idx], scratch);
      if (row[idx].type == ValueType::kText || row[idx].type == ValueType::kBytes ||
          row[idx].type == ValueType::kNumeric || row[idx].type == ValueType::kJson) {
        rows.bytes += row[idx].bytes.size();
      } else {
        rows.bytes += 8;
      }
    }
    add_row(rows, encoded, key_size);
  }
  return rows;
}

ChunkRows read_target(pg::Connection& connection, const CrossPlan& plan, const std::string& where) {
  std::string select;
  for (const auto& column : plan.target.columns) {
    select += (select.empty() ? "" : ", ") + column.read[1].expression;
  }
  pg::BinaryCopyReader reader(connection);
  reader.start("SELECT " + select + " FROM " + plan.target.qualified + where);
  ChunkRows rows;
  std::vector<pg::Field> fields;
  std::string encoded, scratch, json_scratch;
  auto append = [&](size_t idx) {
    const pg::Field& field = fields[idx];
    append_target(
        encoded, plan, idx,
        field.null ? Value::null()
                   : pg::decode_field(plan.target.columns[idx].read[1].wire, field.bytes, scratch),
        json_scratch);
  };
  while (reader.next(fields)) {
    encoded.clear();
    for (size_t idx : plan.target.key) append(idx);
    const size_t key_size = encoded.size();
    for (size_t idx = 0; idx < fields.size(); ++idx) append(idx);
    add_row(rows, encoded, key_size);
  }
  rows.bytes = reader.bytes_read();
  return rows;
}

// ---- the verifier -------------------------------------------------------

class CrossVerifier {
 public:
  explicit CrossVerifier(const Config& config)
      : config_(config),
        source_(config),
        tables_(source_.selected_tables()),
        target_(config.target.conninfo, config.target.name, pg::Mode::kNormal, "verify"),
        control_(config.target.conninfo, config.target.name, pg::Mode::kNormal, "control") {
    auto stream = control::read_stream(control_, config.name);
    if (!stream || stream->phase != control::kStreaming) {
      throw Error(ErrorKind::kPrecondition,
                  "target: the initial copy of stream " + config.name +
                      " has not completed; run snapshot or replicate first");
    }
  }

  std::vector<CrossPlan> plans(const std::optional<std::string>& only) {
    std::vector<CrossPlan> out;
    for (const auto& table : tables_) {
      if (only && *only != table.display() && *only != table.legacy_display()) continue;
      out.push_back(plan_table(source_, target_, table));
    }
    if (only && out.empty()) {
      throw Error(ErrorKind::kUsage, "table " + *only + " is not part of stream " + config_.name);
    }
    return out;
  }

  TableReport full_pass(const CrossPlan& plan);
  TableReport dirty_pass(const CrossPlan& plan);
  RepairReport repair(const CrossPlan& plan, const std::vector<KeyText>& keys);

 private:
  struct Range {
    std::optional<int64_t> lower;  // exclusive; none: open
    std::optional<int64_t> upper;  // inclusive
  };
  std::pair<std::string, std::vector<std::optional<std::string>>> source_range(
      const CrossPlan& plan, const Range& range) const;
  std::string target_range(const CrossPlan& plan, const Range& range) const;
  std::pair<ChunkRows, ChunkRows> read_both(const CrossPlan& plan, const Range& range);
  ChunkRows probe_source(const CrossPlan& plan, const std::vector<KeyText>& keys);
  ChunkRows probe_target(const CrossPlan& plan, const std::vector<KeyText>& keys);
  // The next changelog sequence: every change visible now is below it.
  uint64_t source_position();
  bool wait_applied(uint64_t position);
  // Settles keys that differed; fills the report's findings.
  void settle(const CrossPlan& plan, const std::vector<KeyText>& keys, TableReport& report,
              std::vector<KeyText>* in_flight_keys = nullptr);
  void finish(const CrossPlan& plan, TableReport& report, uint64_t position,
              const std::string& started, bool full);

  const Config& config_;
  LegacySource source_;
  std::vector<LegacyStreamTable> tables_;
  pg::Connection target_;
  pg::Connection control_;
};

std::pair<std::string, std::vector<std::optional<std::string>>> CrossVerifier::source_range(
    const CrossPlan& plan, const Range& range) const {
  const std::string column =
      "t." + source_.dialect().quote(plan.table->legacy.columns[plan.table->key.front()].name);
  std::string where;
  std::vector<std::optional<std::string>> params;
  if (range.lower) {
    where += column + " > ?";
    params.push_back(std::to_string(*range.lower));
  }
  if (range.upper) {
    where += std::string(where.empty() ? "" : " AND ") + column + " <= ?";
    params.push_back(std::to_string(*range.upper));
  }
  return {where.empty() ? "" : " WHERE " + where, params};
}

std::string CrossVerifier::target_range(const CrossPlan& plan, const Range& range) const {
  const std::string column = pg::quote_ident(plan.target.columns[plan.table->key.front()].name);
  std::string where;
  if (range.lower) where += column + " > " + std::to_string(*range.lower);
  if (range.upper) {
    where +=
        std::string(where.empty() ? "" : " AND ") + column + " <= " + std::to_string(*range.upper);
  }
  return where.empty() ? "" : " WHERE " + where;
}

std::pair<ChunkRows, ChunkRows> CrossVerifier::read_both(const CrossPlan& plan,
                                                         const Range& range) {
  auto target = std::async(std::launch::async,
                           [&] { return read_target(target_, plan, target_range(plan, range)); });
  ChunkRows source;
  try {
    const auto [where, params] = source_range(plan, range);
    source = read_source(source_.connection(), plan, where, params);
  } catch (...) {
    target.wait();
    throw;
  }
  return {std::move(source), target.get()};
}

ChunkRows CrossVerifier::probe_source(const CrossPlan& plan, const std::vector<KeyText>& keys) {
  ChunkRows all;
  for (size_t start = 0; start < keys.size(); start += kKeysPerProbe) {
    std::string where;
    std::vector<std::optional<std::string>> params;
    for (size_t idx = start; idx < std::min(keys.size(), start + kKeysPerProbe); ++idx) {
      where += where.empty() ? "(" : " OR (";
      for (size_t k = 0; k < plan.table->key.size(); ++k) {
        const auto& legacy = plan.table->legacy.columns[plan.table->key[k]];
        where +=
            std::string(k ? " AND " : "") + "t." + source_.dialect().quote(legacy.name) + " = ?";
        params.push_back(keys[idx][k]);
      }
      where += ")";
    }
    append_rows(all, read_source(source_.connection(), plan, " WHERE " + where, params));
  }
  return all;
}

ChunkRows CrossVerifier::probe_target(const CrossPlan& plan, const std::vector<KeyText>& keys) {
  ChunkRows all;
  std::string tuple = "(";
  for (size_t k = 0; k < plan.table->key.size(); ++k) {
    tuple +=
        std::string(k ? ", " : "") + pg::quote_ident(plan.target.columns[plan.table->key[k]].name);
  }
  tuple += ")";
  for (size_t start = 0; start < keys.size(); start += kKeysPerProbe) {
    std::string list;
    for (size_t idx = start; idx < std::min(keys.size(), start + kKeysPerProbe); ++idx) {
      list += list.empty() ? "(" : ", (";
      for (size_t k = 0; k < plan.table->key.size(); ++k) {
        list += std::string(k ? ", " : "") + pg::quote_literal(keys[idx][k]) +
                "::" + plan.target.columns[plan.table->key[k]].type_name[1];
      }
      list += ")";
    }
    append_rows(all, read_target(target_, plan, " WHERE " + tuple + " IN (" + list + ")"));
  }
  return all;
}

uint64_t CrossVerifier::source_position() {
  return source_.dialect().highest_sequence(source_.connection(), config_.name) + 1;
}

bool CrossVerifier::wait_applied(uint64_t position) {
  const auto deadline = Clock::now() + config_.verify.recheck_timeout;
  bool running_checked = false;
  while (!stop_requested()) {
    const auto applied = control::origin_progress(control_, config_.origin_name(), false);
    if (applied && applied->value >= position) return true;
    if (!running_checked) {
      // Nothing applies the source's changes while no replicate runs.
      if (StreamLock::try_take(config_) != nullptr) return false;
      running_checked = true;
    }
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void CrossVerifier::settle(const CrossPlan& plan, const std::vector<KeyText>& keys,
                           TableReport& report, std::vector<KeyText>* in_flight_keys) {
  std::vector<KeyText> pending = keys;
  std::vector<std::string> unsettled;                       // canonical keys still open
  std::map<std::string, std::optional<KeyEntry>> previous;  // the last round's source rows
  uint64_t position = 0;
  bool applied = true;
  for (int round = 1; round <= kMaxRounds && !pending.empty() && !stop_requested(); ++round) {
    const ChunkRows source = probe_source(plan, pending);
    position = source_position();
    applied = wait_applied(position);
    const ChunkRows target = probe_target(plan, pending);
    const KeyIndex source_index = index_rows(source);
    const KeyIndex target_index = index_rows(target);
    // Both sides' keys, matched by their exact canonical bytes.
    std::set<std::string> canonical;
    for (const auto& [key, entry] : source_index) canonical.insert(std::string(key));
    for (const auto& [key, entry] : target_index) canonical.insert(std::string(key));
    unsettled.clear();
    for (const std::string& key : canonical) {
      const auto in_source = source_index.find(key);
      const auto in_target = target_index.find(key);
      const std::optional<KeyEntry> now =
          in_source == source_index.end() ? std::nullopt : std::optional(in_source->second);
      if (now && in_target != target_index.end() && *now == in_target->second) continue;
      const MismatchKind kind = !now                              ? MismatchKind::kExtra
                                : in_target == target_index.end() ? MismatchKind::kMissing
                                                                  : MismatchKind::kDifferent;
      const auto seen = previous.find(key);
      if (applied && seen != previous.end() && seen->second == now) {
        Finding finding = make_finding(plan.target, key, kind, Lsn(position));
        store::record_mismatch(control_, config_.name, plan.target, finding);
        spdlog::warn("{}: {} row {} at changelog sequence {}", plan.target.display, to_string(kind),
                     boost::json::serialize(finding.key_json), position);
        report.mismatches.push_back(std::move(finding));
        continue;
      }
      previous[key] = now;
      unsettled.push_back(key);
    }
    pending = key_texts(unsettled);
    if (!applied) break;  // the stream is stopped or far behind: no use waiting again
  }
  if (unsettled.empty()) return;
  const Unsettled why = applied                                    ? Unsettled::kKeptChanging
                        : StreamLock::try_take(config_) != nullptr ? Unsettled::kStreamStopped
                                                                   : Unsettled::kStreamBehind;
  for (const std::string& key : unsettled) {
    report.in_flight.push_back(
        make_finding(plan.target, key, MismatchKind::kDifferent, Lsn(position)));
    ++report.unsettled[why];
  }
  if (in_flight_keys) in_flight_keys->insert(in_flight_keys->end(), pending.begin(), pending.end());
}

void CrossVerifier::finish(const CrossPlan& plan, TableReport& report, uint64_t position,
                           const std::string& started, bool full) {
  const std::string status = !report.completed            ? "stopped"
                             : !report.mismatches.empty() ? "mismatch"
                             : !report.in_flight.empty()  ? "in_flight"
                                                          : "clean";
  if (!report.completed) return;
  store::finish_pass(control_, config_.name, plan.target, status, Lsn(position), report.source_rows,
                     report.chunks, report.mismatches.size(), report.in_flight.size());
  if (full) {
    store::resolve_unseen(control_, config_.name, plan.target, started);
    store::clear_dirty_through(control_, config_.name, plan.target, Lsn(position));
  }
}

TableReport CrossVerifier::full_pass(const CrossPlan& plan) {
  TableReport report;
  report.table = plan.target.display;
  report.whole_table = true;
  const auto started_at = Clock::now();
  const std::string started = store::begin_pass(control_, config_.name, plan.target);
  const uint64_t position = source_position();

  std::vector<Range> ranges;
  std::optional<int64_t> low, high;
  if (plan.ranged) {
    // The key's extent on either side: rows only the target has count too.
    const std::string& legacy_key = plan.table->legacy.columns[plan.table->key.front()].name;
    odbc::Statement bounds(source_.connection(),
                           "SELECT MIN(t." + source_.dialect().quote(legacy_key) + "), MAX(t." +
                               source_.dialect().quote(legacy_key) + ")" + plan.source_from,
                           {}, 1);
    std::vector<Value> row;
    auto widen = [&](const Value& min, const Value& max) {
      if (min.type == ValueType::kInt) low = low ? std::min(*low, min.integer) : min.integer;
      if (max.type == ValueType::kInt) high = high ? std::max(*high, max.integer) : max.integer;
    };
    if (bounds.next(row)) widen(row[0], row[1]);
    const std::string key = pg::quote_ident(plan.target.columns[plan.table->key.front()].name);
    pg::Result target_bounds = target_.exec("SELECT min(" + key + ")::int8, max(" + key +
                                            ")::int8 FROM " + plan.target.qualified);
    if (!target_bounds.is_null(0, 0)) {
      widen(Value::of_int(ValueType::kInt, std::stoll(target_bounds.str(0, 0))),
            Value::of_int(ValueType::kInt, std::stoll(target_bounds.str(0, 1))));
    }
  }
  uint64_t width = 10'000;
  std::optional<int64_t> lower;  // the first chunk is open below
  const uint64_t rate = config_.verify.max_rows_per_second;
  while (!stop_requested()) {
    Range range{lower, std::nullopt};
    if (plan.ranged && low && high) {
      const __int128 start = lower ? *lower : static_cast<__int128>(*low) - 1;
      const __int128 end = start + static_cast<__int128>(width);
      if (end < *high) range.upper = static_cast<int64_t>(end);
    }
    const auto chunk_started = Clock::now();
    auto [source, target] = read_both(plan, range);
    ++report.chunks;
    report.source_rows += source.size();
    report.target_rows += target.size();
    report.bytes += source.bytes + target.bytes;
    if (!(source.digest == target.digest)) {
      const std::vector<std::string> keys = differing_keys(source, target);
      report.rechecked += keys.size();
      settle(plan, key_texts(keys), report);
    }
    if (!range.upper) break;
    lower = range.upper;
    // Aim the next chunk at kChunkRows rows.
    const uint64_t rows = std::max<uint64_t>(source.size(), 1);
    width = std::clamp<uint64_t>(width * kChunkRows / rows, 1, 1ull << 40);
    if (rate > 0) {
      const auto budget = std::chrono::duration<double>(static_cast<double>(source.size()) /
                                                        static_cast<double>(rate));
      const auto spent = Clock::now() - chunk_started;
      if (budget > spent) {
        sleep_unless_stopped(std::chrono::duration_cast<std::chrono::milliseconds>(budget - spent));
      }
    }
  }
  report.completed = !stop_requested();
  report.seconds = std::chrono::duration<double>(Clock::now() - started_at).count();
  finish(plan, report, position, started, /*full=*/true);
  return report;
}

TableReport CrossVerifier::dirty_pass(const CrossPlan& plan) {
  const store::DirtySet dirty = store::read_dirty(control_, config_.name, plan.target);
  if (dirty.whole_table || dirty.keys.size() > kMaxDirtyKeys) return full_pass(plan);
  TableReport report;
  report.table = plan.target.display;
  const auto started_at = Clock::now();
  if (!dirty.keys.empty()) {
    const std::string started = store::begin_pass(control_, config_.name, plan.target);
    report.source_rows = dirty.keys.size();
    report.rechecked = dirty.keys.size();
    std::vector<KeyText> in_flight;
    settle(plan, dirty.keys, report, &in_flight);
    store::clear_dirty(control_, dirty.rows);
    const uint64_t position = source_position();
    if (!in_flight.empty()) {
      store::mark_dirty(control_, config_.name, plan.target, in_flight, Lsn(position));
    }
    report.completed = !stop_requested();
    finish(plan, report, position, started, /*full=*/false);
  }
  report.seconds = std::chrono::duration<double>(Clock::now() - started_at).count();
  return report;
}

// Re-copies rows by key: in one target transaction, the target rows are
// locked first (an apply statement on them waits), then read on the
// source, then written (upsert, or delete where the source has none). A
// change the stream applies after the commit is newer than what was read.
RepairReport CrossVerifier::repair(const CrossPlan& plan, const std::vector<KeyText>& keys) {
  RepairReport result;
  result.table = plan.target.display;
  if (keys.empty()) return result;
  const LegacyStreamTable& table = *plan.table;
  LegacyValues values(source_.engine(), table.legacy, table.translation);
  std::vector<std::string> names;
  for (const auto& column : table.translation.columns) names.push_back(column.name);
  TableShape shape;
  shape.qualified = plan.target.qualified;
  shape.columns = names;
  shape.key_columns = table.key;
  shape.upsert = true;
  shape.identity_always.assign(names.size(), false);
  const std::string upsert = insert_rows_sql(shape, 1);
  std::string key_match;
  for (size_t k = 0; k < table.key.size(); ++k) {
    key_match += std::string(k ? " AND " : "") + pg::quote_ident(names[table.key[k]]) + " = $" +
                 std::to_string(k + 1) + "::" + plan.target.columns[table.key[k]].type_name[1];
  }
  std::string captured;
  for (const auto& column : table.legacy.columns) {
    captured += (captured.empty() ? "" : ", ") + source_.dialect().captured_value("t", column);
  }
  std::string source_match;
  for (size_t k = 0; k < table.key.size(); ++k) {
    source_match += std::string(k ? " AND " : "") + "t." +
                    source_.dialect().quote(table.legacy.columns[table.key[k]].name) + " = ?";
  }
  pg::Transaction transaction(target_);
  target_.exec("SET LOCAL session_replication_role = replica");
  for (const KeyText& key : keys) {
    pg::Params params(key.begin(), key.end());
    target_.exec("SELECT 1 FROM " + plan.target.qualified + " WHERE " + key_match + " FOR UPDATE",
                 params);
    std::vector<std::optional<std::string>> source_params(key.begin(), key.end());
    odbc::Statement statement(source_.connection(),
                              "SELECT " + captured + plan.source_from + " WHERE " + source_match,
                              source_params, 1);
    std::vector<Value> row;
    if (statement.next(row)) {
      pg::Params row_params;
      std::string scratch;
      for (size_t idx = 0; idx < row.size(); ++idx) {
        const std::optional<std::string_view> text = captured_text(row[idx], scratch);
        Datum datum = values.to_target(idx, text, [&] { return describe_key({}); });
        row_params.push_back(datum.kind == DatumKind::kNull ? std::nullopt
                                                            : std::optional(datum.bytes));
      }
      target_.exec(upsert, row_params);
    } else {
      target_.exec("DELETE FROM " + plan.target.qualified + " WHERE " + key_match, params);
    }
    store::resolve(control_, config_.name, plan.target, key, "repaired");
    ++result.repaired;
    spdlog::info("{}: repaired row ({})", plan.target.display, [&] {
      std::string shown;
      for (const auto& part : key) shown += (shown.empty() ? "" : ", ") + part;
      return shown;
    }());
  }
  transaction.commit();
  // Compared once more, tied to a position.
  TableReport check;
  settle(plan, keys, check);
  result.unsettled = check.mismatches.size() + check.in_flight.size();
  return result;
}

}  // namespace

Outcome run_legacy_verify(const Config& config, const Request& request) {
  const auto started = Clock::now();
  Outcome outcome;
  outcome.mode = request.mode;
  outcome.stream = config.name;
  auto passes = [&](CrossVerifier& verifier) {
    const std::vector<CrossPlan> plans = verifier.plans(request.table);
    for (int pass = 1; !stop_requested(); ++pass) {
      outcome.tables.clear();
      for (const CrossPlan& plan : plans) {
        if (stop_requested()) break;
        TableReport report =
            request.mode == Mode::kDirtyOnly ? verifier.dirty_pass(plan) : verifier.full_pass(plan);
        if (report.source_rows == 0 && report.target_rows == 0 && report.chunks == 0) {
          continue;  // a dirty-only pass with nothing changed
        }
        const double mb = static_cast<double>(report.bytes) / (1 << 20);
        spdlog::info(
            "{}: {} rows compared ({} on the {}) in {} chunks, {:.1f} MB/s; {} re-checked, {} "
            "mismatches, {} in flight; {}",
            report.table, report.source_rows, report.target_rows, config.target.name, report.chunks,
            report.seconds > 0 ? mb / report.seconds : 0.0, report.rechecked,
            report.mismatches.size(), report.in_flight.size(), format_duration(report.seconds));
        outcome.tables.push_back(std::move(report));
      }
      if (request.mode != Mode::kContinuous) return;
      spdlog::info(
          "verify pass {} done: {} mismatches, {} in flight; next pass in {}", pass,
          outcome.mismatches(), outcome.in_flight(),
          format_duration(static_cast<double>(config.verify.pass_interval.count()) / 1000));
      if (!sleep_unless_stopped(config.verify.pass_interval)) return;
    }
  };
  if (request.mode == Mode::kRepair) {
    CrossVerifier verifier(config);
    pg::Connection control(config.target.conninfo, config.target.name);
    const auto open = store::open_mismatches(control, config.name);
    for (const CrossPlan& plan : verifier.plans(request.table)) {
      std::vector<KeyText> keys;
      for (const auto& mismatch : open) {
        if (mismatch.schema == plan.target.schema && mismatch.name == plan.target.name) {
          keys.push_back(mismatch.key);
        }
      }
      if (!keys.empty()) outcome.repairs.push_back(verifier.repair(plan, keys));
    }
  } else if (request.mode != Mode::kContinuous) {
    CrossVerifier verifier(config);
    passes(verifier);
  } else {
    Backoff backoff(std::chrono::milliseconds(500), config.stream.reconnect_max);
    while (!stop_requested()) {
      try {
        CrossVerifier verifier(config);
        backoff.reset();
        passes(verifier);
      } catch (const Error& error) {
        if (!error.retryable() || stop_requested()) throw;
        const auto delay = backoff.next_delay();
        spdlog::warn("{}; reconnecting in {}", error.what(),
                     format_duration(static_cast<double>(delay.count()) / 1000));
        if (!sleep_unless_stopped(delay)) break;
      }
    }
  }
  outcome.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return outcome;
}

}  // namespace switchyard::verify
