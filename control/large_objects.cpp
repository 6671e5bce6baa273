#include "control/large_objects.h"

#include <algorithm>
#include <set>

#include "common/error.h"
#include "common/log.h"
#include "common/units.h"
#include "control/control_schema.h"
#include "drivers/pg/sql.h"

namespace switchyard::control::large_objects {
namespace {

using Clock = std::chrono::steady_clock;

// Bytes per lo_get/lo_put round trip: bounded memory for any object size,
// few round trips for documents.
constexpr int64_t kChunkBytes = 1 << 20;

constexpr const char* kCreate = R"SQL(
CREATE TABLE IF NOT EXISTS switchyard.large_objects (
  stream    text NOT NULL REFERENCES switchyard.streams (name) ON DELETE CASCADE,
  loid      oid NOT NULL,
  owner     text NOT NULL,
  md5       text NOT NULL,
  size      bigint NOT NULL,
  synced_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (stream, loid)
);
CREATE TABLE IF NOT EXISTS switchyard.large_object_sync (
  stream       text PRIMARY KEY REFERENCES switchyard.streams (name) ON DELETE CASCADE,
  change_stamp text,
  objects      bigint NOT NULL,
  bytes        bigint NOT NULL,
  synced_at    timestamptz NOT NULL,
  checked_at   timestamptz NOT NULL
);
)SQL";

uint32_t parse_oid(std::string_view text) {
  return static_cast<uint32_t>(std::stoul(std::string(text)));
}

bool tables_exist(pg::Connection& target) {
  return !target
              .exec(
                  "SELECT pg_catalog.to_regclass('switchyard.large_object_sync') IS NULL "
                  "OR pg_catalog.to_regclass('switchyard.large_objects') IS NULL")
              .boolean(0, 0);
}

// Runs `sql` on `side`, held to the deadline if there is one.
pg::Result run(pg::Connection& side, const std::string& sql, const SyncOptions& options) {
  if (options.deadline) return side.exec_until(sql, *options.deadline);
  return side.exec(sql);
}

void check_deadline(const SyncOptions& options) {
  if (options.deadline && Clock::now() > *options.deadline) {
    throw Error(ErrorKind::kTimeout, "large objects: the time ran out while syncing");
  }
}

// The session-level advisory lock that serialises passes of one stream.
class PassLock {
 public:
  PassLock(pg::Connection& target, const std::string& stream, const SyncOptions& options)
      : target_(target),
        key_("pg_catalog.hashtextextended(" +
             pg::quote_literal("switchyard large objects " + stream) + ", 0)") {
    run(target_, "SELECT pg_catalog.pg_advisory_lock(" + key_ + ")", options);
  }
  ~PassLock() {
    if (!target_.ok()) return;
    try {
      target_.exec("SELECT pg_catalog.pg_advisory_unlock(" + key_ + ")");
    } catch (...) {  // the session is broken: its locks went with it
    }
  }
  PassLock(const PassLock&) = delete;
  PassLock& operator=(const PassLock&) = delete;

