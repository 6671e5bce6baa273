// The position-tied re-check: how verify tells a real difference from a
// change still in flight, without ever guessing from time.
//
// A key that differed when its chunk was read is read again on the source
// at a position S, then on the target once the target has applied
// everything up to S. If the two agree, the key is equal. If they differ,
// the key is read again in a next round; a difference is a mismatch only
// when it is seen in two consecutive rounds while the source value stayed
// the same between them - and still the same when read once more after every
// commit the target could show has become visible on the source (a commit
// is in the WAL, and so in the stream, a moment before it is visible). A
// key whose source value keeps changing for
// kMaxRounds rounds, or whose round could not wait for the target (the
// stream is stopped or far behind), is "in flight": not a mismatch, and
// not proven equal either. A stopped stream (its slot inactive) is seen at
// once: nothing would apply the source's changes, so nothing is waited for.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/config.h"
#include "verify/chunk_hasher.h"
#include "verify/sides.h"
#include "verify/table_plan.h"

namespace switchyard::verify {

enum class Verdict { kEqual, kMismatch, kInFlight };
enum class MismatchKind { kMissing, kExtra, kDifferent };  // missing = on source only
const char* to_string(MismatchKind kind);

// Why a key was left in flight.
enum class Unsettled {
  kKeptChanging,      // its source value changed in every round
  kStreamStopped,     // changed on the source after the stream stopped: nothing applies it
  kStreamBehind,      // the target did not reach the source's position in time
  kSourceCommitting,  // a source transaction did not end in time to read the key again
};
// `upstream` names the side the stream reads, as the configuration does.
std::string to_string(Unsettled why, const std::string& upstream);

struct Settled {
  std::string key;  // canonical key encoding (a keyless table: the whole row)
  Verdict verdict = Verdict::kEqual;
  MismatchKind kind = MismatchKind::kDifferent;
  Lsn source_position;                       // the source position of the deciding round
  Unsettled why = Unsettled::kKeptChanging;  // for kInFlight
};

// How many copies of a key a side holds and the sum of their hashes.
struct KeyEntry {
  uint32_t count = 0;
  unsigned __int128 hashes = 0;
  bool operator==(const KeyEntry&) const = default;
};
using KeyIndex = std::unordered_map<std::string_view, KeyEntry>;
KeyIndex index_rows(const ChunkRows& rows);

// The keys whose rows differ between the two sides of a chunk.
std::vector<std::string> differing_keys(const ChunkRows& source, const ChunkRows& target);

inline constexpr int kMaxRounds = 5;

std::vector<Settled> recheck(Sides& sides, const TablePlan& plan, std::vector<std::string> keys,
                             const VerifySettings& settings);

// Keys in text form, for SQL, from canonical key encodings.
std::vector<KeyText> key_texts(const std::vector<std::string>& keys);

}  // namespace switchyard::verify
