#include "verify/sides.h"

#include <future>
#include <thread>

#include "common/shutdown.h"
#include "control/control_schema.h"

namespace switchyard::verify {

Sides::Sides(const Config& config)
    : config_(config),
      source_(config.source.conninfo, "source", pg::Mode::kNormal, "verify"),
      target_(config.target.conninfo, "target", pg::Mode::kNormal, "verify"),
      control_(config.target.conninfo, "target", pg::Mode::kNormal, "verify") {
  prepare_session(source_);
  prepare_session(target_);
  prepare_session(control_);
}

SideRead Sides::read(Side side, const TablePlan& plan, const std::string& select,
                     bool digest_only) {
  pg::Connection& connection = side == Side::kSource ? source_ : target_;
  SideRead result;
  if (side == Side::kTarget) {
    // Read before the snapshot: everything applied up to here is visible.
    result.position =
        control::origin_progress(connection, config_.origin_name(), false).value_or(Lsn{});
  }
  connection.exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
  try {
    if (side == Side::kSource) {
      // The first statement takes the snapshot; the position is read after
      // it, so every commit the snapshot sees lies before it.
      result.position =
          Lsn::parse(
              connection.exec("SELECT pg_catalog.pg_current_wal_insert_lsn()::text").get(0, 0))
              .value_or(Lsn{});
    }
    result.rows = ChunkHasher(connection, plan, side).read(select, digest_only);
    connection.exec("COMMIT");
  } catch (...) {
    if (connection.ok()) connection.exec("ROLLBACK");
    throw;
  }
  return result;
}

std::pair<SideRead, SideRead> Sides::read_both(const TablePlan& plan,
                                               const std::string& source_select,
                                               const std::string& target_select) {
  auto target_read =
      std::async(std::launch::async, [&] { return read(Side::kTarget, plan, target_select); });
  SideRead source_read;
  try {
    source_read = read(Side::kSource, plan, source_select);
  } catch (...) {
    target_read.wait();  // never leave the other thread using target_
    throw;
  }
  return {std::move(source_read), target_read.get()};
}

Lsn Sides::applied_position() {
  Lsn applied = control::origin_progress(control_, config_.origin_name(), false).value_or(Lsn{});
  pg::Result slot = source_.exec(
      "SELECT confirmed_flush_lsn::text FROM pg_catalog.pg_replication_slots "
      "WHERE slot_name = $1 AND confirmed_flush_lsn IS NOT NULL",
      {config_.slot_name()});
  if (slot.rows() > 0) applied = std::max(applied, Lsn::parse(slot.get(0, 0)).value_or(Lsn{}));
  return applied;
}

bool Sides::stream_running() {
  pg::Result slot =
      source_.exec("SELECT active FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
                   {config_.slot_name()});
  return slot.rows() > 0 && slot.boolean(0, 0);
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

}  // namespace switchyard::verify