 private:
  pg::Connection& target_;
  std::string key_;
};

// Every role that owns an object to be written must exist on the target
// (roles are not copied).
void check_owners(pg::Connection& target, const std::string& source_role, const Objects& source,
                  const std::vector<Difference>& differences) {
  std::map<std::string, uint32_t> owners;
  for (const auto& difference : differences) {
    if (difference.kind == Kind::kExtra) continue;
    const Object& object = source.at(difference.oid);
    owners.emplace(object.owner, object.oid);
  }
  for (const auto& [owner, oid] : owners) {
    if (target.exec("SELECT pg_catalog.to_regrole($1) IS NULL", {owner}).boolean(0, 0)) {
      throw Error(ErrorKind::kPrecondition,
                  target.role() + ": role " + owner + " (owner of large object " +
                      std::to_string(oid) + " on the " + source_role +
                      ") does not exist; create it (roles are not copied)");
    }
  }
}

// Replaces the target's object by the source's bytes, read in the source's
// current transaction; records it in the same target transaction.
void copy_object(pg::Connection& source, pg::Connection& target, const std::string& stream,
                 const Object& object, const SyncOptions& options) {
  const std::string oid = std::to_string(object.oid);
  pg::Transaction transaction(target);
  run(target,
      "SELECT pg_catalog.lo_unlink(oid) FROM pg_catalog.pg_largeobject_metadata WHERE oid = " + oid,
      options);
  run(target, "SELECT pg_catalog.lo_create(" + oid + ")", options);
  for (int64_t offset = 0; offset < object.size; offset += kChunkBytes) {
    check_deadline(options);
    pg::Result chunk = source.exec("SELECT pg_catalog.lo_get($1::oid, $2, $3)",
                                   {oid, std::to_string(offset), std::to_string(kChunkBytes)});
    target.exec("SELECT pg_catalog.lo_put($1::oid, $2, $3::bytea)",
                {oid, std::to_string(offset), chunk.str(0, 0)});
  }
  run(target, "ALTER LARGE OBJECT " + oid + " OWNER TO " + object.owner, options);
  target.exec(
      "INSERT INTO switchyard.large_objects (stream, loid, owner, md5, size) "
      "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (stream, loid) DO UPDATE SET "
      "owner = EXCLUDED.owner, md5 = EXCLUDED.md5, size = EXCLUDED.size, synced_at = now()",
      {stream, oid, object.owner, object.md5, std::to_string(object.size)});
  transaction.commit();
}

void set_owner(pg::Connection& target, const std::string& stream, const Object& object,
               const SyncOptions& options) {
  const std::string oid = std::to_string(object.oid);
  pg::Transaction transaction(target);
  run(target, "ALTER LARGE OBJECT " + oid + " OWNER TO " + object.owner, options);
  target.exec(
      "INSERT INTO switchyard.large_objects (stream, loid, owner, md5, size) "
      "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (stream, loid) DO UPDATE SET "
      "owner = EXCLUDED.owner, md5 = EXCLUDED.md5, size = EXCLUDED.size, synced_at = now()",
      {stream, oid, object.owner, object.md5, std::to_string(object.size)});
  transaction.commit();
}

void unlink_object(pg::Connection& target, const std::string& stream, uint32_t oid,
                   const SyncOptions& options) {
  pg::Transaction transaction(target);
  run(target,
      "SELECT pg_catalog.lo_unlink(oid) FROM pg_catalog.pg_largeobject_metadata WHERE oid = " +
          std::to_string(oid),
      options);
  target.exec("DELETE FROM switchyard.large_objects WHERE stream = $1 AND loid = $2",
              {stream, std::to_string(oid)});
  transaction.commit();
}

// After comparing with the target's actual objects: the record says what
// the target now holds (the objects equal on both sides were not written).
void rewrite_records(pg::Connection& target, const std::string& stream, const Objects& source,
                     const Records& records) {
  std::vector<std::string> oids, owners, md5s, sizes;
  for (const auto& [oid, object] : source) {
    const auto found = records.objects.find(oid);
    if (found != records.objects.end() && found->second.same_as(object)) continue;
    oids.push_back(std::to_string(oid));
    owners.push_back(object.owner);
    md5s.push_back(object.md5);
    sizes.push_back(std::to_string(object.size));
  }
  std::vector<uint32_t> gone;
  for (const auto& [oid, object] : records.objects) {
    if (!source.count(oid)) gone.push_back(oid);
  }
  auto text_array = [](const std::vector<std::string>& items) {
    std::string out = "{";
    for (const auto& item : items) {
      if (out.size() > 1) out += ',';
      out += '"';
      for (char c : item) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
      }
      out += '"';
    }
    return out + "}";
  };
  if (!oids.empty()) {
    target.exec(
        "INSERT INTO switchyard.large_objects (stream, loid, owner, md5, size) "
        "SELECT $1, o::oid, w, m, s::bigint FROM unnest($2::text[], $3::text[], $4::text[], "
        "$5::text[]) AS u (o, w, m, s) "
        "ON CONFLICT (stream, loid) DO UPDATE SET owner = EXCLUDED.owner, md5 = EXCLUDED.md5, "
        "size = EXCLUDED.size, synced_at = now()",
        {stream, text_array(oids), text_array(owners), text_array(md5s), text_array(sizes)});
  }
  if (!gone.empty()) {
    target.exec("DELETE FROM switchyard.large_objects WHERE stream = $1 AND loid = ANY($2::oid[])",
                {stream, oid_array_literal(gone)});
  }
}

}  // namespace

