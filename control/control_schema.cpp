#include "control/control_schema.h"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <string_view>

#include "common/error.h"
#include "drivers/pg/sql.h"

namespace switchyard::control {
namespace {

constexpr const char* kCreate = R"SQL(
CREATE SCHEMA IF NOT EXISTS switchyard;
CREATE TABLE IF NOT EXISTS switchyard.streams (
  name                 text PRIMARY KEY,
  phase                text NOT NULL CHECK (phase IN ('initialized', 'copying', 'streaming')),
  source_system_id     text NOT NULL,
  consistent_lsn       pg_lsn,
  snapshot_started_at  timestamptz,
  snapshot_finished_at timestamptz,
  source_lsn           pg_lsn,
  applied_lsn          pg_lsn,
  lag_seconds          double precision,
  reported_at          timestamptz,
  created_at           timestamptz NOT NULL DEFAULT now()
);
-- Which way the stream runs: forward (source -> target) until a cutover,
-- reverse (target -> source) after it, forward again after a failback.
-- Authoritative on the target; `replicate` follows it.
ALTER TABLE switchyard.streams ADD COLUMN IF NOT EXISTS direction text NOT NULL DEFAULT 'forward'
  CHECK (direction IN ('forward', 'reverse'));
-- Set by a cutover or failback while it prepares: until then the apply
-- loop marks every changed key, never a whole table, so the gate inside the
-- freeze compares changed rows only. A time, so that a killed run's
-- request lapses by itself.
ALTER TABLE switchyard.streams ADD COLUMN IF NOT EXISTS exact_marks_until timestamptz;
-- While exact marks are requested, the apply loop also logs the rows it
-- writes to tables without a key (cutover/keyless_proof.h), and notes here
-- the position from which every such change is logged.
ALTER TABLE switchyard.streams ADD COLUMN IF NOT EXISTS keyless_images_since pg_lsn;
-- Prepared statements the apply session holds, with the lag report: it
-- must stay bounded however often the source re-sends a table's shape.
ALTER TABLE switchyard.streams ADD COLUMN IF NOT EXISTS apply_statements integer;
CREATE TABLE IF NOT EXISTS switchyard.tables (
  stream                text NOT NULL REFERENCES switchyard.streams (name) ON DELETE CASCADE,
  schema_name           text NOT NULL,
  table_name            text NOT NULL,
  created_by_switchyard boolean NOT NULL,
  post_data             text[] NOT NULL DEFAULT '{}',
  foreign_keys          text[] NOT NULL DEFAULT '{}',
  post_data_done        boolean NOT NULL DEFAULT false,
  rows_copied           bigint,
  bytes_copied          bigint,
  copied_at             timestamptz,
  PRIMARY KEY (stream, schema_name, table_name)
);
-- A table that appeared on the source after the initial copy (replicator/
-- table_sync.h): `adding` while it is created and copied; then the stream
-- applies its changes committed at or after synced_from_lsn (the copy's
-- consistent point) and skips the older ones, which the copy holds.
ALTER TABLE switchyard.tables ADD COLUMN IF NOT EXISTS adding boolean NOT NULL DEFAULT false;
ALTER TABLE switchyard.tables ADD COLUMN IF NOT EXISTS synced_from_lsn pg_lsn;
-- The table's oid on the source, to follow it through a rename there (NULL
-- for tables recorded by earlier versions).
ALTER TABLE switchyard.tables ADD COLUMN IF NOT EXISTS source_oid oid;
CREATE TABLE IF NOT EXISTS switchyard.dirty_keys (
  stream      text NOT NULL,
  schema_name text NOT NULL,
  table_name  text NOT NULL,
  marked_lsn  pg_lsn NOT NULL,
  keys        text[] NOT NULL
);
CREATE INDEX IF NOT EXISTS dirty_keys_table
  ON switchyard.dirty_keys (stream, schema_name, table_name, marked_lsn);
-- An integer key's changed values, as runs: {{first,last},...}, inclusive.
ALTER TABLE switchyard.dirty_keys
  ADD COLUMN IF NOT EXISTS key_ranges bigint[] NOT NULL DEFAULT '{}';
-- One whole-table mark per table: neither keys nor ranges. (The index of
-- earlier versions, on keys = '{}' alone, would count a row of ranges.)
DROP INDEX IF EXISTS switchyard.dirty_keys_whole_table;
CREATE UNIQUE INDEX IF NOT EXISTS dirty_keys_whole
  ON switchyard.dirty_keys (stream, schema_name, table_name)
  WHERE keys = '{}' AND key_ranges = '{}';
-- The rows a batch wrote to a table without a key, as the stream sent them:
-- sign 1 for rows added, -1 for rows removed (an update is both), 0 for a
-- change the target could not take exactly (a row to remove was not found,
-- a TRUNCATE). `images` is two-dimensional, one row of column texts per
-- change, `lsns` the source commit position of each.
CREATE TABLE IF NOT EXISTS switchyard.keyless_images (
  stream      text NOT NULL,
  schema_name text NOT NULL,
  table_name  text NOT NULL,
  sign        smallint NOT NULL CHECK (sign IN (-1, 0, 1)),
  lsns        pg_lsn[] NOT NULL,
  images      text[]
);
CREATE INDEX IF NOT EXISTS keyless_images_table
  ON switchyard.keyless_images (stream, schema_name, table_name, sign);
CREATE TABLE IF NOT EXISTS switchyard.verify_tables (
  stream           text NOT NULL REFERENCES switchyard.streams (name) ON DELETE CASCADE,
  schema_name      text NOT NULL,
  table_name       text NOT NULL,
  status           text NOT NULL CHECK (status IN ('running', 'clean', 'mismatch', 'in_flight')),
  pass_started_at  timestamptz NOT NULL,
  pass_finished_at timestamptz,
  pass_lsn         pg_lsn,
  rows_compared    bigint,
  chunks           integer,
  mismatches       integer,
  in_flight        integer,
  PRIMARY KEY (stream, schema_name, table_name)
);
-- A pass under way is noted beside the last completed one, which keeps
-- counting (for the cutover's preflight) until the new one completes.
ALTER TABLE switchyard.verify_tables ADD COLUMN IF NOT EXISTS running_since timestamptz;
CREATE TABLE IF NOT EXISTS switchyard.verify_chunks (
  stream        text NOT NULL REFERENCES switchyard.streams (name) ON DELETE CASCADE,
  schema_name   text NOT NULL,
  table_name    text NOT NULL,
  chunk_no      integer NOT NULL,
  lower_key     text[],
  upper_key     text[],
  rows          bigint NOT NULL,
  source_digest text NOT NULL,
  target_digest text NOT NULL,
  status        text NOT NULL CHECK (status IN ('clean', 'mismatch', 'in_flight')),
  verified_lsn  pg_lsn NOT NULL,
  verified_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (stream, schema_name, table_name, chunk_no)
);
CREATE TABLE IF NOT EXISTS switchyard.mismatches (
  stream      text NOT NULL REFERENCES switchyard.streams (name) ON DELETE CASCADE,
  schema_name text NOT NULL,
  table_name  text NOT NULL,
  key         text[] NOT NULL,
  key_json    jsonb NOT NULL,
  kind        text NOT NULL CHECK (kind IN ('missing', 'extra', 'different')),
  source_lsn  pg_lsn,
  first_seen  timestamptz NOT NULL DEFAULT now(),
  last_seen   timestamptz NOT NULL DEFAULT now(),
  resolved_at timestamptz,
  resolution  text,
  PRIMARY KEY (stream, schema_name, table_name, key)
);
-- Cutover and failback runs, and the journal of their steps (cutover/journal.h).
CREATE TABLE IF NOT EXISTS switchyard.switch_runs (
  run_id           bigserial PRIMARY KEY,
  stream           text NOT NULL REFERENCES switchyard.streams (name) ON DELETE CASCADE,
  operation        text NOT NULL CHECK (operation IN ('cutover', 'failback')),
  state            text NOT NULL CHECK (state IN ('running', 'completed', 'rolled_back', 'refused')),
  freeze_budget_ms double precision NOT NULL,
  freeze_ms        double precision,
  started_at       timestamptz NOT NULL DEFAULT now(),
  finished_at      timestamptz,
  detail           text
);
ALTER TABLE switchyard.switch_runs ADD COLUMN IF NOT EXISTS requested_by text;
CREATE TABLE IF NOT EXISTS switchyard.switch_journal (
  run_id      bigint NOT NULL REFERENCES switchyard.switch_runs ON DELETE CASCADE,
  operation   text NOT NULL,
  step_no     integer NOT NULL,
  step        text NOT NULL,
  state       text NOT NULL CHECK (state IN ('started', 'done', 'failed')),
  attempts    integer NOT NULL DEFAULT 1,
  started_at  timestamptz NOT NULL,
  finished_at timestamptz,
  duration_ms double precision,
  detail      text,
  PRIMARY KEY (run_id, step_no)
);
)SQL";

// What switchyard keeps per table of a stream, besides its mismatches.
constexpr const char* kPerTable[] = {"tables", "verify_tables", "verify_chunks", "dirty_keys",
                                     "keyless_images"};

}  // namespace

