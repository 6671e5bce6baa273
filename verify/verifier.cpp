#include "verify/verifier.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "common/backoff.h"
#include "common/error.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/shutdown.h"
#include "common/units.h"
#include "control/control_schema.h"
#include "drivers/pg/sql.h"
#include "verify/key_runs.h"
#include "verify/recheck.h"

namespace switchyard::verify {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Decides where each chunk ends, steering the chunk's read time toward
// verify.chunk_time. A single integer key steps by value, using the density
// seen so far (no query); any other key asks the source for the key N rows
// on (Sides::split_point).
class ChunkSizer {
 public:
  static constexpr double kFirstRows = 20'000;
  static constexpr double kMinRows = 1'000;

  ChunkSizer(const TablePlan& plan, Sides& sides, std::chrono::milliseconds chunk_time)
      : plan_(plan), sides_(sides), chunk_seconds_(chunk_time.count() / 1000.0) {
    if (!plan.integer_key) return;
    const auto extent = sides.key_extent(plan);
    if (!extent) {
      empty_ = true;
      return;
    }
    min_ = extent->first;
    max_ = extent->second;
    const double span = static_cast<double>(max_) - static_cast<double>(min_) + 1;
    density_ = plan.estimated_rows > 0 ? std::min(1.0, plan.estimated_rows / span) : 1.0;
  }

  // The inclusive upper bound of the chunk after `lower`, or nullopt for
  // "to the end of the table".
  std::optional<KeyText> next_upper(const KeyText* lower) {
    if (plan_.integer_key) {
      if (empty_) return std::nullopt;
      // In 128 bits: keys near the ends of int64 must not wrap around.
      const __int128 start = lower ? std::stoll((*lower)[0]) : static_cast<__int128>(min_) - 1;
      width_ = std::max(1.0, std::min(rows_ / density_, 9.0e18));
      const __int128 upper = start + static_cast<__int128>(width_);
      if (upper >= max_) return std::nullopt;
      return KeyText{std::to_string(static_cast<int64_t>(upper))};
    }
    return sides_.split_point(plan_, lower, static_cast<uint64_t>(rows_));
  }

  void observe(uint64_t rows, double seconds) {
    if (plan_.integer_key) {
      // An empty range says the keys are sparser here: widen quickly.
      density_ = rows > 0 ? static_cast<double>(rows) / width_ : density_ / 8;
    }
    if (rows == 0 || seconds <= 0) return;
    const double wanted = static_cast<double>(rows) * chunk_seconds_ / seconds;
    rows_ = std::clamp(wanted, std::max(kMinRows, rows_ / 4),
                       std::min(sides_.max_chunk_rows(), rows_ * 4));
  }

 private:
  const TablePlan& plan_;
  Sides& sides_;
  double chunk_seconds_;
  double rows_ = kFirstRows;
  bool empty_ = false;
  int64_t min_ = 0, max_ = 0;
  double density_ = 1.0;  // rows per key value
  double width_ = 1.0;    // of the last integer range
};

// Holds a full pass to verify.max_rows_per_second / max_bytes_per_second.
class RateLimiter {
 public:
  RateLimiter(const VerifySettings& settings, bool enabled)
      : max_rows_(enabled ? settings.max_rows_per_second : 0),
        max_bytes_(enabled ? settings.max_bytes_per_second : 0) {}

