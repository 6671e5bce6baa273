#include "verify/key_runs.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <string>

namespace switchyard::verify {

KeyRuns group_key_runs(const std::vector<KeyText>& keys, const KeyRunRules& rules) {
  KeyRuns result;
  std::vector<int64_t> values;
  values.reserve(keys.size());
  for (const KeyText& key : keys) {
    int64_t value = 0;
    const std::string& text = key.size() == 1 ? key[0] : std::string();
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
      result.scattered = keys;
      return result;
    }
    values.push_back(value);
  }
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());

  size_t start = 0;
  auto close_run = [&](size_t end) {  // values[start, end)
    if (end - start >= rules.min_keys) {
      result.runs.push_back({values[start], values[end - 1], end - start});
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
                                     size_t keys_per_read) {
  KeyRuns grouped;
  if (plan.integer_key && plan.key.size() == 1) {
    grouped = group_key_runs(keys);
  } else {
    grouped.scattered = keys;
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