uint64_t dirty_key_limit(double table_rows) {
  return static_cast<uint64_t>(std::max(20'000.0, table_rows / 10));
}

std::string oid_array_literal(const std::vector<uint32_t>& oids) {
  std::string out = "{";
  for (uint32_t oid : oids) {
    if (out.size() > 1) out += ',';
    out += std::to_string(oid);
  }
  return out + "}";
}

std::string text_array_literal(const std::vector<std::string>& items) {
  std::string array = "{";
  for (const auto& item : items) {
    if (array.size() > 1) array += ',';
    array += '"';
    for (char c : item) {
      if (c == '"' || c == '\\') array += '\\';
      array += c;
    }
    array += '"';
  }
  return array + "}";
}

// The DDL's own fingerprint, noted as the schema's comment once it has run:
// a schema already at this release is left alone. Running it again would
// not change anything, but it takes a SHARE lock on each table with an
// index, for the length of its transaction, and a running apply loop
// writing two of them in the other order deadlocks with it.
constexpr uint64_t fingerprint(std::string_view text) {
  uint64_t hash = 14695981039346656037ull;  // FNV-1a
  for (char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return hash;
}

void ensure_schema(pg::Connection& target) {
  const std::string version = "switchyard control schema " + std::to_string(fingerprint(kCreate));
  pg::Result current = target.exec(
      "SELECT pg_catalog.obj_description(n.oid, 'pg_namespace') FROM pg_catalog.pg_namespace n "
      " WHERE n.nspname = 'switchyard'");
  if (current.rows() > 0 && !current.is_null(0, 0) && current.get(0, 0) == version) return;
  target.exec(std::string(kCreate) + "COMMENT ON SCHEMA switchyard IS " +
              pg::quote_literal(version) + ";");
}

bool schema_exists(pg::Connection& target) {
  return !target.exec("SELECT pg_catalog.to_regclass('switchyard.streams')").is_null(0, 0);
}

std::optional<StreamRow> read_stream(pg::Connection& target, const std::string& name) {
  if (!schema_exists(target)) return std::nullopt;
  pg::Result rows = target.exec(
      "SELECT phase, source_system_id, consistent_lsn::text, snapshot_finished_at::text "
      "FROM switchyard.streams WHERE name = $1",
      {name});
  if (rows.rows() == 0) return std::nullopt;
  StreamRow row;
  row.name = name;
  row.phase = rows.str(0, 0);
  row.source_system_id = rows.str(0, 1);
  if (!rows.is_null(0, 2)) row.consistent_lsn = Lsn::parse(rows.get(0, 2));
  row.snapshot_finished_at = rows.optional(0, 3);
  return row;
}

void insert_stream(pg::Connection& target, const std::string& name,
                   const std::string& source_system_id) {
  target.exec(
      "INSERT INTO switchyard.streams (name, phase, source_system_id) VALUES ($1, $2, $3) "
      "ON CONFLICT (name) DO NOTHING",
      {name, std::string(kInitialized), source_system_id});
}

void set_phase(pg::Connection& target, const std::string& name, const std::string& phase,
               std::optional<Lsn> consistent_lsn) {
  std::optional<std::string> lsn;
  if (consistent_lsn) lsn = consistent_lsn->to_string();
  target.exec(
      "UPDATE switchyard.streams SET phase = $2, "
      "  consistent_lsn = COALESCE($3::pg_lsn, consistent_lsn), "
      "  snapshot_started_at = CASE WHEN $2 = 'copying' THEN now() ELSE snapshot_started_at END, "
      "  snapshot_finished_at = CASE WHEN $2 = 'streaming' THEN now() "
      "                              WHEN $2 = 'copying' THEN NULL "
      "                              ELSE snapshot_finished_at END "
      "WHERE name = $1",
      {name, phase, lsn});
}

// One query for every table and its deferred DDL: one row per statement
// (kind 'p' post-data, 'f' foreign key) in order, or one row with NULLs for
// a table that has none.
std::vector<TableRow> read_tables(pg::Connection& target, const std::string& name) {
  pg::Result rows = target.exec(
      "SELECT t.schema_name, t.table_name, t.created_by_switchyard, t.post_data_done, "
      "       d.kind, d.statement, t.adding, t.synced_from_lsn::text, t.source_oid "
      "  FROM switchyard.tables t "
      "  LEFT JOIN LATERAL ("
      "         SELECT 'p' AS kind, p.statement, p.ord FROM unnest(t.post_data) "
      "                WITH ORDINALITY AS p (statement, ord) "
      "         UNION ALL "
      "         SELECT 'f', f.statement, f.ord FROM unnest(t.foreign_keys) "
      "                WITH ORDINALITY AS f (statement, ord)) d ON true "
      " WHERE t.stream = $1 "
      " ORDER BY t.schema_name, t.table_name, d.kind DESC, d.ord",
      {name});
  std::vector<TableRow> out;
  for (int row = 0; row < rows.rows(); ++row) {
    if (out.empty() || out.back().schema != rows.get(row, 0) ||
        out.back().name != rows.get(row, 1)) {
      TableRow table;
      table.schema = rows.str(row, 0);
      table.name = rows.str(row, 1);
      table.created_by_switchyard = rows.boolean(row, 2);
      table.post_data_done = rows.boolean(row, 3);
      table.adding = rows.boolean(row, 6);
      if (!rows.is_null(row, 7)) table.synced_from = Lsn::parse(rows.get(row, 7));
      if (!rows.is_null(row, 8)) table.source_oid = static_cast<uint32_t>(rows.int64(row, 8));
      out.push_back(std::move(table));
    }
    if (rows.is_null(row, 4)) continue;
    auto& list = rows.get(row, 4) == "p" ? out.back().post_data : out.back().foreign_keys;
    list.push_back(rows.str(row, 5));
  }
  return out;
}

void upsert_table(pg::Connection& target, const std::string& stream, const TableRow& row) {
  target.exec(
      "INSERT INTO switchyard.tables (stream, schema_name, table_name, created_by_switchyard, "
      "post_data, foreign_keys, post_data_done, adding, source_oid) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::oid) "
      "ON CONFLICT (stream, schema_name, table_name) DO UPDATE SET source_oid = "
      "EXCLUDED.source_oid",
      {stream, row.schema, row.name, std::string(row.created_by_switchyard ? "t" : "f"),
       text_array_literal(row.post_data), text_array_literal(row.foreign_keys),
       std::string(row.post_data_done ? "t" : "f"), std::string(row.adding ? "t" : "f"),
       row.source_oid ? std::optional<std::string>(std::to_string(row.source_oid)) : std::nullopt});
}

void finish_adding_table(pg::Connection& target, const std::string& stream,
                         const std::string& schema, const std::string& table, Lsn synced_from) {
  const pg::Params key{stream, schema, table};
  target.exec(
      "UPDATE switchyard.tables SET adding = false, synced_from_lsn = $4::pg_lsn "
      "WHERE stream = $1 AND schema_name = $2 AND table_name = $3",
      {stream, schema, table, synced_from.to_string()});
  target.exec(
      "DELETE FROM switchyard.verify_chunks "
      "WHERE stream = $1 AND schema_name = $2 AND table_name = $3",
      key);
  target.exec(
      "DELETE FROM switchyard.verify_tables "
      "WHERE stream = $1 AND schema_name = $2 AND table_name = $3",
      key);
  target.exec(
      "UPDATE switchyard.mismatches SET resolved_at = now(), resolution = 'recopied' "
      "WHERE stream = $1 AND schema_name = $2 AND table_name = $3 AND resolved_at IS NULL",
      key);
}

void forget_table(pg::Connection& target, const std::string& stream, const std::string& schema,
                  const std::string& table) {
  const pg::Params key{stream, schema, table};
  pg::Transaction transaction(target);
  for (const char* relation : kPerTable) {
    target.exec(std::string("DELETE FROM switchyard.") + relation +
                    " WHERE stream = $1 AND schema_name = $2 AND table_name = $3",
                key);
  }
  target.exec(
      "UPDATE switchyard.mismatches SET resolved_at = now(), resolution = 'dropped on the source' "
      "WHERE stream = $1 AND schema_name = $2 AND table_name = $3 AND resolved_at IS NULL",
      key);
  transaction.commit();
}

void rename_table(pg::Connection& target, const std::string& stream, const std::string& schema,
                  const std::string& table, const std::string& new_schema,
                  const std::string& new_name) {
  pg::Transaction transaction(target);
  if (new_schema != schema) {
    target.exec("ALTER TABLE " + pg::qualified(schema, table) + " SET SCHEMA " +
                pg::quote_ident(new_schema));
  }
  if (new_name != table) {
    target.exec("ALTER TABLE " + pg::qualified(new_schema, table) + " RENAME TO " +
                pg::quote_ident(new_name));
  }
  std::vector<std::string> relations(std::begin(kPerTable), std::end(kPerTable));
  relations.push_back("mismatches");
  for (const std::string& relation : relations) {
    target.exec("UPDATE switchyard." + relation +
                    " SET schema_name = $4, table_name = $5"
                    " WHERE stream = $1 AND schema_name = $2 AND table_name = $3",
                {stream, schema, table, new_schema, new_name});
  }
  transaction.commit();
}

bool request_recopy(pg::Connection& target, const std::string& stream, const std::string& schema,
                    const std::string& table) {
  return target
             .exec(
                 "UPDATE switchyard.tables SET adding = true "
                 "WHERE stream = $1 AND schema_name = $2 AND table_name = $3",
                 {stream, schema, table})
             .affected_rows() == 1;
}

void mark_post_data_done(pg::Connection& target, const std::string& stream,
                         const std::string& schema, const std::string& table) {
  target.exec(
      "UPDATE switchyard.tables SET post_data_done = true "
      "WHERE stream = $1 AND schema_name = $2 AND table_name = $3",
      {stream, schema, table});
}

void record_copy(pg::Connection& target, const std::string& stream, const std::string& schema,
                 const std::string& table, uint64_t rows, uint64_t bytes) {
  target.exec(
      "UPDATE switchyard.tables SET rows_copied = $4, bytes_copied = $5, copied_at = now() "
      "WHERE stream = $1 AND schema_name = $2 AND table_name = $3",
      {stream, schema, table, std::to_string(rows), std::to_string(bytes)});
}

void report_lag(pg::Connection& target, const std::string& name, Lsn source_lsn, Lsn applied_lsn,
                double lag_seconds, uint64_t apply_statements) {
  target.exec(
      "UPDATE switchyard.streams SET source_lsn = $2, applied_lsn = $3, lag_seconds = $4, "
      "apply_statements = $5, reported_at = now() WHERE name = $1",
      {name, source_lsn.to_string(), applied_lsn.to_string(), std::to_string(lag_seconds),
       std::to_string(apply_statements)});
}

bool remove_stream(pg::Connection& target, const std::string& name) {
  if (!schema_exists(target)) return false;
  target.exec("DELETE FROM switchyard.streams WHERE name = $1", {name});
  // dirty_keys has no foreign key: the apply session inserts into it with
  // session_replication_role = replica, where foreign keys are not checked.
  target.exec("DELETE FROM switchyard.dirty_keys WHERE stream = $1", {name});
  if (target.exec("SELECT count(*) FROM switchyard.streams").int64(0, 0) > 0) return false;
  target.exec("DROP SCHEMA switchyard CASCADE");
  return true;
}

Direction read_direction(pg::Connection& target, const std::string& name) {
  pg::Result rows = target.exec("SELECT direction FROM switchyard.streams WHERE name = $1", {name});
  if (rows.rows() == 0) {
    throw Error(ErrorKind::kPrecondition,
                "target: stream '" + name + "' is not initialised (run init or replicate)");
  }
  return rows.get(0, 0) == "reverse" ? Direction::kReverse : Direction::kForward;
}

std::string set_direction_sql(const std::string& name, Direction direction) {
  return "UPDATE switchyard.streams SET direction = " + pg::quote_literal(to_string(direction)) +
         " WHERE name = " + pg::quote_literal(name);
}

void set_direction(pg::Connection& target, const std::string& name, Direction direction) {
  target.exec(set_direction_sql(name, direction));
}

// A request starts the row log afresh: the apply loop notes a new
// keyless_images_since once it logs every change.
void request_exact_marks(pg::Connection& target, const std::string& name,
                         std::chrono::seconds duration) {
  target.exec("DELETE FROM switchyard.keyless_images WHERE stream = $1", {name});
  target.exec(
      "UPDATE switchyard.streams SET exact_marks_until = now() + make_interval(secs => $2), "
      "       keyless_images_since = NULL "
      " WHERE name = $1",
      {name, std::to_string(duration.count())});
}

void release_exact_marks(pg::Connection& target, const std::string& name) {
  target.exec(
      "UPDATE switchyard.streams SET exact_marks_until = NULL, keyless_images_since = NULL "
      " WHERE name = $1",
      {name});
  target.exec("DELETE FROM switchyard.keyless_images WHERE stream = $1", {name});
}

ExactMarksRequest read_exact_marks_request(pg::Connection& target, const std::string& name) {
  pg::Result rows = target.exec(
      "SELECT coalesce(exact_marks_until > now(), false), keyless_images_since::text "
      "  FROM switchyard.streams WHERE name = $1",
      {name});
  ExactMarksRequest request;
  if (rows.rows() == 0) return request;
  request.requested = rows.boolean(0, 0);
  if (!rows.is_null(0, 1)) request.images_since = Lsn::parse(rows.get(0, 1));
  return request;
}

void note_images_since(pg::Connection& target, const std::string& name, Lsn since) {
  target.exec(
      "UPDATE switchyard.streams SET keyless_images_since = $2::pg_lsn "
      " WHERE name = $1 AND keyless_images_since IS NULL AND exact_marks_until > now()",
      {name, since.to_string()});
}

const char* to_string(Direction direction) {
  return direction == Direction::kForward ? "forward" : "reverse";
}

void ensure_origin(pg::Connection& target, const std::string& origin) {
  target.exec(
      "SELECT pg_catalog.pg_replication_origin_create($1) WHERE NOT EXISTS "
      "(SELECT 1 FROM pg_catalog.pg_replication_origin WHERE roname = $1)",
      {origin});
}

std::optional<Lsn> origin_progress(pg::Connection& target, const std::string& origin,
                                   bool flushed) {
  pg::Result result = target.exec(
      "SELECT pg_catalog.pg_replication_origin_progress($1, $2)::text "
      "WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_replication_origin WHERE roname = $1)",
      {origin, std::string(flushed ? "t" : "f")});
  if (result.rows() == 0 || result.is_null(0, 0)) return std::nullopt;
  return Lsn::parse(result.get(0, 0));
}

void drop_origin(pg::Connection& target, const std::string& origin) {
  target.exec(
      "SELECT pg_catalog.pg_replication_origin_drop($1) WHERE EXISTS "
      "(SELECT 1 FROM pg_catalog.pg_replication_origin WHERE roname = $1)",
      {origin});
}

}  // namespace switchyard::control
