#include "replicator/changed_keys.h"

#include <charconv>
#include <iterator>

namespace switchyard {
namespace {

constexpr auto kReviewInterval = std::chrono::seconds(30);

}  // namespace

ChangedKeys::Marked ChangedKeys::mark(const std::vector<const std::string*>& key, bool exact) {
  if (batch_whole_) return Marked::kKnown;
  if (key_columns_ == 0 || whole_mode_) {
    batch_whole_ = true;
    return Marked::kKnown;
  }
  for (const std::string* value : key) {
    if (!value) {
      batch_whole_ = true;
      return Marked::kKnown;
    }
  }
  if (integer_key_) return mark_integer(*key.front(), exact);
  std::string encoded;
  for (const std::string* value : key) {
    encoded.append(std::to_string(value->size())).push_back(':');
    encoded.append(*value);
  }
  if (!seen_.insert(std::move(encoded)).second) return Marked::kKnown;
  for (const std::string* value : key) values_.push_back(*value);
  if (seen_.size() <= kMaxKeysPerBatch) return Marked::kNew;
  return overflow(exact);
}

// The value joins the run it falls in or borders (two runs it joins become
// one); otherwise it starts a run of its own.
ChangedKeys::Marked ChangedKeys::mark_integer(const std::string& text, bool exact) {
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
    batch_whole_ = true;  // not an integer's text after all: it cannot be listed
    return Marked::kKnown;
  }
  auto next = runs_.upper_bound(value);  // the first run starting after it
  // next->first > value, and a run before ends below value when it does not
  // hold it: neither "- 1" can overflow.
  const bool borders_next = next != runs_.end() && next->first - 1 == value;
  if (next != runs_.begin()) {
    auto run = std::prev(next);
    if (value <= run->second) return Marked::kKnown;
    if (run->second == value - 1) {
      run->second = borders_next ? next->second : value;
      if (borders_next) runs_.erase(next);
      return Marked::kKnown;
    }
  }
  if (borders_next) {
    const int64_t last = next->second;
    next = runs_.erase(next);
    runs_.emplace_hint(next, value, last);
    return Marked::kKnown;
  }
  runs_.emplace_hint(next, value, value);
  if (runs_.size() <= kMaxKeysPerBatch) return Marked::kNew;
  return overflow(exact);
}

// One huge transaction would otherwise hold every key it changed until its
// commit: the table is marked whole now, and (unless a cutover needs exact
// marks) stays so until a full pass.
ChangedKeys::Marked ChangedKeys::overflow(bool exact) {
  batch_whole_ = true;
  std::unordered_set<std::string>().swap(seen_);
  std::vector<std::string>().swap(values_);
  std::map<int64_t, int64_t>().swap(runs_);
  if (exact || whole_mode_) return Marked::kOverflow;
  whole_mode_ = true;
  return Marked::kWholeMode;
}

std::string ChangedKeys::keys_literal() const {
  std::string literal = "{";
  auto add_key = [&](const std::string* values, size_t count) {
    literal += literal.size() > 1 ? ",{" : "{";
    for (size_t column = 0; column < count; ++column) {
      literal += column ? ",\"" : "\"";
      for (char c : values[column]) {
        if (c == '"' || c == '\\') literal += '\\';
        literal += c;
      }
      literal += '"';
    }
    literal += '}';
  };
  if (integer_key_) {
    for (const auto& [first, last] : runs_) {
      if (first != last) continue;  // a longer run is in ranges_literal()
      const std::string text = std::to_string(first);
      add_key(&text, 1);
    }
  } else {
    for (size_t start = 0; start < values_.size(); start += key_columns_) {
      add_key(&values_[start], key_columns_);
    }
  }
  return literal + "}";
}

std::string ChangedKeys::ranges_literal() const {
  std::string literal = "{";
  for (const auto& [first, last] : runs_) {
    if (first == last) continue;
    literal += literal.size() > 1 ? ",{" : "{";
    literal += std::to_string(first) + "," + std::to_string(last) + "}";
  }
  return literal + "}";
}

void ChangedKeys::clear_batch() {
  seen_.clear();
  values_.clear();
  runs_.clear();
  batch_whole_ = false;
}

ChangedKeys::Mode ChangedKeys::set_exact(bool exact) {
  if (!exact || !whole_mode_) return Mode::kUnchanged;
  whole_mode_ = false;
  return Mode::kLeftWhole;
}

bool ChangedKeys::review_due(std::chrono::steady_clock::time_point now) {
  if (now < next_review_) return false;
  next_review_ = now + kReviewInterval;
  return true;
}

ChangedKeys::Mode ChangedKeys::review(uint64_t waiting, bool whole_marked, uint64_t limit) {
  if (!whole_mode_ && waiting > limit) {
    whole_mode_ = true;
    return Mode::kEnteredWhole;
  }
  if (whole_mode_ && !whole_marked) {
    whole_mode_ = false;
    return Mode::kLeftWhole;
  }
  return Mode::kUnchanged;
}

void ChangedKeys::carry_from(ChangedKeys&& previous, bool same_key) {
  whole_mode_ = previous.whole_mode_;
  next_review_ = previous.next_review_;
  if (same_key && previous.key_columns_ == key_columns_ && previous.integer_key_ == integer_key_) {
    seen_ = std::move(previous.seen_);
    values_ = std::move(previous.values_);
    runs_ = std::move(previous.runs_);
    batch_whole_ = previous.batch_whole_;
  } else {
    batch_whole_ = previous.batch_whole_ || previous.marked() > 0;
  }
}

}  // namespace switchyard