const char* to_string(Kind kind) {
  switch (kind) {
    case Kind::kMissing:
      return "missing";
    case Kind::kExtra:
      return "extra";
    case Kind::kDifferent:
      return "different";
  }
  return "?";
}

std::vector<Difference> compare(const Objects& source, const Objects& target) {
  std::vector<Difference> out;
  auto s = source.begin();
  auto t = target.begin();
  while (s != source.end() || t != target.end()) {
    if (t == target.end() || (s != source.end() && s->first < t->first)) {
      out.push_back({s->first, Kind::kMissing, true});
      ++s;
    } else if (s == source.end() || t->first < s->first) {
      out.push_back({t->first, Kind::kExtra, false});
      ++t;
    } else {
      if (!s->second.same_as(t->second)) {
        out.push_back({s->first, Kind::kDifferent, s->second.md5 != t->second.md5});
      }
      ++s;
      ++t;
    }
  }
  return out;
}

Verdict classify(const Object* source, const Object* target, const Object* recorded,
                 bool have_records) {
  auto same = [](const Object* a, const Object* b) {
    if (!a || !b) return a == b;
    return a->same_as(*b);
  };
  if (same(source, target)) return Verdict::kEqual;
  // The target is as the sync left it: the source changed since, and the
  // next pass carries it. Anything else was done to the target by someone
  // else.
  if (!have_records || same(target, recorded)) return Verdict::kInFlight;
  return Verdict::kMismatch;
}

std::string describe(const Objects& objects) {
  uint64_t bytes = 0;
  for (const auto& [oid, object] : objects) bytes += static_cast<uint64_t>(object.size);
  return std::to_string(objects.size()) + (objects.size() == 1 ? " object (" : " objects (") +
         format_bytes(static_cast<double>(bytes)) + ")";
}

std::string SyncReport::summary() const {
  if (!digested) return "no large object changed";
  std::string out =
      std::to_string(objects) + " large objects (" + format_bytes(static_cast<double>(bytes)) + ")";
  if (copied + owners + unlinked == 0) return out + " equal";
  out += ": " + std::to_string(copied) + " copied";
  if (owners > 0) out += ", " + std::to_string(owners) + " re-owned";
  out += ", " + std::to_string(unlinked) + " unlinked";
  return out;
}

std::optional<std::string> read_change_stamp(pg::Connection& side) {
  pg::Result result = side.exec(
      "SELECT CASE WHEN pg_catalog.current_setting('track_counts')::boolean THEN "
      "concat_ws(' ', "
      " coalesce((SELECT stats_reset::text FROM pg_catalog.pg_stat_database "
      "           WHERE datname = pg_catalog.current_database()), '-'), "
      " coalesce((SELECT stats_reset::text FROM pg_catalog.pg_stat_bgwriter), '-'), "
      " pg_catalog.pg_stat_get_tuples_inserted('pg_catalog.pg_largeobject'::regclass), "
      " pg_catalog.pg_stat_get_tuples_updated('pg_catalog.pg_largeobject'::regclass), "
      " pg_catalog.pg_stat_get_tuples_deleted('pg_catalog.pg_largeobject'::regclass), "
      " pg_catalog.pg_stat_get_tuples_inserted('pg_catalog.pg_largeobject_metadata'::regclass), "
      " pg_catalog.pg_stat_get_tuples_updated('pg_catalog.pg_largeobject_metadata'::regclass), "
      " pg_catalog.pg_stat_get_tuples_deleted('pg_catalog.pg_largeobject_metadata'::regclass)) "
      "END");
  return result.optional(0, 0);
}

void check_readable(pg::Connection& side) {
  // lomacl NULL is the default: the owner only. PUBLIC is grantee 0, which
  // pg_has_role() does not know, hence the CASE.
  pg::Result denied = side.exec(
      "SELECT m.oid::text, m.lomowner::regrole::text, current_user::text, count(*) OVER () "
      "FROM pg_catalog.pg_largeobject_metadata m "
      "WHERE NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) "
      "  AND NOT pg_catalog.current_setting('lo_compat_privileges')::boolean "
      "  AND NOT pg_catalog.pg_has_role(m.lomowner, 'USAGE') "
      "  AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(m.lomacl) a "
      "                  WHERE a.privilege_type = 'SELECT' AND CASE WHEN a.grantee = 0 THEN true "
      "                        ELSE pg_catalog.pg_has_role(a.grantee, 'USAGE') END) "
      "ORDER BY m.oid LIMIT 1");
  if (denied.rows() == 0) return;
  const std::string oid = denied.str(0, 0);
  const std::string user = denied.str(0, 2);
  const int64_t count = denied.int64(0, 3);
  std::string message = side.role() + ": large object " + oid + " (owner " + denied.str(0, 1) +
                        "): role " + user + " has no right to read it";
  if (count > 1) message += " (nor " + std::to_string(count - 1) + " more)";
  message += "; GRANT SELECT ON LARGE OBJECT " + oid + " TO " + user + ", make " + user +
             " a member of " + denied.str(0, 1) + ", or set lo_compat_privileges = on";
  throw Error(ErrorKind::kPrecondition, message);
}

