#include "verify/recheck.h"

#include <deque>
#include <unordered_set>

#include "common/log.h"
#include "verify/canonical_decoding.h"

namespace switchyard::verify {
namespace {

constexpr size_t kKeysPerQuery = 5000;

KeyEntry entry_of(const KeyIndex& index, std::string_view key) {
  auto it = index.find(key);
  return it == index.end() ? KeyEntry{} : it->second;
}

// Reads `keys` on one side, in batches; a keyless table is read whole,
// keeping only the rows among `keys` (its keys are whole rows).
SideRead read_keys(Sides& sides, Side side, const TablePlan& plan,
                   const std::vector<std::string>& keys) {
  if (plan.keyless()) {
    return sides.read_whole(side, plan, RowFilter{1, {}, {keys.begin(), keys.end()}});
  }
  SideRead all;
  const auto texts = key_texts(keys);
  for (size_t start = 0; start < texts.size(); start += kKeysPerQuery) {
    const std::vector<KeyText> batch(
        texts.begin() + static_cast<std::ptrdiff_t>(start),
        texts.begin() + static_cast<std::ptrdiff_t>(std::min(texts.size(), start + kKeysPerQuery)));
    SideRead part = sides.read_keys(side, plan, batch);
    // Wait for the latest snapshot of the batches: each saw commits up to its own.
    all.position = std::max(all.position, part.position);
    for (size_t row = 0; row < part.rows.size(); ++row) {
      all.rows.keys.append(part.rows.key(row));
      all.rows.key_end.push_back(all.rows.keys.size());
      all.rows.hashes.push_back(part.rows.hashes[row]);
      all.rows.digest.add(part.rows.hashes[row]);
    }
  }
  return all;
}

MismatchKind kind_of(const KeyEntry& source, const KeyEntry& target) {
  if (source.count > target.count)
    return target.count == 0 ? MismatchKind::kMissing : MismatchKind::kDifferent;
  if (source.count < target.count)
    return source.count == 0 ? MismatchKind::kExtra : MismatchKind::kDifferent;
  return MismatchKind::kDifferent;
}

}  // namespace

std::string to_string(Unsettled why, const std::string& upstream) {
  switch (why) {
    case Unsettled::kKeptChanging:
      return "kept changing while re-checked";
    case Unsettled::kStreamStopped:
      return "changed on the " + upstream + " while the stream is stopped";
    case Unsettled::kStreamBehind:
      return "not yet applied: the stream did not catch up in time";
    case Unsettled::kSourceCommitting:
      return "a transaction open on the " + upstream + " did not end in time to read it again";
  }
  return "?";
}

const char* to_string(MismatchKind kind) {
  switch (kind) {
    case MismatchKind::kMissing:
      return "missing";
    case MismatchKind::kExtra:
      return "extra";
    case MismatchKind::kDifferent:
      return "different";
  }
  return "?";
}

KeyIndex index_rows(const ChunkRows& rows) {
  KeyIndex index;
  index.reserve(rows.size());
  for (size_t row = 0; row < rows.size(); ++row) {
    KeyEntry& entry = index[rows.key(row)];
    ++entry.count;
    entry.hashes +=
        (static_cast<unsigned __int128>(rows.hashes[row].high) << 64) | rows.hashes[row].low;
  }
  return index;
}

std::vector<std::string> differing_keys(const ChunkRows& source, const ChunkRows& target) {
  const KeyIndex source_index = index_rows(source);
  const KeyIndex target_index = index_rows(target);
  std::vector<std::string> keys;
  for (const auto& [key, entry] : source_index) {
    if (entry_of(target_index, key) != entry) keys.emplace_back(key);
  }
  for (const auto& [key, entry] : target_index) {
    if (!source_index.count(key)) keys.emplace_back(key);
  }
  return keys;
}

std::vector<KeyText> key_texts(const std::vector<std::string>& keys) {
  std::vector<KeyText> texts;
  texts.reserve(keys.size());
  std::deque<std::string> storage;
  for (const auto& key : keys) {
    KeyText text;
    for (const Value& value : decode_canonical(key, storage)) text.push_back(to_text(value));
    texts.push_back(std::move(text));
  }
  return texts;
}

std::vector<Settled> recheck(Sides& sides, const TablePlan& plan, std::vector<std::string> keys,
                             const VerifySettings& settings) {
  std::vector<Settled> settled;
  std::unordered_map<std::string, KeyEntry> previous_source;  // last round's source entries
  Unsettled why = Unsettled::kKeptChanging;
  for (int round = 1; round <= kMaxRounds && !keys.empty(); ++round) {
    SideRead source = read_keys(sides, Side::kSource, plan, keys);
    if (sides.applied_position() < source.position && !sides.stream_running()) {
      why = Unsettled::kStreamStopped;
      break;
    }
    if (!sides.wait_applied(source.position, settings.recheck_timeout)) {
      spdlog::warn("{}: {} did not reach {} position {} within {} ms", plan.display,
                   sides.target_role(), sides.source_role(), source.position.to_string(),
                   settings.recheck_timeout.count());
      why = Unsettled::kStreamBehind;
      break;
    }
    SideRead target = read_keys(sides, Side::kTarget, plan, keys);
    const KeyIndex source_index = index_rows(source.rows);
    const KeyIndex target_index = index_rows(target.rows);
    std::vector<std::string> next;
    std::vector<std::string> unchanged;  // differing again, their source value the same
    std::unordered_map<std::string, KeyEntry> source_now;
    for (auto& key : keys) {
      const KeyEntry source_entry = entry_of(source_index, key);
      const KeyEntry target_entry = entry_of(target_index, key);
      if (source_entry == target_entry) {
        settled.push_back({std::move(key), Verdict::kEqual, {}, source.position});
        continue;
      }
      source_now[key] = source_entry;
      auto before = previous_source.find(key);
      if (before != previous_source.end() && before->second == source_entry) {
        unchanged.push_back(std::move(key));
      } else {
        next.push_back(std::move(key));
      }
    }
    if (!unchanged.empty()) {
      // The target may show a source commit that the source's own snapshot
      // could not see yet (in its WAL, not yet visible there). Read the
      // source again once everything committed so far is visible: the
      // difference is a mismatch only if the source still holds the same.
      if (!sides.wait_source_commits_visible(settings.recheck_timeout)) {
        for (auto& key : unchanged) {
          settled.push_back(
              {std::move(key), Verdict::kInFlight, {}, Lsn{}, Unsettled::kSourceCommitting});
        }
        unchanged.clear();
      }
      const SideRead again =
          unchanged.empty() ? SideRead{} : read_keys(sides, Side::kSource, plan, unchanged);
      const KeyIndex again_index = index_rows(again.rows);
      for (auto& key : unchanged) {
        const KeyEntry source_entry = entry_of(again_index, key);
        if (source_entry == source_now[key]) {
          const MismatchKind kind = kind_of(source_entry, entry_of(target_index, key));
          settled.push_back({std::move(key), Verdict::kMismatch, kind, source.position});
        } else {
          source_now[key] = source_entry;
          next.push_back(std::move(key));
        }
      }
    }
    previous_source = std::move(source_now);
    keys = std::move(next);
  }
  for (auto& key : keys) settled.push_back({std::move(key), Verdict::kInFlight, {}, Lsn{}, why});
  return settled;
}

}  // namespace switchyard::verify
