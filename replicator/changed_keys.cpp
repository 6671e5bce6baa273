#include "replicator/changed_keys.h"

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
  std::string encoded;
  for (const std::string* value : key) {
    if (!value) {
      batch_whole_ = true;
      return Marked::kKnown;
    }
    encoded.append(std::to_string(value->size())).push_back(':');
    encoded.append(*value);
  }
  if (!seen_.insert(std::move(encoded)).second) return Marked::kKnown;
  for (const std::string* value : key) values_.push_back(*value);
  if (seen_.size() <= kMaxKeysPerBatch) return Marked::kNew;
  // One huge transaction would otherwise hold every key it changed until
  // its commit: the table is marked whole now, and (unless a cutover needs
  // exact marks) stays so until a full pass.
  batch_whole_ = true;
  std::unordered_set<std::string>().swap(seen_);
  std::vector<std::string>().swap(values_);
  if (exact || whole_mode_) return Marked::kOverflow;
  whole_mode_ = true;
  return Marked::kWholeMode;
}

std::string ChangedKeys::keys_literal() const {
  std::string literal = "{";
  for (size_t start = 0; start < values_.size(); start += key_columns_) {
    literal += start ? ",{" : "{";
    for (size_t column = 0; column < key_columns_; ++column) {
      literal += column ? ",\"" : "\"";
      for (char c : values_[start + column]) {
        if (c == '"' || c == '\\') literal += '\\';
        literal += c;
      }
      literal += '"';
    }
    literal += '}';
  }
  return literal + "}";
}

void ChangedKeys::clear_batch() {
  seen_.clear();
  values_.clear();
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
  if (same_key && previous.key_columns_ == key_columns_) {
    seen_ = std::move(previous.seen_);
    values_ = std::move(previous.values_);
    batch_whole_ = previous.batch_whole_;
  } else {
    batch_whole_ = previous.batch_whole_ || !previous.seen_.empty();
  }
}

}  // namespace switchyard
