#include "verify/key_runs.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <string>

namespace switchyard::verify {

namespace {

// Sorted by first value; runs that overlap or touch become one.
std::vector<KeyRun> merged(std::vector<KeyRun> runs) {
  std::sort(runs.begin(), runs.end(),
            [](const KeyRun& a, const KeyRun& b) { return a.first < b.first; });
  std::vector<KeyRun> out;
  for (const KeyRun& run : runs) {
    // In 128 bits: last + 1 must not overflow at the end of int64.
    if (!out.empty() &&
        static_cast<__int128>(run.first) <= static_cast<__int128>(out.back().last) + 1) {
      out.back().last = std::max(out.back().last, run.last);
      out.back().keys += run.keys;
    } else {
      out.push_back(run);
    }
  }
  return out;
}

// A run spanning more than `max_span` values, in pieces that do not.
void add_in_pieces(const KeyRun& run, int64_t max_span, std::vector<KeyRun>& out) {
  const __int128 span = static_cast<__int128>(run.last) - run.first + 1;
  if (span <= max_span) {
    out.push_back(run);
    return;
  }
  for (__int128 first = run.first; first <= run.last; first += max_span) {
    const __int128 last = std::min<__int128>(first + max_span - 1, run.last);
    const auto piece = static_cast<size_t>(last - first + 1);
    out.push_back(
        {static_cast<int64_t>(first), static_cast<int64_t>(last), std::min(piece, run.keys)});
  }
}

}  // namespace

KeyRuns group_key_runs(const std::vector<KeyText>& keys, const KeyRunRules& rules,
                       std::vector<KeyRun> known) {
  KeyRuns result;
  known = merged(std::move(known));
  std::vector<int64_t> values;
  values.reserve(keys.size());
  for (const KeyText& key : keys) {
    int64_t value = 0;
    const std::string& text = key.size() == 1 ? key[0] : std::string();
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
      result.scattered = keys;
      for (const KeyRun& run : known) add_in_pieces(run, rules.max_span, result.runs);
      return result;
    }
    values.push_back(value);
  }
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  // Keys inside a known run are read with it.
  auto next_run = known.begin();
  std::erase_if(values, [&](int64_t value) {
    while (next_run != known.end() && next_run->last < value) ++next_run;
    return next_run != known.end() && next_run->first <= value;
  });

  std::vector<KeyRun> runs;
  size_t start = 0;
  auto close_run = [&](size_t end) {  // values[start, end)
    if (end - start >= rules.min_keys) {
      runs.push_back({values[start], values[end - 1], end - start});
    } else {
      for (size_t i = start; i < end; ++i) result.scattered.push_back({std::to_string(values[i])});
    }
    start = end;
  };
  for (size_t i = 1; i < values.size(); ++i) {
    // In 128 bits: neighbours at the ends of int64 must not overflow.
    const __int128 gap = static_cast<__int128>(values[i]) - values[i - 1];
    const __int128 span = static_cast<__int128>(values[i]) - values[start];
    if (gap > rules.max_gap || span >= rules.max_span) close_run(i);
  }
  if (!values.empty()) close_run(values.size());
  if (known.empty()) {
    result.runs = std::move(runs);
    return result;
  }
  runs.insert(runs.end(), known.begin(), known.end());
  for (const KeyRun& run : merged(std::move(runs))) add_in_pieces(run, rules.max_span, result.runs);
  return result;
}

int64_t integer_key_floor(const TablePlan& plan) {
  int64_t floor = std::numeric_limits<int64_t>::min();
  for (const std::string& type : plan.columns[plan.key.front()].type_name) {
    if (type == "smallint") floor = std::max<int64_t>(floor, std::numeric_limits<int16_t>::min());
    if (type == "integer") floor = std::max<int64_t>(floor, std::numeric_limits<int32_t>::min());
  }
  return floor;
}

std::string MarkedRead::select(const TablePlan& plan, Side side) const {
  if (!range()) return plan.select_keys(side, keys);
  return plan.select_range(side, lower ? &*lower : nullptr, &*upper);
}

std::vector<MarkedRead> marked_reads(const TablePlan& plan, const std::vector<KeyText>& keys,
                                     const std::vector<KeyRun>& ranges, size_t keys_per_read) {
  KeyRuns grouped;
  if (plan.integer_key && plan.key.size() == 1) {
    grouped = group_key_runs(keys, {}, ranges);
  } else {
    grouped.scattered = keys;  // ranges come with an integer key only (DirtySet::whole_for)
  }
  std::vector<MarkedRead> reads;
  for (const KeyRun& run : grouped.runs) {
    MarkedRead read;
    read.upper = KeyText{std::to_string(run.last)};
    if (run.first > integer_key_floor(plan)) read.lower = KeyText{std::to_string(run.first - 1)};
    reads.push_back(std::move(read));
  }
  const std::vector<KeyText>& scattered = grouped.scattered;
  for (size_t start = 0; start < scattered.size(); start += keys_per_read) {
    const auto end = std::min(scattered.size(), start + keys_per_read);
    MarkedRead read;
    read.keys.assign(scattered.begin() + static_cast<std::ptrdiff_t>(start),
                     scattered.begin() + static_cast<std::ptrdiff_t>(end));
    reads.push_back(std::move(read));
  }
  return reads;
}

}  // namespace switchyard::verify
