#include "verify/legacy_sides.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "common/error.h"
#include "common/shutdown.h"
#include "common/units.h"
#include "control/control_schema.h"
#include "drivers/pg/binary_copy.h"
#include "drivers/pg/sql.h"
#include "replicator/apply_statements.h"
#include "replicator/legacy_source.h"
#include "replicator/legacy_values.h"
#include "replicator/stream_lock.h"
#include "verify/canonical_encoding.h"
#include "verify/chunk_hasher.h"
#include "verify/recheck.h"
#include "verify/verify_store.h"

namespace switchyard::verify {
namespace {

constexpr size_t kKeysPerProbe = 200;          // on the source: a chain of ORs
constexpr size_t kKeysPerTargetProbe = 2'000;  // on the target: one IN list

// ---- values -------------------------------------------------------------

// How a source value is brought to the target column's type before
// encoding (see legacy_sides.h).
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

}  // namespace

struct LegacyPlan {
  const LegacyStreamTable* table = nullptr;
  TablePlan target;  // the target's reads; names and key for the store and findings
  std::vector<std::string> source_columns;  // select-list expressions on the source
  std::vector<Coerce> coerce;
  std::vector<int> scale;
  std::string source_from;
  // A key that is not an integer but whose values the source can bound in
  // its own order (character, date and number columns; not binary):
  // ranged on the source, probed on the target (LegacySides::read_range).
  bool text_ranged = false;
  uint64_t target_matched = 0;  // target rows found by probes so far this pass
};

namespace {

int numeric_scale(const std::string& type) {
  const size_t comma = type.find(',');
  if (type.rfind("numeric", 0) != 0) return -1;
  if (comma == std::string::npos) return type.find('(') == std::string::npos ? -1 : 0;
  return std::atoi(type.c_str() + comma + 1);
}

LegacyPlan plan_legacy_table(LegacySource& source, pg::Connection& target,
                             const LegacyStreamTable& table) {
  LegacyPlan plan;
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
  // Chunks step by the first key column's value when it is an integer
  // (the only key column or not: LegacySides::read_range).
  plan.target.integer_key = first == "smallint" || first == "integer" || first == "bigint";
  plan.text_ranged = !plan.target.integer_key;
  for (size_t idx : table.key) {
    if (odbc::is_binary(table.legacy.columns[idx])) plan.text_ranged = false;
  }
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
void append_source(std::string& out, const LegacyPlan& plan, size_t column, const Value& value,
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

void append_target(std::string& out, const LegacyPlan& plan, size_t column, const Value& value,
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

ChunkRows read_source_rows(odbc::Connection& connection, const LegacyPlan& plan,
                           const std::string& where,
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

ChunkRows read_target_rows(pg::Connection& connection, const LegacyPlan& plan,
                           const std::string& where) {
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

}  // namespace

// ---- the sides ----------------------------------------------------------

LegacySides::LegacySides(const Config& config)
    : config_(config),
      source_(config),
      tables_([this] {
        std::vector<std::string> problems;  // not streamed: replicate names them
        return source_.selected_tables(&problems);
      }()),
      target_(config.target.conninfo, config.target.name, pg::Mode::kNormal, "verify"),
      control_(config.target.conninfo, config.target.name, pg::Mode::kNormal, "control") {}

LegacySides::~LegacySides() = default;

bool LegacySides::names_table(const std::string& given, const std::string& schema,
                              const std::string& name) const {
  if (given == schema + "." + name) return true;
  return std::any_of(tables_.begin(), tables_.end(), [&](const LegacyStreamTable& table) {
    return table.translation.schema == schema && table.translation.name == name &&
           table.legacy_display() == given;
  });
}

TablePlan LegacySides::plan(const std::string& schema, const std::string& name) {
  for (const LegacyStreamTable& table : tables_) {
    if (table.translation.schema != schema || table.translation.name != name) continue;
    auto plan = std::make_unique<LegacyPlan>(plan_legacy_table(source_, target_, table));
    plan->target.estimated_rows = static_cast<double>(
        source_.dialect().table_size(source_.connection(), table.legacy.name).rows);
    TablePlan out = plan->target;
    plans_[out.display] = std::move(plan);
    return out;
  }
  throw Error(ErrorKind::kPrecondition, "source: table " + schema + "." + name + " of stream " +
                                            config_.name +
                                            " is not selected by tables.include any more");
}

LegacyPlan& LegacySides::legacy_plan(const TablePlan& plan) const {
  auto found = plans_.find(plan.display);
  if (found == plans_.end()) {
    throw Error(ErrorKind::kInternal, "verify: " + plan.display + " was not planned");
  }
  return *found->second;
}

Lsn LegacySides::source_position() {
  return Lsn(source_.dialect().highest_sequence(source_.connection(), config_.name) + 1);
}

SideRead LegacySides::read_source(const LegacyPlan& plan, const std::string& where,
                                  const std::vector<std::optional<std::string>>& params) {
  SideRead read;
  read.rows = read_source_rows(source_.connection(), plan, where, params);
  // After the read: every change it saw lies below.
  read.position = source_position();
  return read;
}

SideRead LegacySides::read_target(pg::Connection& connection, const LegacyPlan& plan,
                                  const std::string& where) {
  SideRead read;
  read.position =
      control::origin_progress(connection, config_.origin_name(), false).value_or(Lsn{});
  read.rows = read_target_rows(connection, plan, where);
  return read;
}

std::pair<SideRead, SideRead> LegacySides::read_range(const TablePlan& table, const KeyText* lower,
                                                      const KeyText* upper) {
  LegacyPlan& plan = legacy_plan(table);
  if (plan.text_ranged) return read_text_range(plan, lower, upper);
  // Bounds on the first key column's value (TablePlan::integer_key).
  const std::string source_column =
      "t." + source_.dialect().quote(plan.table->legacy.columns[plan.table->key.front()].name);
  const std::string target_column =
      pg::quote_ident(plan.target.columns[plan.table->key.front()].name);
  std::string source_where, target_where;
  std::vector<std::optional<std::string>> params;
  auto bound = [&](const KeyText* key, const char* op) {
    if (!key) return;
    const std::string value = std::to_string(std::stoll(key->front()));
    source_where +=
        std::string(source_where.empty() ? " WHERE " : " AND ") + source_column + op + "?";
    params.push_back(value);
    target_where +=
        std::string(target_where.empty() ? " WHERE " : " AND ") + target_column + op + value;
  };
  bound(lower, " > ");
  bound(upper, " <= ");
  auto target =
      std::async(std::launch::async, [&] { return read_target(target_, plan, target_where); });
  SideRead source;
  try {
    source = read_source(plan, source_where, params);
  } catch (...) {
    target.wait();  // never leave the other thread using target_
    throw;
  }
  return {std::move(source), target.get()};
}

// One parameter per key column, as a row value when there are several.
static std::string key_placeholders(size_t width) {
  std::string out = "?";
  for (size_t k = 1; k < width; ++k) out += ", ?";
  return width > 1 ? "(" + out + ")" : out;
}

// The key columns on the source, as a row value when there are several.
std::string LegacySides::source_key(const LegacyPlan& plan) const {
  std::string columns;
  for (size_t idx : plan.table->key) {
    columns += (columns.empty() ? "" : ", ") + std::string("t.") +
               source_.dialect().quote(plan.table->legacy.columns[idx].name);
  }
  return plan.table->key.size() == 1 ? columns : "(" + columns + ")";
}

std::optional<KeyText> LegacySides::split_point(const TablePlan& table, const KeyText* lower,
                                                uint64_t rows) {
  const LegacyPlan& plan = legacy_plan(table);
  if (!plan.text_ranged) return std::nullopt;  // one chunk
  const size_t width = plan.table->key.size();
  const std::string placeholders = key_placeholders(width);
  std::string select;
  for (size_t idx : plan.table->key) {
    select += (select.empty() ? "" : ", ") +
              source_.dialect().captured_value("t", plan.table->legacy.columns[idx]);
  }
  std::string order;
  for (size_t idx : plan.table->key) {
    order += (order.empty() ? "" : ", ") + std::string("t.") +
             source_.dialect().quote(plan.table->legacy.columns[idx].name);
  }
  std::vector<std::optional<std::string>> params;
  std::string where;
  if (lower) {
    where = " WHERE " + source_key(plan) + " > " + placeholders;
    params.assign(lower->begin(), lower->end());
  }
  odbc::Statement statement(source_.connection(),
                            "SELECT " + select + plan.source_from + where + " ORDER BY " + order +
                                " LIMIT 1 OFFSET " +
                                std::to_string(std::max<uint64_t>(rows, 1) - 1),
                            params, 1);
  std::vector<Value> row;
  if (!statement.next(row)) return std::nullopt;
  KeyText upper;
  std::string scratch;
  for (const Value& value : row) {
    const auto text = captured_text(value, scratch);
    if (!text) return std::nullopt;  // a NULL in a unique key: no bound to take
    upper.emplace_back(*text);
  }
  return upper;
}

// A text key's chunk: the source range lower < key <= upper in the
// source's own order (its collation, its key index), and on the target
// exactly the keys that range holds, matched by their bytes. A row only the
// target holds is in no source range: the pass's last chunk looks for such
// rows when the target holds more rows than the chunks matched.
std::pair<SideRead, SideRead> LegacySides::read_text_range(LegacyPlan& plan, const KeyText* lower,
                                                           const KeyText* upper) {
  if (!lower) plan.target_matched = 0;
  const size_t width = plan.table->key.size();
  const std::string placeholders = key_placeholders(width);
  std::string where;
  std::vector<std::optional<std::string>> params;
  if (lower) {
    where += " WHERE " + source_key(plan) + " > " + placeholders;
    params.insert(params.end(), lower->begin(), lower->end());
  }
  if (upper) {
    where +=
        std::string(where.empty() ? " WHERE " : " AND ") + source_key(plan) + " <= " + placeholders;
    params.insert(params.end(), upper->begin(), upper->end());
  }
  const Lsn applied = applied_position();  // before the target is read
  SideRead source = read_source(plan, where, params);
  std::vector<std::string> keys;
  keys.reserve(source.rows.size());
  for (size_t row = 0; row < source.rows.size(); ++row) keys.emplace_back(source.rows.key(row));
  SideRead target = read_keys(Side::kTarget, plan.target, key_texts(keys));
  target.position = applied;
  plan.target_matched += target.rows.size();
  if (!upper) add_target_only_rows(plan, target.rows);
  return {std::move(source), std::move(target)};
}

// Rows only the target holds (a key whose bytes differ from the source's,
// say 'ZETA' for 'Zeta'): every target key, a page at a time in the
// target's key order, looked up on the source; a key the source does not
// hold byte for byte joins `rows`, so that the pass reports it.
void LegacySides::add_target_only_rows(const LegacyPlan& plan, ChunkRows& rows) {
  pg::Result count = target_.exec("SELECT count(*) FROM " + plan.target.qualified);
  if (std::stoull(count.str(0, 0)) <= plan.target_matched) return;
  constexpr size_t kPage = 5000;
  std::string key_columns, order;
  for (size_t idx : plan.table->key) {
    key_columns +=
        (key_columns.empty() ? "" : ", ") + pg::quote_ident(plan.target.columns[idx].name);
  }
  const std::string tuple = "(" + key_columns + ")";
  std::optional<KeyText> after;
  while (!stop_requested()) {
    std::string where;
    if (after) {
      where = " WHERE " + tuple + " > (";
      for (size_t k = 0; k < after->size(); ++k) {
        where += std::string(k ? ", " : "") + pg::quote_literal((*after)[k]) +
                 "::" + plan.target.columns[plan.table->key[k]].type_name[1];
      }
      where += ")";
    }
    const ChunkRows page = read_target_rows(
        target_, plan, where + " ORDER BY " + key_columns + " LIMIT " + std::to_string(kPage));
    if (page.size() == 0) return;
    std::vector<std::string> keys;
    for (size_t row = 0; row < page.size(); ++row) keys.emplace_back(page.key(row));
    const std::vector<KeyText> texts = key_texts(keys);
    const SideRead on_source = read_keys(Side::kSource, plan.target, texts);
    const KeyIndex source_index = index_rows(on_source.rows);
    for (size_t row = 0; row < page.size(); ++row) {
      if (source_index.count(page.key(row))) continue;
      rows.digest.add(page.hashes[row]);
      rows.hashes.push_back(page.hashes[row]);
      rows.keys.append(page.key(row));
      rows.key_end.push_back(rows.keys.size());
    }
    if (page.size() < kPage) return;
    after = texts.back();
  }
}

SideRead LegacySides::read_keys(Side side, const TablePlan& table,
                                const std::vector<KeyText>& keys) {
  const LegacyPlan& plan = legacy_plan(table);
  SideRead all;
  auto add = [&](SideRead part) {
    all.position = std::max(all.position, part.position);
    append_rows(all.rows, part.rows);
  };
  if (side == Side::kSource) {
    for (size_t start = 0; start < keys.size(); start += kKeysPerProbe) {
      std::string where;
      std::vector<std::optional<std::string>> params;
      for (size_t idx = start; idx < std::min(keys.size(), start + kKeysPerProbe); ++idx) {
        where += where.empty() ? " WHERE (" : " OR (";
        for (size_t k = 0; k < plan.table->key.size(); ++k) {
          const auto& legacy = plan.table->legacy.columns[plan.table->key[k]];
          where +=
              std::string(k ? " AND " : "") + "t." + source_.dialect().quote(legacy.name) + " = ?";
          params.push_back(keys[idx][k]);
        }
        where += ")";
      }
      add(read_source(plan, where, params));
    }
    if (keys.empty()) all.position = source_position();
    return all;
  }
  std::string tuple = "(";
  for (size_t k = 0; k < plan.table->key.size(); ++k) {
    tuple +=
        std::string(k ? ", " : "") + pg::quote_ident(plan.target.columns[plan.table->key[k]].name);
  }
  tuple += ")";
  for (size_t start = 0; start < keys.size(); start += kKeysPerTargetProbe) {
    std::string list;
    for (size_t idx = start; idx < std::min(keys.size(), start + kKeysPerTargetProbe); ++idx) {
      list += list.empty() ? "(" : ", (";
      for (size_t k = 0; k < plan.table->key.size(); ++k) {
        list += std::string(k ? ", " : "") + pg::quote_literal(keys[idx][k]) +
                "::" + plan.target.columns[plan.table->key[k]].type_name[1];
      }
      list += ")";
    }
    add(read_target(target_, plan, " WHERE " + tuple + " IN (" + list + ")"));
  }
  return all;
}

std::optional<std::pair<int64_t, int64_t>> LegacySides::key_extent(const TablePlan& table) {
  const LegacyPlan& plan = legacy_plan(table);
  const std::string column =
      "t." + source_.dialect().quote(plan.table->legacy.columns[plan.table->key.front()].name);
  odbc::Statement bounds(source_.connection(),
                         "SELECT MIN(" + column + "), MAX(" + column + ")" + plan.source_from, {},
                         1);
  std::vector<Value> row;
  if (!bounds.next(row) || row[0].type != ValueType::kInt || row[1].type != ValueType::kInt) {
    return std::nullopt;
  }
  return std::pair{row[0].integer, row[1].integer};
}

Lsn LegacySides::applied_position() {
  return control::origin_progress(control_, config_.origin_name(), false).value_or(Lsn{});
}

bool LegacySides::stream_running() {
  return StreamLock::try_take(config_) == nullptr;
}

RepairReport LegacySides::repair(const TablePlan& table_plan, const std::vector<KeyText>& keys) {
  const LegacyPlan& plan = legacy_plan(table_plan);
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
  // The key's row by its exact bytes: found through the key's index (the
  // collation's equality, under which 'W1' finds 'w1'), then held to the
  // same bytes, so that a target-only case variant is deleted, not
  // overwritten with the source's row.
  std::string source_match;
  for (size_t k = 0; k < table.key.size(); ++k) {
    const odbc::LegacyColumn& column = table.legacy.columns[table.key[k]];
    const std::string name = "t." + source_.dialect().quote(column.name);
    source_match += std::string(k ? " AND " : "") + name + " = ? AND " +
                    source_.dialect().exactly_equal(name, "?", column);
  }
  pg::Transaction transaction(target_);
  target_.exec("SET LOCAL session_replication_role = replica");
  for (const KeyText& key : keys) {
    pg::Params params(key.begin(), key.end());
    target_.exec("SELECT 1 FROM " + plan.target.qualified + " WHERE " + key_match + " FOR UPDATE",
                 params);
    std::vector<std::optional<std::string>> source_params;
    for (const std::string& part : key) source_params.insert(source_params.end(), 2, part);
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
  // Compared once more, tied to a position: a row still different is
  // recorded again.
  auto [source, target] = read_keys_both(plan.target, keys);
  for (const Settled& key :
       recheck(*this, plan.target, differing_keys(source.rows, target.rows), config_.verify)) {
    if (key.verdict == Verdict::kEqual) continue;
    ++result.unsettled;
    if (key.verdict == Verdict::kMismatch) {
      store::record_mismatch(control_, config_.name, plan.target,
                             make_finding(plan.target, key.key, key.kind, key.source_position));
    }
  }
  return result;
}

}  // namespace switchyard::verify