Objects read_objects(pg::Connection& side, bool digests, const std::vector<uint32_t>* only) {
  // OFFSET 0 keeps lo_get() to one call per object (the planner would
  // otherwise pull the subquery up and call it once per use).
  std::string sql = digests ? "SELECT m.oid::text, m.lomowner::regrole::text, d.md5, d.size "
                              "FROM pg_catalog.pg_largeobject_metadata m, LATERAL ("
                              "  SELECT pg_catalog.md5(b) AS md5, pg_catalog.length(b) AS size "
                              "  FROM (SELECT pg_catalog.lo_get(m.oid) AS b OFFSET 0) x) d"
                            : "SELECT m.oid::text, m.lomowner::regrole::text, '', 0 "
                              "FROM pg_catalog.pg_largeobject_metadata m";
  pg::Result rows =
      only ? side.exec(sql + " WHERE m.oid = ANY($1::oid[])", {oid_array_literal(*only)})
           : side.exec(sql);
  Objects out;
  for (int row = 0; row < rows.rows(); ++row) {
    Object object;
    object.oid = parse_oid(rows.get(row, 0));
    object.owner = rows.str(row, 1);
    object.md5 = rows.str(row, 2);
    object.size = rows.int64(row, 3);
    out.emplace(object.oid, std::move(object));
  }
  return out;
}

void ensure_tables(pg::Connection& target) {
  if (!tables_exist(target)) target.exec(kCreate);
}

Records read_records(pg::Connection& target, const std::string& stream) {
  Records records;
  if (!tables_exist(target)) return records;
  pg::Result state = target.exec(
      "SELECT change_stamp FROM switchyard.large_object_sync WHERE stream = $1", {stream});
  if (state.rows() > 0) {
    records.synced = true;
    records.stamp = state.optional(0, 0);
  }
  pg::Result rows = target.exec(
      "SELECT loid::text, owner, md5, size FROM switchyard.large_objects WHERE stream = $1",
      {stream});
  for (int row = 0; row < rows.rows(); ++row) {
    Object object{parse_oid(rows.get(row, 0)), rows.str(row, 1), rows.str(row, 2),
                  rows.int64(row, 3)};
    records.objects.emplace(object.oid, std::move(object));
  }
  return records;
}

TargetView read_target(pg::Connection& target, const std::string& stream,
                       const std::vector<uint32_t>* only) {
  TargetView view;
  if (!tables_exist(target)) {
    view.actual = read_objects(target, true, only);
    return view;
  }
  const std::string filter_m = only ? " WHERE oid = ANY($2::oid[])" : "";
  const std::string filter_r = only ? " AND loid = ANY($2::oid[])" : "";
  pg::Params params{stream};
  if (only) params.push_back(oid_array_literal(*only));
  // One statement, one snapshot: the objects, their records and whether a
  // pass has completed.
  pg::Result rows = target.exec(
      "SELECT coalesce(m.oid, r.loid)::text, m.lomowner::regrole::text, d.md5, d.size, "
      "       r.owner, r.md5, r.size, "
      "       EXISTS (SELECT 1 FROM switchyard.large_object_sync WHERE stream = $1) "
      "FROM (SELECT oid, lomowner FROM pg_catalog.pg_largeobject_metadata" +
          filter_m +
          ") m "
          "LEFT JOIN LATERAL (SELECT pg_catalog.md5(b) AS md5, pg_catalog.length(b) AS size "
          "  FROM (SELECT pg_catalog.lo_get(m.oid) AS b OFFSET 0) x) d ON true "
          "FULL JOIN (SELECT loid, owner, md5, size FROM switchyard.large_objects "
          "           WHERE stream = $1" +
          filter_r +
          ") r ON r.loid = m.oid "
          "UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
          "       EXISTS (SELECT 1 FROM switchyard.large_object_sync WHERE stream = $1)",
      params);
  for (int row = 0; row < rows.rows(); ++row) {
    view.records.synced = rows.boolean(row, 7);
    if (rows.is_null(row, 0)) continue;
    const uint32_t oid = parse_oid(rows.get(row, 0));
    if (!rows.is_null(row, 1)) {
      view.actual.emplace(oid, Object{oid, rows.str(row, 1), rows.str(row, 2),
                                      rows.is_null(row, 3) ? 0 : rows.int64(row, 3)});
    }
    if (!rows.is_null(row, 4)) {
      view.records.objects.emplace(
          oid, Object{oid, rows.str(row, 4), rows.str(row, 5), rows.int64(row, 6)});
    }
  }
  return view;
}