  void pace(uint64_t rows, uint64_t bytes) {
    double due = 0;
    if (max_rows_ > 0) due = std::max(due, static_cast<double>(rows) / max_rows_);
    if (max_bytes_ > 0) due = std::max(due, static_cast<double>(bytes) / max_bytes_);
    while (!stop_requested() && seconds_since(start_) < due) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // Time spent waiting for something else is not made up in a burst after.
  void skip(Clock::duration idle) { start_ += idle; }

 private:
  uint64_t max_rows_;
  uint64_t max_bytes_;
  Clock::time_point start_ = Clock::now();
};

const char* worse(const char* a, const std::string& b) {
  auto rank = [](std::string_view status) {
    return status == "mismatch" ? 2 : status == "in_flight" ? 1 : 0;
  };
  return rank(a) >= rank(b) ? a : (b == "mismatch" ? "mismatch" : "in_flight");
}

std::vector<KeyText> keys_of(const std::vector<Finding>& findings) {
  std::vector<KeyText> keys;
  keys.reserve(findings.size());
  for (const auto& finding : findings) keys.push_back(finding.key);
  return keys;
}

// The newest position among the marks read: keys carried over keep it.
Lsn max_marked(const store::DirtySet& dirty) {
  Lsn newest;
  for (const auto& row : dirty.rows) newest = std::max(newest, *Lsn::parse(row.marked_lsn));
  return newest;
}

// Buckets for reading a table without a key: about 16 rows each by the
// planner's estimate, 2^12 to 2^18 of them (96 KiB to 6 MiB of digests per
// side); the most when the table was never analyzed.
uint64_t keyless_buckets(double estimated_rows) {
  constexpr uint64_t kFewest = uint64_t{1} << 12;
  constexpr uint64_t kMost = uint64_t{1} << 18;
  if (estimated_rows <= 0) return kMost;
  uint64_t buckets = kFewest;
  while (buckets < kMost && static_cast<double>(buckets) * 16 < estimated_rows) buckets <<= 1;
  return buckets;
}

}  // namespace

Verifier::Verifier(const Config& config)
    : Verifier(config, std::make_unique<PostgresSides>(config)) {}

Verifier::Verifier(const Config& config, std::unique_ptr<Sides> sides)
    : config_(config), sides_(std::move(sides)) {}

std::vector<TablePlan> Verifier::plan_tables(const std::optional<std::string>& only) {
  pg::Connection& target = sides_->control();
  const auto stream = control::read_stream(target, config_.name);
  if (!stream) {
    throw Error(ErrorKind::kPrecondition,
                "target: stream " + config_.name + " does not exist (run init and snapshot)");
  }
  if (stream->phase != control::kStreaming) {
    throw Error(ErrorKind::kPrecondition, "target: stream " + config_.name +
                                              " has not finished its initial copy (phase " +
                                              stream->phase + "); run snapshot first");
  }
  std::vector<TablePlan> plans;
  for (const auto& table : control::read_tables(target, config_.name)) {
    if (only && !sides_->names_table(*only, table.schema, table.name)) continue;
    if (table.adding) {
      spdlog::info("{}.{} is being added to the stream; verified once it streams", table.schema,
                   table.name);
      continue;
    }
    plans.push_back(sides_->plan(table.schema, table.name));
  }
  if (only && plans.empty()) {
    throw Error(ErrorKind::kUsage, "--table " + *only + ": not a table of stream " + config_.name +
                                       " (expected schema.table)");
  }
  return plans;
}

std::string Verifier::settle(const TablePlan& plan, std::vector<std::string> keys,
                             TableReport& report) {
  constexpr size_t kRowsNamed = 10;  // rows in flight named one by one in a pass, then counted
  const char* status = "clean";
  report.rechecked += keys.size();
  for (const Settled& key : recheck(*sides_, plan, std::move(keys), config_.verify)) {
    if (key.verdict == Verdict::kEqual) continue;
    Finding finding = make_finding(plan, key.key, key.kind, key.source_position);
    const std::string shown = boost::json::serialize(finding.key_json);
    if (key.verdict == Verdict::kMismatch) {
      spdlog::warn("{}: mismatch: row {} is {} (confirmed at source position {})", plan.display,
                   shown, to_string(key.kind), key.source_position.to_string());
      store::record_mismatch(sides_->control(), config_.name, plan, finding);
      report.mismatches.push_back(std::move(finding));
      status = "mismatch";
    } else {
      // A stream that stopped because it turned round (a cutover or
      // failback under the pass) is no news: the pass ends (log_unsettled).
      const bool turned = key.why == Unsettled::kStreamStopped && abandon_ &&
                          (abandoned_ || (abandoned_ = abandon_()));
      if (++report.unsettled[key.why] <= kRowsNamed && !turned) {
        spdlog::info("{}: row {} {}: in flight, not compared", plan.display, shown,
                     to_string(key.why, config_.source.name));
      }
      report.in_flight.push_back(std::move(finding));
      status = worse(status, "in_flight");
    }
  }
  return status;
}

bool Verifier::should_abandon() {
  if (!abandon_ || abandoned_) return abandoned_;
  const auto now = Clock::now();
  if (now - abandon_asked_ < std::chrono::seconds(1)) return false;
  abandon_asked_ = now;
  abandoned_ = abandon_();
  return abandoned_;
}

Clock::duration Verifier::yield_if_asked() {
  if (!yield_) return {};
  const auto started = Clock::now();
  if (started - yield_asked_ < std::chrono::seconds(1)) return {};
  yield_asked_ = started;
  if (!yield_()) return {};
  spdlog::info("a cutover or failback is preparing: verify waits between chunks until it ends");
  while (sleep_unless_stopped(std::chrono::milliseconds(200)) && !should_abandon() && yield_()) {
  }
  const auto waited = Clock::now() - started;
  if (!abandoned_ && !stop_requested()) {
    spdlog::info("verify goes on after waiting {}",
                 format_duration(std::chrono::duration<double>(waited).count()));
  }
  yield_asked_ = Clock::now();
  return waited;
}

void Verifier::log_unsettled(const TablePlan& plan, const TableReport& report) const {
  if (abandoned_) {
    // Rows the pass could not settle once the stream stopped or turned
    // round: not a finding, and nothing for anyone to do.
    spdlog::info(
        "{}: pass ended early, the stream turned round; the next pass compares the other "
        "way",
        plan.display);
    return;
  }
  for (const auto& [why, count] : report.unsettled) {
    std::string next = "verify --dirty-only settles them later";
    if (why == Unsettled::kStreamStopped) {
      next = "start replicate (slot " + config_.slot_name() +
             " is inactive), then run verify --dirty-only";
    } else if (why == Unsettled::kStreamBehind) {
      next = "verify --dirty-only settles them once the stream catches up";
    }
    spdlog::warn("{}: {} row{} {}: not compared; {}", plan.display, count, count == 1 ? "" : "s",
                 to_string(why, config_.source.name), next);
  }
}

TableReport Verifier::full_pass(const TablePlan& plan, bool rate_limited) {
  TableReport report;
  report.table = plan.display;
  report.whole_table = true;
  const auto started = Clock::now();
  pg::Connection& control = sides_->control();
  const std::string pass_started = store::begin_pass(control, config_.name, plan);
  ChunkSizer sizer(plan, *sides_, config_.verify.chunk_time);
  RateLimiter limiter(config_.verify, rate_limited);
  ProgressMeter progress("verify " + plan.display, 0, static_cast<uint64_t>(plan.estimated_rows),
                         "chunks");
  const char* status = "clean";
  Lsn first_target_position, last_source_position;
  std::optional<KeyText> lower;
  while (true) {
    const auto chunk_started = Clock::now();
    std::optional<KeyText> upper;
    if (!plan.keyless()) upper = sizer.next_upper(lower ? &*lower : nullptr);
    const KeyText* lower_bound = lower ? &*lower : nullptr;
    const KeyText* upper_bound = upper ? &*upper : nullptr;
    auto [source, target] =
        plan.keyless() ? read_keyless(plan) : sides_->read_range(plan, lower_bound, upper_bound);
    const double read_seconds = seconds_since(chunk_started);
    if (report.chunks == 0) first_target_position = target.position;
    last_source_position = source.position;
    std::string chunk_status = "clean";
    if (source.rows.digest != target.rows.digest) {
      chunk_status = settle(plan, differing_keys(source.rows, target.rows), report);
      status = worse(status, chunk_status);
    }
    store::save_chunk(control, config_.name, plan,
                      {report.chunks, lower_bound, upper_bound, source.rows.digest.rows,
                       source.rows.digest.to_string(), target.rows.digest.to_string(), chunk_status,
                       source.position});
    ++report.chunks;
    report.source_rows += source.rows.digest.rows;
    report.target_rows += target.rows.digest.rows;
    report.bytes += source.rows.bytes + target.rows.bytes;
    progress.update(report.source_rows, report.bytes, report.chunks, 0);
    sizer.observe(std::max(source.rows.digest.rows, target.rows.digest.rows), read_seconds);
    limiter.pace(report.source_rows, std::max(report.bytes / 2, source.rows.bytes));
    if (!upper) break;
    limiter.skip(yield_if_asked());
    if (stop_requested() || should_abandon()) {
      report.completed = false;
      break;
    }
    lower = std::move(upper);
  }
  progress.clear();
  report.seconds = seconds_since(started);
  // Rows left unsettled may be the stream turning round under the last chunk.
  if (report.completed && !abandoned_ && !report.unsettled.empty() && abandon_) {
    abandoned_ = abandon_();
  }
  if (abandoned_) report.completed = false;
  log_unsettled(plan, report);
  if (!report.completed) return report;
  pg::Transaction transaction(control);
  store::trim_chunks(control, config_.name, plan, report.chunks);
  store::finish_pass(control, config_.name, plan, status, last_source_position, report.source_rows,
                     report.chunks, report.mismatches.size(), report.in_flight.size());
  if (report.in_flight.empty()) store::resolve_unseen(control, config_.name, plan, pass_started);
  // Every change applied before the first chunk was read has been compared:
  // equal, recorded as a mismatch, or still in flight and marked again, so
  // that the next dirty-only pass (or the cutover's gate) settles it.
  if (report.mismatches.empty()) {
    store::clear_dirty_through(control, config_.name, plan, first_target_position);
    store::mark_dirty(control, config_.name, plan, keys_of(report.in_flight), last_source_position);
  }
  transaction.commit();
  return report;
}

// A table without a key can be compared only as a whole, and it may be
// large: both sides are read for digests alone, per bucket of rows spread by
// their hash. Equal, that is all. Otherwise they are read again, keeping the
// rows of the buckets that differed, which hold every difference of the
// first read and those of rows changed since. Memory: the buckets' digests
// and the rows near a difference, whatever the table's size.
std::pair<SideRead, SideRead> Verifier::read_keyless(const TablePlan& plan) {
  RowFilter filter{keyless_buckets(plan.estimated_rows), {}, {}};
  auto first = sides_->read_whole(plan, filter);
  const auto& [source, target] = first;
  if (source.rows.digest == target.rows.digest) return first;
  for (uint64_t bucket = 0; bucket < filter.buckets; ++bucket) {
    if (source.rows.bucket_digests[bucket] != target.rows.bucket_digests[bucket]) {
      filter.buckets_kept.insert(bucket);
    }
  }
  spdlog::debug("{}: {} of {} buckets differ; reading them again", plan.display,
                filter.buckets_kept.size(), filter.buckets);
  auto second = sides_->read_whole(plan, filter);
  // Both reads count against the rate limit.
  second.first.rows.bytes += source.rows.bytes;
  second.second.rows.bytes += target.rows.bytes;
  return second;
}

TableReport Verifier::dirty_pass(const TablePlan& plan, bool by_key_always) {
  TableReport report;
  report.table = plan.display;
  const auto started = Clock::now();
  pg::Connection& control = sides_->control();
  const store::DirtySet dirty = store::read_dirty(control, config_.name, plan);
  if (dirty.rows.empty()) return report;
  if (dirty.whole_for(plan) || plan.keyless() ||
      (!by_key_always && dirty.reads() > control::dirty_key_limit(plan.estimated_rows))) {
    // Why, in the words of the mark: a table without a key is marked as a
    // whole; one with a key when a batch changed more keys than are worth
    // listing (or a change named none, a TRUNCATE say).
    const std::string what = plan.keyless()      ? "rows without a key changed"
                             : dirty.whole_table ? "more keys changed than were listed"
                             : dirty.whole_for(plan)
                                 ? "ranges of keys changed that verify cannot read by range"
                                 : std::to_string(dirty.reads()) + " keys and key ranges changed";
    spdlog::info("{}: {} since the last pass; verifying the whole table", plan.display, what);
    return full_pass(plan, false);
  }
  std::vector<std::string> candidates;
  auto compare = [&](std::pair<SideRead, SideRead> read) {
    auto& [source, target] = read;
    ++report.chunks;
    report.source_rows += source.rows.digest.rows;
    report.target_rows += target.rows.digest.rows;
    report.bytes += source.rows.bytes + target.rows.bytes;
    if (source.rows.digest != target.rows.digest) {
      for (auto& key : differing_keys(source.rows, target.rows)) {
        candidates.push_back(std::move(key));
      }
    }
  };
  // Runs of consecutive integer keys (a sequence's inserts) as key ranges;
  // the rest key by key.
  for (const MarkedRead& read : marked_reads(plan, dirty.keys, dirty.ranges)) {
    if (read.range()) {
      compare(sides_->read_range(plan, read.lower ? &*read.lower : nullptr, &*read.upper));
    } else {
      compare(sides_->read_keys_both(plan, read.keys));
    }
  }
  if (!candidates.empty()) settle(plan, std::move(candidates), report);
  log_unsettled(plan, report);
  // Marks stay until their keys are proven equal: the rows read are cleared
  // and the keys still in flight marked again. A key marked again since we
  // read the marks is in a newer row, which stays.
  if (report.mismatches.empty()) {
    pg::Transaction transaction(control);
    store::clear_dirty(control, dirty.rows);
    store::mark_dirty(control, config_.name, plan, keys_of(report.in_flight), max_marked(dirty));
    transaction.commit();
  }
  report.seconds = seconds_since(started);
  return report;
}

Verifier::Round Verifier::dirty_round(const std::vector<const TablePlan*>& plans,
                                      RoundOptions options) {
  Round round;
  pg::Connection& control = sides_->control();
  const auto marks_started = Clock::now();
  const auto marks = store::read_all_dirty(control, config_.name);
  round.marks_seconds = seconds_since(marks_started);
  const auto abandoned = [&options] { return options.go_on && !options.go_on->load(); };
  if (abandoned()) return round;
  struct Batched {
    const TablePlan* plan;
    const store::DirtySet* dirty;
    TableReport report;
    std::vector<std::string> candidates;
  };
  std::vector<Batched> batched;
  std::vector<const TablePlan*> one_by_one;
  std::vector<Sides::MarkedTableRead> reads;
  std::vector<size_t> read_table;  // per read: its index in `batched`
  for (const TablePlan* plan : plans) {
    const auto found = marks.find({plan->schema, plan->name});
    if (found == marks.end() || found->second.rows.empty()) continue;
    if (found->second.whole_for(*plan) || plan->keyless()) {
      if (!options.by_key_only) one_by_one.push_back(plan);
      continue;
    }
    Batched table{plan, &found->second, {}, {}};
    table.report.table = plan->display;
    batched.push_back(std::move(table));
    for (MarkedRead& read : marked_reads(*plan, found->second.keys, found->second.ranges)) {
      reads.push_back({plan, std::move(read)});
      read_table.push_back(batched.size() - 1);
    }
  }
  const auto started = Clock::now();
  const auto rows = sides_->read_marked(reads);
  round.reads = reads.size();
  round.read_seconds = seconds_since(started);
  if (abandoned()) return round;
  for (size_t i = 0; i < reads.size(); ++i) {
    const auto& [source, target] = rows[i];
    Batched& table = batched[read_table[i]];
    ++table.report.chunks;
    table.report.source_rows += source.digest.rows;
    table.report.target_rows += target.digest.rows;
    table.report.bytes += source.bytes + target.bytes;
    if (source.digest != target.digest) {
      for (auto& key : differing_keys(source, target)) table.candidates.push_back(std::move(key));
    }
  }
  for (Batched& table : batched) {
    if (table.candidates.empty()) continue;
    if (options.recheck) {
      settle(*table.plan, std::move(table.candidates), table.report);
      log_unsettled(*table.plan, table.report);
    } else {
      for (const std::string& key : table.candidates) {
        table.report.in_flight.push_back(
            make_finding(*table.plan, key, MismatchKind::kDifferent, Lsn{}));
      }
    }
  }
  // As dirty_pass does, for every table at once: the marks read are
  // cleared and the keys still in flight marked again; a table with a
  // mismatch keeps its marks.
  std::vector<const Batched*> to_clear;
  for (const Batched& table : batched) {
    if (!table.report.mismatches.empty()) continue;
    if (options.keep_marks && table.report.in_flight.empty()) {
      round.marks_to_clear.insert(round.marks_to_clear.end(), table.dirty->rows.begin(),
                                  table.dirty->rows.end());
    } else {
      to_clear.push_back(&table);
    }
  }
  if (!to_clear.empty()) {
    pg::Transaction transaction(control);
    for (const Batched* table : to_clear) {
      store::clear_dirty(control, table->dirty->rows);
      store::mark_dirty(control, config_.name, *table->plan, keys_of(table->report.in_flight),
                        max_marked(*table->dirty));
    }
    transaction.commit();
  }
  const double seconds = seconds_since(started);
  for (Batched& table : batched) {
    table.report.seconds = seconds;
    round.reports.push_back(std::move(table.report));
  }
  for (const TablePlan* plan : one_by_one) {
    round.reports.push_back(dirty_pass(*plan, /*by_key_always=*/true));
  }
  return round;
}

}  // namespace switchyard::verify
