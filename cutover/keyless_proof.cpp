#include "cutover/keyless_proof.h"

#include <thread>

#include "common/failpoint.h"
#include "common/log.h"
#include "control/control_schema.h"
#include "drivers/pg/sql.h"
#include "verify/chunk_hasher.h"

namespace switchyard::cutover {
namespace {

using Clock = std::chrono::steady_clock;
using verify::Side;

// The apply loop looks for a request every 250 ms and notes where its log
// starts at its next batch, or at once when idle.
constexpr std::chrono::milliseconds kLogStartsWithin{5'000};
// The target catching up with a snapshot of a busy source.
constexpr std::chrono::milliseconds kCatchUpWithin{60'000};
// A snapshot one commit off shows as a difference: look again.
constexpr int kAttempts = 3;

}  // namespace

std::optional<Lsn> KeylessProof::wait_for_log(std::chrono::milliseconds timeout) {
  const auto give_up_at = Clock::now() + timeout;
  while (true) {
    const auto request = control::read_exact_marks_request(sides_.control(), config_.name);
    if (request.images_since) return request.images_since;
    if (Clock::now() >= give_up_at) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::string KeylessProof::log_filter(const verify::TablePlan& plan) const {
  return "k.stream = " + pg::quote_literal(config_.name) +
         " AND k.schema_name = " + pg::quote_literal(plan.schema) +
         " AND k.table_name = " + pg::quote_literal(plan.name);
}

// The logged rows of one sign committed at or after `from`, read like the
// table itself: each column text cast to the target column's type, so the
// rows hash exactly as the table's rows do.
std::string KeylessProof::select_logged(const verify::TablePlan& plan, int sign, Lsn from) const {
  std::string columns;
  for (size_t column_idx = 0; column_idx < plan.columns.size(); ++column_idx) {
    const auto& column = plan.columns[column_idx];
    columns += (column_idx ? ", " : "") + std::string("k.images[i][") +
               std::to_string(column_idx + 1) + "]::" + column.type_name[1] + " AS " +
               pg::quote_ident(column.name);
  }
  return plan.select_from(
      Side::kTarget,
      "(SELECT " + columns +
          " FROM switchyard.keyless_images k"
          " CROSS JOIN LATERAL pg_catalog.generate_subscripts(k.images, 1) AS i WHERE " +
          log_filter(plan) + " AND k.sign = " + std::to_string(sign) +
          " AND k.lsns[i] >= " + pg::quote_literal(from.to_string()) + "::pg_lsn)");
}

bool KeylessProof::prove(const verify::TablePlan& plan) {
  const auto log_from = wait_for_log(kLogStartsWithin);
  if (!log_from) {
    spdlog::info("{}: the stream has not started its row log (is replicate running?)",
                 plan.display);
    return false;
  }
  pg::Connection& target = sides_.target();
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    // The source at P, the position after its snapshot (digests only: a
    // keyless table can be large, and no row is needed)...
    const verify::SideRead source =
        sides_.read(Side::kSource, plan, plan.select_all(Side::kSource), /*digest_only=*/true);
    failpoint("keyless_proof:source_read");  // tests hold it here while writes go on
    if (!sides_.wait_applied(source.position, kCatchUpWithin)) {
      spdlog::info("{}: the target did not reach the source's position {}", plan.display,
                   source.position.to_string());
      return false;
    }
    // ... and the target, with what the stream wrote after P, in one snapshot.
    auto digest = [&](const std::string& select) {
      return verify::ChunkHasher(target, plan, Side::kTarget).read(select, true).digest;
    };
    target.exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    verify::ChunkDigest now, added, removed;
    LogState log;
    try {
      now = digest(plan.select_all(Side::kTarget));
      added = digest(select_logged(plan, 1, source.position));
      removed = digest(select_logged(plan, -1, source.position));
      log = read_log(target, plan);
      target.exec("COMMIT");
    } catch (...) {
      if (target.ok()) target.exec("ROLLBACK");
      throw;
    }
    if (!log.active || log.since != log_from) {
      spdlog::info("{}: the stream's row log started again while it was read", plan.display);
      return false;
    }
    if (log.missed) {
      spdlog::info("{}: a change the stream sent did not apply as sent (or a TRUNCATE)",
                   plan.display);
      return false;
    }
    verify::ChunkDigest expected = source.rows.digest;
    expected += added;
    expected -= removed;
    if (expected == now) {
      spdlog::info(
          "{}: equal at source position {} ({} rows), proven without a key by the {} rows the "
          "stream added and {} it removed since",
          plan.display, source.position.to_string(), source.rows.digest.rows, added.rows,
          removed.rows);
      proven_with_log_from_ = log_from;
      return true;
    }
    spdlog::info("{}: source at {} plus the stream's changes is {} rows, the target {}{}",
                 plan.display, source.position.to_string(), expected.rows, now.rows,
                 attempt < kAttempts ? "; looking again" : "");
  }
  return false;
}

std::optional<std::string> KeylessProof::still_holds(const verify::TablePlan& plan) const {
  if (!proven_with_log_from_) return std::nullopt;
  // What read_log() reads, as one expression: the request still active,
  // the log the one the proof used, and no 0 for the table.
  return "(SELECT coalesce(s.exact_marks_until > pg_catalog.now(), false) "
         "AND s.keyless_images_since = " +
         pg::quote_literal(proven_with_log_from_->to_string()) +
         "::pg_lsn AND NOT EXISTS (SELECT FROM switchyard.keyless_images k WHERE " +
         log_filter(plan) + " AND k.sign = 0) FROM switchyard.streams s WHERE s.name = " +
         pg::quote_literal(config_.name) + ")";
}

// The request still active (a lapsed one stops the log), where the log
// starts, and whether it holds a 0 for the table.
KeylessProof::LogState KeylessProof::read_log(pg::Connection& target,
                                              const verify::TablePlan& plan) const {
  pg::Result rows = target.exec(
      "SELECT coalesce(s.exact_marks_until > pg_catalog.now(), false), "
      "       s.keyless_images_since::text, "
      "       EXISTS (SELECT FROM switchyard.keyless_images k WHERE " +
          log_filter(plan) +
          " AND k.sign = 0) "
          "  FROM switchyard.streams s WHERE s.name = $1",
      {config_.name});
  LogState log;
  if (rows.rows() == 0) return log;
  log.active = rows.boolean(0, 0);
  if (!rows.is_null(0, 1)) log.since = Lsn::parse(rows.get(0, 1));
  log.missed = rows.boolean(0, 2);
  return log;
}

}  // namespace switchyard::cutover