std::optional<SyncState> read_state(pg::Connection& target, const std::string& stream) {
  if (!tables_exist(target)) return std::nullopt;
  pg::Result rows = target.exec(
      "SELECT objects, bytes, synced_at::text, checked_at::text "
      "FROM switchyard.large_object_sync WHERE stream = $1",
      {stream});
  if (rows.rows() == 0) return std::nullopt;
  return SyncState{rows.int64(0, 0), rows.int64(0, 1), rows.optional(0, 2), rows.optional(0, 3)};
}

SyncReport sync(pg::Connection& source, pg::Connection& target, const std::string& stream,
                const SyncOptions& options) {
  const auto started = Clock::now();
  SyncReport report;
  // The receiving side may be the fenced old primary (after a cutover).
  target.exec("SET default_transaction_read_only = off");
  ensure_tables(target);
  PassLock lock(target, stream, options);
  Records records = read_records(target, stream);

  // Before the objects are read (see the header): a change it misses is in
  // the objects, or moves it again.
  const std::optional<std::string> stamp =
      options.snapshot ? std::nullopt : read_change_stamp(source);
  const bool against_target = options.against_target || !records.synced;
  if (!options.force && !against_target && stamp && records.stamp == stamp) {
    target.exec("UPDATE switchyard.large_object_sync SET checked_at = now() WHERE stream = $1",
                {stream});
    report.objects = records.objects.size();
    report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    return report;
  }

  // One transaction on the source: digests and bytes of the same moment.
  pg::Transaction reading(source);
  run(source, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", options);
  if (options.snapshot) {
    source.exec("SET TRANSACTION SNAPSHOT " + pg::quote_literal(*options.snapshot));
  }
  check_readable(source);
  const Objects objects = read_objects(source, true);
  check_deadline(options);
  if (against_target) check_readable(target);
  const Objects held = against_target ? read_objects(target, true) : records.objects;
  check_deadline(options);
  const std::vector<Difference> differences = compare(objects, held);
  check_owners(target, source.role(), objects, differences);
  for (const auto& difference : differences) {
    check_deadline(options);
    if (difference.kind == Kind::kExtra) {
      unlink_object(target, stream, difference.oid, options);
      ++report.unlinked;
    } else if (difference.content) {
      copy_object(source, target, stream, objects.at(difference.oid), options);
      ++report.copied;
    } else {
      set_owner(target, stream, objects.at(difference.oid), options);
      ++report.owners;
    }
    report.changed.push_back(difference.oid);
  }
  if (against_target) rewrite_records(target, stream, objects, read_records(target, stream));
  reading.commit();

  report.digested = true;
  report.objects = objects.size();
  for (const auto& [oid, object] : objects) report.bytes += static_cast<uint64_t>(object.size);
  target.exec(
      "INSERT INTO switchyard.large_object_sync AS s (stream, change_stamp, objects, bytes, "
      "synced_at, checked_at) VALUES ($1, $2, $3, $4, now(), now()) "
      "ON CONFLICT (stream) DO UPDATE SET change_stamp = EXCLUDED.change_stamp, "
      "objects = EXCLUDED.objects, bytes = EXCLUDED.bytes, synced_at = now(), checked_at = now()",
      {stream, stamp, std::to_string(report.objects), std::to_string(report.bytes)});
  report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return report;
}

}  // namespace switchyard::control::large_objects
