#include "verify/sides.h"

#include <algorithm>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/shutdown.h"
#include "control/control_schema.h"
#include "drivers/pg/sql.h"

namespace switchyard::verify {

PostgresSides::PostgresSides(const Config& config)
    : config_(config),
      source_(config.source.conninfo, config.source.name, pg::Mode::kNormal, "verify"),
      target_(config.target.conninfo, config.target.name, pg::Mode::kNormal, "verify"),
      control_(config.target.conninfo, config.target.name, pg::Mode::kNormal, "verify") {
  prepare_session(source_);
  prepare_session(target_);
  prepare_session(control_);
}

namespace {

// Key ranges and key lists address rows by their key; a table without one
// is read whole (read_whole).
void require_key(const TablePlan& plan) {
  if (plan.keyless()) {
    throw Error(ErrorKind::kInternal, plan.display + ": read by key, but it has no key");
  }
}

// An apply transaction stays "committing" for microseconds, milliseconds on
// a busy machine; longer than this and something is wrong with the target.
constexpr auto kCommitPatience = std::chrono::seconds(10);

// The transactions of switchyard's sessions (the apply session) that are
// committing on `connection` now, as a text[] of xids.
std::string committing_apply_xids(pg::Connection& connection) {
  return connection
      .exec(
          "SELECT coalesce(array_agg(backend_xid::text), '{}') FROM pg_catalog.pg_stat_activity "
          "WHERE backend_xid IS NOT NULL AND application_name LIKE 'switchyard%' "
          "AND state = 'active' AND query ~* '^\\s*commit' "
          "AND pid <> pg_catalog.pg_backend_pid()")
      .str(0, 0);
}

// Whether the current snapshot still sees any of `xids` in progress.
bool any_in_snapshot(pg::Connection& connection, const std::string& xids) {
  return connection
      .exec(
          "SELECT EXISTS (SELECT 1 FROM "
          "pg_catalog.pg_snapshot_xip(pg_catalog.pg_current_snapshot()) x "
          "WHERE (x::text::numeric % 4294967296)::text = ANY ($1::text[]))",
          {xids})
      .boolean(0, 0);
}

// Whether an apply transaction committing now is still in progress for a
// snapshot taken now, in one round trip: the statement's snapshot is taken
// before pg_stat_activity is read, so a transaction listed as committing
// and in that snapshot has not become visible yet; one that finished in
// between is visible to every later snapshot. (begin_snapshot() needs the
// other order, the list read before its own snapshot, and two statements.)
// `first`, if any, runs in the same round trip, before; `also` are
// evaluated in the same statement, so in the same snapshot: the result's
// columns after the first.
pg::Result apply_commit_pending(pg::Connection& connection, const std::string& first = {},
                                const std::vector<std::string>& also = {}) {
  std::string sql = first.empty() ? std::string() : first + "; ";
  sql +=
      "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a, "
      "pg_catalog.pg_snapshot_xip(pg_catalog.pg_current_snapshot()) x "
      "WHERE a.backend_xid IS NOT NULL AND a.application_name LIKE 'switchyard%' "
      "AND a.state = 'active' AND a.query ~* '^\\s*commit' "
      "AND a.pid <> pg_catalog.pg_backend_pid() "
      "AND (x::text::numeric % 4294967296)::text = a.backend_xid::text)";
  for (const std::string& expression : also) sql += ", " + expression;
  return connection.exec(sql);
}

}  // namespace

Lsn PostgresSides::begin_snapshot(Side side) {
  pg::Connection& connection = side == Side::kSource ? source_ : target_;
  const auto give_up_at = std::chrono::steady_clock::now() + kCommitPatience;
  for (int attempt = 1;; ++attempt) {
    Lsn position;
    std::string applying;
    if (side == Side::kTarget) {
      // Read before the snapshot. A commit moves the origin's progress a
      // moment before it becomes visible, though (a busy machine stretches
      // that moment to milliseconds): an apply transaction committing now
      // must be visible to the snapshot, or the snapshot may miss what the
      // position promises. Transactions still open promise nothing.
      position = control::origin_progress(connection, config_.origin_name(), false).value_or(Lsn{});
      applying = committing_apply_xids(connection);
    }
    connection.exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    try {
      if (applying.empty() || applying == "{}" || !any_in_snapshot(connection, applying)) {
        if (side == Side::kSource) {
          // The first statement takes the snapshot; the position is read
          // after it, so every commit the snapshot sees lies before it.
          position =
              Lsn::parse(
                  connection.exec("SELECT pg_catalog.pg_current_wal_insert_lsn()::text").get(0, 0))
                  .value_or(Lsn{});
        }
        return position;
      }
    } catch (...) {
      if (connection.ok()) connection.exec("ROLLBACK");
      throw;
    }
    connection.exec("ROLLBACK");
    if (stop_requested()) throw Error(ErrorKind::kInterrupted, "verify: stopped");
    if (std::chrono::steady_clock::now() >= give_up_at) {
      throw Error(ErrorKind::kTimeout,
                  connection.role() +
                      ": an apply transaction has been committing for over 10 s, so no "
                      "snapshot shows what the stream has applied; is the target stalled "
                      "(a synchronous standby down, a full disk)?");
    }
    // A commit takes microseconds; a busy machine may stretch that to a few
    // milliseconds.
    std::this_thread::sleep_for(std::chrono::milliseconds(attempt < 10 ? 1 : 10));
  }
}

SideRead PostgresSides::read(Side side, const TablePlan& plan, const std::string& select,
                             bool digest_only, const RowFilter* filter) {
  pg::Connection& connection = side == Side::kSource ? source_ : target_;
  SideRead result;
  result.position = begin_snapshot(side);
  try {
    result.rows = ChunkHasher(connection, plan, side).read(select, digest_only, filter);
    connection.exec("COMMIT");
  } catch (...) {
    if (connection.ok()) connection.exec("ROLLBACK");
    throw;
  }
  return result;
}

std::vector<ChunkRows> PostgresSides::read_in_one_snapshot(
    Side side, const std::vector<MarkedTableRead>& reads) {
  pg::Connection& connection = side == Side::kSource ? source_ : target_;
  connection.exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
  std::vector<ChunkRows> rows;
  rows.reserve(reads.size());
  try {
    for (const MarkedTableRead& read : reads) {
      rows.push_back(
          ChunkHasher(connection, *read.plan, side).read(read.read.select(*read.plan, side)));
    }
    connection.exec("COMMIT");
  } catch (...) {
    if (connection.ok()) connection.exec("ROLLBACK");
    throw;
  }
  return rows;
}

std::vector<std::pair<ChunkRows, ChunkRows>> PostgresSides::read_marked(
    const std::vector<MarkedTableRead>& reads) {
  std::vector<std::pair<ChunkRows, ChunkRows>> result;
  if (reads.empty()) return result;
  auto target_rows =
      std::async(std::launch::async, [&] { return read_in_one_snapshot(Side::kTarget, reads); });
  std::vector<ChunkRows> source_rows;
  try {
    source_rows = read_in_one_snapshot(Side::kSource, reads);
  } catch (...) {
    target_rows.wait();  // never leave the other thread using target_
    throw;
  }
  std::vector<ChunkRows> target = target_rows.get();
  result.reserve(reads.size());
  for (size_t i = 0; i < reads.size(); ++i) {
    result.emplace_back(std::move(source_rows[i]), std::move(target[i]));
  }
  return result;
}

void PostgresSides::warm_applied_visible(const std::vector<std::string>& also) {
  apply_commit_pending(control_, {}, also);
}

PostgresSides::AppliedVisible PostgresSides::wait_applied_visible(
    std::chrono::steady_clock::time_point deadline, const std::string& first,
    const std::vector<std::string>& also) {
  AppliedVisible visible;
  pg::Result result = apply_commit_pending(control_, first, also);
  for (visible.polls = 1; result.boolean(0, 0); ++visible.polls) {
    if (std::chrono::steady_clock::now() >= deadline) {
      throw Error(ErrorKind::kTimeout, control_.role() +
                                           ": an apply transaction is still committing; its "
                                           "rows are not visible yet");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    result = apply_commit_pending(control_, {}, also);
  }
  for (size_t column = 1; column <= also.size(); ++column) {
    visible.values.push_back(result.optional(0, static_cast<int>(column)));
  }
  return visible;
}

std::pair<SideRead, SideRead> PostgresSides::read_both(const TablePlan& plan,
                                                       const std::string& source_select,
                                                       const std::string& target_select,
                                                       const RowFilter* filter) {
  auto target_read = std::async(
      std::launch::async, [&] { return read(Side::kTarget, plan, target_select, false, filter); });
  SideRead source_read;
  try {
    source_read = read(Side::kSource, plan, source_select, false, filter);
  } catch (...) {
    target_read.wait();  // never leave the other thread using target_
    throw;
  }
  return {std::move(source_read), target_read.get()};
}

Lsn PostgresSides::applied_position() {
  Lsn applied = control::origin_progress(control_, config_.origin_name(), false).value_or(Lsn{});
  pg::Result slot = source_.exec(
      "SELECT confirmed_flush_lsn::text FROM pg_catalog.pg_replication_slots "
      "WHERE slot_name = $1 AND confirmed_flush_lsn IS NOT NULL",
      {config_.slot_name()});
  if (slot.rows() > 0) applied = std::max(applied, Lsn::parse(slot.get(0, 0)).value_or(Lsn{}));
  return applied;
}

bool PostgresSides::stream_running() {
  pg::Result slot =
      source_.exec("SELECT active FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
                   {config_.slot_name()});
  return slot.rows() > 0 && slot.boolean(0, 0);
}

TablePlan PostgresSides::plan(const std::string& schema, const std::string& name) {
  return plan_table(source_, target_, schema, name);
}

std::pair<SideRead, SideRead> PostgresSides::read_range(const TablePlan& plan, const KeyText* lower,
                                                        const KeyText* upper) {
  require_key(plan);
  return read_both(plan, plan.select_range(Side::kSource, lower, upper),
                   plan.select_range(Side::kTarget, lower, upper));
}

SideRead PostgresSides::read_keys(Side side, const TablePlan& plan,
                                  const std::vector<KeyText>& keys) {
  require_key(plan);
  return read(side, plan, plan.select_keys(side, keys));
}

std::pair<SideRead, SideRead> PostgresSides::read_keys_both(const TablePlan& plan,
                                                            const std::vector<KeyText>& keys) {
  require_key(plan);
  return read_both(plan, plan.select_keys(Side::kSource, keys),
                   plan.select_keys(Side::kTarget, keys));
}

std::pair<SideRead, SideRead> PostgresSides::read_whole(const TablePlan& plan,
                                                        const RowFilter& filter) {
  return read_both(plan, plan.select_all(Side::kSource), plan.select_all(Side::kTarget), &filter);
}

SideRead PostgresSides::read_whole(Side side, const TablePlan& plan, const RowFilter& filter) {
  return read(side, plan, plan.select_all(side), false, &filter);
}

std::optional<std::pair<int64_t, int64_t>> PostgresSides::key_extent(const TablePlan& plan) {
  const std::string column = "t." + pg::quote_ident(plan.columns[plan.key[0]].name);
  pg::Result bounds = source_.exec("SELECT min(" + column + ")::text, max(" + column +
                                   ")::text FROM " + plan.qualified + " t");
  if (bounds.is_null(0, 0)) return std::nullopt;
  return std::pair{std::stoll(bounds.str(0, 0)), std::stoll(bounds.str(0, 1))};
}

std::optional<KeyText> PostgresSides::split_point(const TablePlan& plan, const KeyText* lower,
                                                  uint64_t rows) {
  pg::Result split = source_.exec(plan.split_point(lower, rows));
  if (split.rows() == 0) return std::nullopt;
  KeyText upper;
  for (int column = 0; column < split.columns(); ++column) upper.push_back(split.str(0, column));
  return upper;
}

std::vector<std::pair<ChunkRows, ChunkRows>> Sides::read_marked(
    const std::vector<MarkedTableRead>& reads) {
  std::vector<std::pair<ChunkRows, ChunkRows>> result;
  result.reserve(reads.size());
  for (const auto& [plan, read] : reads) {
    auto [source, target] =
        read.range() ? read_range(*plan, read.lower ? &*read.lower : nullptr, &*read.upper)
                     : read_keys_both(*plan, read.keys);
    result.emplace_back(std::move(source.rows), std::move(target.rows));
  }
  return result;
}

std::pair<SideRead, SideRead> Sides::read_whole(const TablePlan& plan, const RowFilter&) {
  throw Error(ErrorKind::kInternal,
              plan.display + ": this source cannot read a table without a key");
}

SideRead Sides::read_whole(Side, const TablePlan& plan, const RowFilter&) {
  throw Error(ErrorKind::kInternal,
              plan.display + ": this source cannot read a table without a key");
}

bool Sides::wait_applied(Lsn position, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(2);
  while (applied_position() < position) {
    if (stop_requested() || std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
  return true;
}

bool PostgresSides::wait_source_commits_visible(std::chrono::milliseconds timeout) {
  // A transaction holds the lock on its own id until after it has become
  // visible: once every writer running now has released it, everything
  // committed before now is visible. (Our own session writes nothing.)
  const char* kWriters =
      "SELECT l.transactionid::text FROM pg_catalog.pg_locks l "
      "WHERE l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock' AND l.granted";
  std::vector<std::string> running;
  {
    pg::Result writers = source_.exec(kWriters);
    for (int row = 0; row < writers.rows(); ++row) running.push_back(writers.str(row, 0));
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  while (!running.empty()) {
    if (stop_requested() || std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
    std::vector<std::string> still;
    pg::Result writers = source_.exec(kWriters);
    for (int row = 0; row < writers.rows(); ++row) {
      const std::string xid = writers.str(row, 0);
      if (std::find(running.begin(), running.end(), xid) != running.end()) still.push_back(xid);
    }
    running = std::move(still);
  }
  return true;
}

}  // namespace switchyard::verify
