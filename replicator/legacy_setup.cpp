#include "replicator/legacy_setup.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "common/error.h"
#include "common/metrics.h"
#include "common/shutdown.h"
#include "common/units.h"
#include "control/control_schema.h"
#include "drivers/pg/binary_copy_writer.h"
#include "drivers/pg/sql.h"
#include "replicator/legacy_source.h"

namespace switchyard {
namespace {

using Clock = std::chrono::steady_clock;

std::string source_identity(const LegacySource& source) {
  return "odbc:" + source.engine();
}

bool target_table_exists(pg::Connection& target, const TableTranslation& table) {
  return target
             .exec(
                 "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON "
                 "n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                 {table.schema, table.name})
             .rows() > 0;
}

// Removes what a failed init created on the source, as far as it got.
void remove_capture(LegacySource& source, const Config& config,
                    const std::vector<LegacyStreamTable>& tables) {
  std::vector<odbc::LegacyTable> legacy;
  for (const auto& table : tables) legacy.push_back(table.legacy);
  for (const std::string& statement : source.dialect().capture_remove(config.name, legacy)) {
    try {
      source.connection().exec(statement);
    } catch (const Error& error) {
      spdlog::warn("source: could not undo: {}", error.what());
    }
  }
}

// ... and on the target.
void remove_target_objects(pg::Connection& target, const Config& config,
                           const std::vector<TableTranslation>& created,
                           const std::set<std::string>& created_schemas) {
  try {
    pg::Transaction transaction(target);
    for (const auto& table : created) {
      target.exec("DROP TABLE IF EXISTS " + pg::qualified(table.schema, table.name));
      for (const auto& column : table.columns) {
        if (column.enum_values.empty()) continue;
        const size_t dot = column.type.find('.');
        target.exec("DROP TYPE IF EXISTS " +
                    pg::qualified(column.type.substr(0, dot), column.type.substr(dot + 1)));
      }
    }
    // A schema this init created holds nothing but what it created.
    for (const auto& schema : created_schemas) {
      target.exec("DROP SCHEMA IF EXISTS " + pg::quote_ident(schema) + " CASCADE");
    }
    control::drop_origin(target, config.origin_name());
    control::remove_stream(target, config.name);
    transaction.commit();
  } catch (const Error& error) {
    spdlog::warn("target: could not undo: {}", error.what());
  }
}

// COPY text format: backslash, tab, newline and carriage return escaped;
// \N for NULL.
void append_copy_field(std::string& out, const Datum& datum) {
  if (datum.kind == DatumKind::kNull) {
    out += "\\N";
    return;
  }
  for (char c : datum.bytes) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
}

// Rows read by one statement, at most: drivers that fetch a whole result
// before the first row (MariaDB's Connector/ODBC 3.1 does) then hold this
// many rows, not a table.
constexpr uint64_t kRowsPerRead = 20'000;

struct CopyResult {
  uint64_t rows = 0;
  uint64_t bytes = 0;
  std::vector<uint64_t> zero_dates;  // per column
};

// A piece of one table's copy: the rows whose first key column is in
// (lower, upper], or the whole table when that column is no integer.
struct LegacyCopyPart {
  size_t table = 0;
  bool ranged = false;
  int64_t lower = 0;   // exclusive
  int64_t upper = 0;   // inclusive
  double density = 1;  // rows per key value, estimated
};

bool integer_type(const std::string& type) {
  return type == "smallint" || type == "integer" || type == "bigint";
}

// A legacy table is read through one ODBC statement per part, and a single
// reader converting every value is slower than the target's COPY: tables are
// split unless the configuration says otherwise.
constexpr uint64_t kLegacySplitBytes = 256ull << 20;

// Splits each table by its first key column's range when it is an integer:
// into `parts` pieces for a table larger than snapshot.split_tables_larger_than.
std::vector<LegacyCopyPart> plan_parts(const Config& config, LegacySource& source,
                                       const std::vector<LegacyStreamTable>& tables,
                                       uint64_t& rows_total) {
  std::vector<LegacyCopyPart> parts;
  rows_total = 0;
  for (size_t idx = 0; idx < tables.size(); ++idx) {
    const LegacyStreamTable& table = tables[idx];
    const odbc::Dialect::TableSize size =
        source.dialect().table_size(source.connection(), table.legacy.name);
    rows_total += size.rows;
    LegacyCopyPart part;
    part.table = idx;
    const size_t first = table.key.front();
    if (!integer_type(table.translation.columns[first].type)) {
      parts.push_back(part);
      continue;
    }
    const std::string column = source.dialect().quote(table.legacy.columns[first].name);
    odbc::Statement bounds(source.connection(),
                           "SELECT MIN(" + column + "), MAX(" + column + ") FROM " +
                               source.dialect().quote(table.legacy.name),
                           {}, 1);
    std::vector<Value> row;
    if (!bounds.next(row) || row[0].type != ValueType::kInt || row[1].type != ValueType::kInt) {
      parts.push_back(part);  // empty
      continue;
    }
    const int64_t min = row[0].integer, max = row[1].integer;
    const double span = static_cast<double>(max) - static_cast<double>(min) + 1;
    const uint64_t split = config.snapshot.split_tables_larger_than.value_or(kLegacySplitBytes);
    const uint64_t count = std::clamp<uint64_t>((size.bytes + split - 1) / split, 1,
                                                static_cast<uint64_t>(config.snapshot.workers) * 4);
    part.ranged = true;
    part.density = std::max(static_cast<double>(size.rows), 1.0) / span;
    const auto step = static_cast<__int128>(span / static_cast<double>(count)) + 1;
    for (__int128 lower = static_cast<__int128>(min) - 1; lower < max; lower += step) {
      part.lower = static_cast<int64_t>(lower);
      part.upper = static_cast<int64_t>(std::min<__int128>(lower + step, max));
      parts.push_back(part);
    }
  }
  return parts;
}

// How each of the table's columns travels in binary COPY, from the
// target's column types; empty when one has no binary form here (a type
// chosen by an override, such as interval or inet), and the table is
// copied in text. A SET's text[] is written from the form legacy_values
// gives it; another column overridden to text[] keeps its own spelling,
// which only text COPY reads.
std::vector<pg::SendForm> send_forms(pg::Connection& target, const LegacyStreamTable& table) {
  pg::Result types = target.exec(
      "SELECT a.attname, a.atttypid::int8, t.typtype FROM pg_catalog.pg_attribute a "
      "JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
      "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped",
      {pg::qualified(table.translation.schema, table.translation.name)});
  std::vector<pg::SendForm> forms;
  for (size_t idx = 0; idx < table.translation.columns.size(); ++idx) {
    const std::string& name = table.translation.columns[idx].name;
    std::optional<pg::SendForm> form;
    for (int row = 0; row < types.rows(); ++row) {
      if (types.get(row, 0) != name) continue;
      form = pg::send_form(static_cast<uint32_t>(std::stoul(std::string(types.get(row, 1)))),
                           types.get(row, 2).empty() ? 'b' : types.get(row, 2)[0]);
    }
    if (form == pg::SendForm::kTextArray && table.legacy.columns[idx].base != "set") form.reset();
    if (!form) {
      spdlog::info("{}: copied as text (column {} is {}, which has no binary form here)",
                   table.display(), name, table.translation.columns[idx].type);
      return {};
    }
    forms.push_back(*form);
  }
  return forms;
}

// One part: one consistent read on the source (statements of at most
// kRowsPerRead rows, key range after key range), one COPY on the target.
CopyResult copy_part(const LegacySource& source, const LegacyStreamTable& table,
                     const LegacyCopyPart& part, odbc::Connection& reader, pg::Connection& target,
                     std::atomic<uint64_t>& rows_done) {
  const auto& columns = table.legacy.columns;
  std::string select;
  for (const auto& column : columns) {
    select += (select.empty() ? "" : ", ") + source.dialect().captured_value("t", column);
  }
  select = "SELECT " + select + " FROM " + source.dialect().quote(table.legacy.name) + " t";
  const std::string range_column = "t." + source.dialect().quote(columns[table.key.front()].name);
  std::vector<std::string> names;
  for (const auto& column : table.translation.columns) names.push_back(column.name);
  const std::string qualified = pg::qualified(table.translation.schema, table.translation.name);

  LegacyValues values(source.engine(), table.legacy, table.translation);
  pg::Transaction transaction(target);
  const std::vector<pg::SendForm> forms = send_forms(target, table);
  const bool binary = !forms.empty();
  target.copy_in_start("COPY " + qualified + " (" + pg::ident_list(names) + ") FROM STDIN" +
                       (binary ? " (FORMAT binary)" : ""));
  reader.exec(source.dialect().consistent_read_begin());
  CopyResult result;
  std::string buffer;
  if (binary) pg::append_copy_header(buffer);
  std::vector<Value> row;
  std::vector<std::optional<std::string_view>> texts(columns.size());
  std::vector<std::string> scratch(columns.size());
  auto read = [&](const std::string& sql, const std::vector<std::optional<std::string>>& params) {
    odbc::Statement statement(reader, sql, params, 512);
    uint64_t rows = 0;      // read by this statement
    uint64_t reported = 0;  // of those, added to the totals
    while (statement.next(row)) {
      for (size_t idx = 0; idx < row.size(); ++idx) {
        texts[idx] = captured_text(row[idx], scratch[idx]);
      }
      auto key = [&] {
        std::vector<std::optional<std::string>> key_values;
        for (size_t idx : table.key) {
          key_values.push_back(texts[idx] ? std::optional(std::string(*texts[idx])) : std::nullopt);
        }
        return describe_key(key_values);
      };
      if (binary) {
        pg::append_field_count(buffer, static_cast<uint16_t>(row.size()));
        for (size_t idx = 0; idx < row.size(); ++idx) {
          const Datum datum = values.to_target(idx, texts[idx], key);
          if (datum.kind == DatumKind::kNull) {
            pg::append_null_field(buffer);
          } else if (!pg::append_field(buffer, forms[idx], datum.bytes)) {
            values.refuse(idx, *texts[idx], "is not a valid " + table.translation.columns[idx].type,
                          key);
          }
        }
      } else {
        for (size_t idx = 0; idx < row.size(); ++idx) {
          if (idx) buffer += '\t';
          append_copy_field(buffer, values.to_target(idx, texts[idx], key));
        }
        buffer += '\n';
      }
      ++rows;
      if (buffer.size() >= (1u << 20)) {
        result.bytes += buffer.size();
        target.copy_in_put(buffer);
        buffer.clear();
        rows_done += rows - reported;
        result.rows += rows - reported;
        reported = rows;
        if (stop_requested()) throw Error(ErrorKind::kInterrupted, "snapshot: stopped");
      }
    }
    rows_done += rows - reported;
    result.rows += rows - reported;
    return rows;
  };
  if (!part.ranged) {
    read(select, {});
  } else {
    // Ranges sized toward kRowsPerRead rows from the density seen so far,
    // starting small and growing at most eightfold a step: the engine's
    // row estimate can be far off (InnoDB's right after a bulk load).
    double density = part.density;
    __int128 width = 1000;
    for (__int128 lower = part.lower; lower < part.upper;) {
      const auto wanted = static_cast<__int128>(static_cast<double>(kRowsPerRead) / density);
      width = std::clamp<__int128>(wanted, 1, width * 8);
      const __int128 upper = std::min<__int128>(lower + width, part.upper);
      const uint64_t rows =
          read(select + " WHERE " + range_column + " > ? AND " + range_column + " <= ?",
               {std::to_string(static_cast<int64_t>(lower)),
                std::to_string(static_cast<int64_t>(upper))});
      density = std::max(static_cast<double>(rows), 0.5) / static_cast<double>(upper - lower);
      lower = upper;
    }
  }
  if (binary) pg::append_copy_trailer(buffer);
  result.bytes += buffer.size();
  if (!buffer.empty()) target.copy_in_put(buffer);
  reader.exec("COMMIT");
  target.copy_in_end();
  transaction.commit();
  result.zero_dates = values.zero_dates();
  return result;
}

}  // namespace

namespace {

// One thing the stream needs of the legacy, met or not.
Requirement stream_requirement(const Config& config, std::string what, bool met,
                               std::string problem, std::string fix) {
  Requirement requirement;
  requirement.side = config.source.name;
  requirement.needed_by = NeededBy::kStream;
  requirement.what = std::move(what);
  requirement.met = met;
  if (!met) {
    requirement.problem = std::move(problem);
    requirement.fix = std::move(fix);
  }
  return requirement;
}

// The rights capture needs on the legacy, each met or not with its fix
// (MariaDB: privileges on the database, PROCESS for the safe watermark,
// binary logging's trust; SQLite has no rights to check).
std::vector<Requirement> capture_rights(LegacySource& source, const Config& config) {
  std::vector<Requirement> all;
  if (source.engine() != "MariaDB") return all;
  auto add = [&](std::string what, bool met, std::string problem, std::string fix) {
    all.push_back(
        stream_requirement(config, std::move(what), met, std::move(problem), std::move(fix)));
  };
  const auto rights = source.dialect().capture_rights(source.connection());
  const std::string database = source.dialect().quote(rights.database);
  std::string missing;
  for (const auto& privilege : rights.missing) missing += (missing.empty() ? "" : ", ") + privilege;
  add("SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, TRIGGER on " + database,
      rights.missing.empty(), rights.grantee + " lacks " + missing + " on " + database,
      "GRANT " + missing + " ON " + database + ".* TO " + rights.grantee + ";");
  add("PROCESS (the safe watermark reads open transactions)", rights.process,
      rights.grantee + " lacks PROCESS", "GRANT PROCESS ON *.* TO " + rights.grantee + ";");
  add("creating triggers with binary logging on", rights.binlog_allows_triggers,
      "binary logging is on and " + rights.grantee +
          " has no SUPER, so MariaDB refuses to create triggers",
      "SET GLOBAL log_bin_trust_function_creators = 1; (and in my.cnf, to survive a restart)");
  return all;
}

// What the connected user lacks of those rights, with the fixes; "" when
// nothing is missing or the rights cannot be read (the error that brought
// us here then speaks for itself).
std::string missing_capture_rights(LegacySource& source, const Config& config) {
  try {
    std::string out;
    for (const Requirement& right : capture_rights(source, config)) {
      if (!right.met) out += (out.empty() ? "" : "; ") + right.problem + ": " + right.fix;
    }
    return out;
  } catch (const Error&) {
    return {};
  }
}

}  // namespace

LegacyInitResult run_legacy_init(const Config& config, bool usable_only) {
  LegacySource source(config);
  std::vector<std::string> problems;
  const std::vector<LegacyStreamTable> tables =
      source.selected_tables(usable_only ? &problems : nullptr);
  if (tables.empty()) {
    throw Error(ErrorKind::kPrecondition,
                "source: no table matches tables.include (tables are matched as "
                "schema.table, the schema being the " +
                    std::string(source.engine() == "SQLite" ? "'public' for SQLite's main database"
                                                            : "MariaDB database") +
                    ")");
  }
  LegacyInitResult result;
  result.engine = source.engine();
  result.tables = tables.size();

  pg::Connection target(config.target.conninfo, config.target.name);
  if (control::schema_exists(target)) {
    if (auto stream = control::read_stream(target, config.name)) {
      if (stream->source_system_id != source_identity(source)) {
        throw Error(ErrorKind::kPrecondition,
                    "target: stream " + config.name + " was initialised from another source (" +
                        stream->source_system_id + "); teardown first, or choose another name");
      }
    }
  }
  std::vector<TableTranslation> created;
  std::set<std::string> created_schemas;
  bool streaming = false;
  {
    pg::Transaction transaction(target);
    control::ensure_schema(target);
    if (auto stream = control::read_stream(target, config.name)) {
      streaming = stream->phase == control::kStreaming;
    } else {
      control::insert_stream(target, config.name, source_identity(source));
    }
    for (const auto& table : tables) {
      const TranslatedDdl ddl = target_ddl(table.translation);
      const bool exists = target_table_exists(target, table.translation);
      if (!exists) {
        if (target
                .exec("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1",
                      {table.translation.schema})
                .rows() == 0) {
          created_schemas.insert(table.translation.schema);
        }
        for (const auto& statement : ddl.pre_data) {
          // The schema may exist already; an enum type too, from a table
          // created earlier by hand.
          target.exec(statement);
        }
        created.push_back(table.translation);
      }
      control::TableRow row;
      row.schema = table.translation.schema;
      row.name = table.translation.name;
      row.created_by_switchyard = !exists;
      row.post_data = exists ? std::vector<std::string>{} : ddl.post_data;
      // A table that joins a stream already past its copy is copied by
      // add_legacy_tables, and verified once it streams.
      row.adding = streaming;
      control::upsert_table(target, config.name, row);
    }
    control::ensure_origin(target, config.origin_name());
    transaction.commit();
  }
  result.tables_created = created.size();

  // The capture, last: everything else is in place when the first change
  // is recorded. A missing right (TRIGGER, CREATE, PROCESS to see open
  // transactions) stops here, and both databases are put back.
  std::vector<odbc::LegacyTable> legacy;
  for (const auto& table : tables) legacy.push_back(table.legacy);
  const std::vector<std::string> capture = source.dialect().capture_install(config.name, legacy);
  // init again (snapshot and replicate run it first): what is there stays.
  const size_t triggers_before =
      source.dialect().capture_triggers(source.connection(), config.name).size();
  try {
    for (const std::string& statement : capture) source.connection().exec(statement);
    (void)source.dialect().probe_changelog(source.connection(), config.name);
  } catch (const Error& error) {
    const std::string lacking = missing_capture_rights(source, config);
    remove_capture(source, config, tables);
    remove_target_objects(target, config, created, created_schemas);
    throw Error(error.kind() == ErrorKind::kDatabase ? ErrorKind::kPrecondition : error.kind(),
                std::string(error.what()) + " (installing the capture" +
                    (lacking.empty() ? "" : "; " + lacking) + "); nothing was left behind",
                error.sqlstate());
  }
  const size_t triggers =
      source.dialect().capture_triggers(source.connection(), config.name).size();
  if (triggers > triggers_before) {
    spdlog::info("source: capture installed on {} ({} triggers, changelog {})",
                 counted(tables.size(), "table"), triggers - triggers_before, source.changelog());
  }
  return result;
}

std::vector<Requirement> check_legacy_requirements(const Config& config, size_t& table_count) {
  LegacySource source(config);
  std::vector<Requirement> all;
  auto add = [&](std::string what, bool met, std::string problem = {}, std::string fix = {}) {
    all.push_back(
        stream_requirement(config, std::move(what), met, std::move(problem), std::move(fix)));
  };
  for (Requirement& right : capture_rights(source, config)) all.push_back(std::move(right));
  std::vector<std::string> problems;
  const std::vector<LegacyStreamTable> tables = source.selected_tables(&problems);
  table_count = tables.size() + problems.size();
  std::string problem = problems.empty() ? "" : problems.front();
  if (problems.size() > 1) problem += " (and " + std::to_string(problems.size() - 1) + " more)";
  add("selected tables: a key, and a type rule for every column", problems.empty(), problem,
      "as the message says; init names every table");
  pg::Connection target(config.target.conninfo, config.target.name, pg::Mode::kNormal, "check");
  std::vector<TableName> names;
  for (const auto& table : tables) {
    names.push_back({table.translation.schema, table.translation.name});
  }
  for (Requirement& requirement : check_target_requirements(config, target, names)) {
    all.push_back(std::move(requirement));
  }
  return all;
}

namespace {

// Copies `tables` (each emptied first: a copy interrupted earlier is never
// half-trusted), several parts at once, each part one consistent read on
// the source and one binary COPY on the target; progress with rate and ETA;
// then each copied table's keys. Adds to `summary`.
void copy_tables(const Config& config, LegacySource& source,
                 const std::vector<LegacyStreamTable>& tables, pg::Connection& target,
                 SnapshotSummary& summary) {
  for (const auto& table : tables) {
    const std::string qualified = pg::qualified(table.translation.schema, table.translation.name);
    if (target.exec("SELECT 1 FROM " + qualified + " LIMIT 1").rows() > 0) {
      target.exec("TRUNCATE " + qualified);
    }
  }
  uint64_t rows_expected = 0;
  const std::vector<LegacyCopyPart> parts = plan_parts(config, source, tables, rows_expected);
  std::vector<CopyResult> copied(tables.size());
  std::vector<size_t> parts_left(tables.size(), 0);
  for (const LegacyCopyPart& part : parts) ++parts_left[part.table];

  std::atomic<size_t> next{0};
  std::atomic<uint64_t> rows_done{0};
  size_t tables_done = 0;  // guarded by mutex
  std::mutex mutex;
  std::exception_ptr failure;
  auto finish_table = [&](size_t idx) {  // REQUIRES: mutex held
    const LegacyStreamTable& table = tables[idx];
    const CopyResult& result = copied[idx];
    for (size_t column = 0; column < result.zero_dates.size(); ++column) {
      if (result.zero_dates[column] > 0) {
        spdlog::warn("source: {}.{}: {} zero dates became NULL", table.legacy_display(),
                     table.legacy.columns[column].name, result.zero_dates[column]);
      }
    }
    control::record_copy(target, config.name, table.translation.schema, table.translation.name,
                         result.rows, result.bytes);
    metrics::snapshot_rows_copied(table.translation.schema + "." + table.translation.name,
                                  result.rows);
    spdlog::info("copied {}: {} ({})", table.display(), counted(result.rows, "row"),
                 format_bytes(static_cast<double>(result.bytes)));
    summary.rows += result.rows;
    summary.bytes += result.bytes;
    ++summary.tables;
    ++tables_done;
  };
  auto worker = [&](int number) {
    try {
      auto reader = source.open("copy " + std::to_string(number), /*streaming=*/true);
      pg::Connection writer(config.target.conninfo, config.target.name, pg::Mode::kNormal, "copy");
      for (size_t idx = next++; idx < parts.size(); idx = next++) {
        {
          std::lock_guard lock(mutex);
          if (failure) return;
        }
        const LegacyCopyPart& part = parts[idx];
        CopyResult result = copy_part(source, tables[part.table], part, *reader, writer, rows_done);
        std::lock_guard lock(mutex);
        CopyResult& total = copied[part.table];
        total.rows += result.rows;
        total.bytes += result.bytes;
        total.zero_dates.resize(result.zero_dates.size(), 0);
        for (size_t column = 0; column < result.zero_dates.size(); ++column) {
          total.zero_dates[column] += result.zero_dates[column];
        }
        if (--parts_left[part.table] == 0) finish_table(part.table);
      }
    } catch (...) {
      std::lock_guard lock(mutex);
      if (!failure) failure = std::current_exception();
    }
  };
  std::vector<std::thread> workers;
  const int count = std::min<int>(config.snapshot.workers, static_cast<int>(parts.size()));
  for (int number = 1; number <= count; ++number) {
    workers.push_back(job_thread([&worker, number] { worker(number); }));
  }
  // Progress with rate and ETA while the workers copy.
  {
    auto last = Clock::now();
    uint64_t last_rows = 0;
    while (true) {
      bool running = false;
      {
        std::lock_guard lock(mutex);
        running = tables_done < tables.size() && !failure;
      }
      if (!running) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (Clock::now() - last < config.stream.status_interval) continue;
      const uint64_t done = rows_done;
      const double seconds = std::chrono::duration<double>(Clock::now() - last).count();
      const double rate = static_cast<double>(done - last_rows) / seconds;
      std::string eta = "?";
      if (rate > 0 && rows_expected > done) {
        eta = format_duration(static_cast<double>(rows_expected - done) / rate);
      }
      spdlog::info("copying: {} of about {} rows ({:.0f}%), {:.0f} rows/s, about {} left", done,
                   rows_expected,
                   rows_expected
                       ? 100.0 * static_cast<double>(done) / static_cast<double>(rows_expected)
                       : 0.0,
                   rate, eta);
      last = Clock::now();
      last_rows = done;
    }
  }
  for (auto& thread : workers) thread.join();
  if (failure) std::rethrow_exception(failure);

  // Keys, now that the rows are in; then statistics, for the new primary to
  // plan the application's queries with (as the PostgreSQL copy does).
  for (const control::TableRow& row : control::read_tables(target, config.name)) {
    const bool copied_now =
        std::any_of(tables.begin(), tables.end(), [&](const LegacyStreamTable& table) {
          return table.translation.schema == row.schema && table.translation.name == row.name;
        });
    if (!copied_now) continue;
    if (!row.post_data_done) {
      pg::Transaction transaction(target);
      for (const std::string& statement : row.post_data) target.exec(statement);
      control::mark_post_data_done(target, config.name, row.schema, row.name);
      transaction.commit();
    }
    target.exec("ANALYZE " + pg::qualified(row.schema, row.name));
  }
}

}  // namespace

SnapshotSummary run_legacy_snapshot(const Config& config) {
  SnapshotSummary summary;
  summary.consistent_point = Lsn(kFirstChangelogPosition);
  {
    pg::Connection target(config.target.conninfo, config.target.name);
    if (control::schema_exists(target)) {
      auto stream = control::read_stream(target, config.name);
      if (stream && stream->phase == control::kStreaming) {
        summary.already_done = true;
        summary.consistent_point = stream->consistent_lsn.value_or(Lsn(kFirstChangelogPosition));
        return summary;
      }
    }
  }
  run_legacy_init(config);
  LegacySource source(config);
  const std::vector<LegacyStreamTable> tables = source.selected_tables();
  pg::Connection target(config.target.conninfo, config.target.name);
  control::set_phase(target, config.name, control::kCopying);
  const auto started = Clock::now();
  copy_tables(config, source, tables, target, summary);
  {
    pg::Transaction transaction(target);
    target.exec("SELECT pg_catalog.pg_replication_origin_advance($1, $2::pg_lsn)",
                {config.origin_name(), Lsn(kFirstChangelogPosition).to_string()});
    control::set_phase(target, config.name, control::kStreaming, Lsn(kFirstChangelogPosition));
    transaction.commit();
  }
  summary.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return summary;
}

size_t add_legacy_tables(const Config& config) {
  std::set<std::pair<std::string, std::string>> streamed;
  {
    pg::Connection target(config.target.conninfo, config.target.name);
    for (const control::TableRow& row : control::read_tables(target, config.name)) {
      if (!row.adding) streamed.insert({row.schema, row.name});
    }
  }
  std::vector<std::string> problems;  // named by the feed's check already
  bool any = false;
  for (const auto& table : LegacySource(config).selected_tables(&problems)) {
    if (!streamed.count({table.translation.schema, table.translation.name})) any = true;
  }
  if (!any) return 0;
  // Creates the new tables on the target (recorded as being added) and
  // installs their capture: from here on their changes are in the
  // changelog, after every position the stream has applied.
  run_legacy_init(config, /*usable_only=*/true);
  LegacySource source(config);
  pg::Connection target(config.target.conninfo, config.target.name);
  std::set<std::pair<std::string, std::string>> adding;
  for (const control::TableRow& row : control::read_tables(target, config.name)) {
    if (row.adding) adding.insert({row.schema, row.name});
  }
  std::vector<LegacyStreamTable> joining;
  for (auto& table : source.selected_tables(&problems)) {
    if (adding.count({table.translation.schema, table.translation.name})) {
      spdlog::info("{} appeared on the source and matches tables.include; adding it",
                   table.legacy_display());
      joining.push_back(std::move(table));
    }
  }
  SnapshotSummary summary;
  copy_tables(config, source, joining, target, summary);
  // The stream replays the tables' changes over the copy (idempotent).
  pg::Transaction transaction(target);
  for (const auto& table : joining) {
    control::finish_adding_table(target, config.name, table.translation.schema,
                                 table.translation.name, Lsn(kFirstChangelogPosition));
  }
  transaction.commit();
  return joining.size();
}

LegacyTeardownResult run_legacy_teardown(const Config& config) {
  LegacyTeardownResult result;
  LegacySource source(config);
  const std::vector<odbc::LegacyTable> all = source.dialect().tables(source.connection());
  const std::string changelog_name = odbc::Dialect::changelog_name(config.name);
  for (const auto& table : all) {
    if (table.name == changelog_name) result.changelog = true;
  }
  const std::vector<std::string> triggers =
      source.dialect().capture_triggers(source.connection(), config.name);
  result.triggers = triggers.size();
  std::vector<std::string> statements;
  for (const std::string& trigger : triggers) {
    statements.push_back("DROP TRIGGER IF EXISTS " + source.dialect().quote(trigger));
  }
  for (std::string& statement : source.dialect().capture_remove(config.name, all)) {
    statements.push_back(std::move(statement));
  }
  for (const std::string& statement : statements) {
    source.connection().exec(statement);
  }
  spdlog::info("source: removed {} and {}", counted(result.triggers, "capture trigger"),
               result.changelog ? "the changelog " + source.changelog() : "no changelog");
  pg::Connection target(config.target.conninfo, config.target.name);
  control::drop_origin(target, config.origin_name());
  if (control::remove_stream(target, config.name)) {
    spdlog::info("target: dropped the switchyard control schema");
  }
  return result;
}

}  // namespace switchyard
