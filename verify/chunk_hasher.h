// The chunk hasher: reads one side of a chunk with binary COPY and reduces
// it to a digest, keeping each row's key and hash so that a chunk whose
// digests differ is narrowed to its rows without reading it again.
//
// Per row: decode each field into a typed value, append its canonical form
// (key columns first, then every column), hash the bytes with XXH3-128 and
// add the hash to the chunk digest. Where both sides send the same bytes for
// the same row (TablePlan::same_bytes: the same types, no floats), the row's
// COPY bytes are hashed as they arrive and only its key is decoded. Memory is the key bytes plus 16
// bytes per row; chunks are sized to about half a second of reading, which keeps that to a few
// megabytes.
//
// A ChunkHasher is bound to one connection; not thread-safe. Run one per
// side, each on its own thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "drivers/pg/connection.h"
#include "verify/canonical_encoding.h"
#include "verify/table_plan.h"

namespace switchyard::verify {

// Which rows a read of a table without a key keeps. Such a table's rows
// can be found only by reading it whole, and it may be large (a log table
// appended for years), so a read keeps none of them by default: it spreads
// them over `buckets` by their hash and digests each bucket, and keeps only
// the rows of the buckets in `buckets_kept` and the rows whose canonical
// encoding is in `rows_kept`. Equal rows hash alike on both sides, so they
// fall in the same bucket there.
struct RowFilter {
  uint64_t buckets = 1;  // a power of two
  std::unordered_set<uint64_t> buckets_kept;
  std::unordered_set<std::string> rows_kept;

  uint64_t bucket_of(const Hash128& hash) const { return hash.low & (buckets - 1); }
};

// The rows of one side of a chunk.
struct ChunkRows {
  ChunkDigest digest;                       // of every row read, kept or not
  std::string keys;                         // canonical key encodings, back to back
  std::vector<size_t> key_end;              // where row i's key ends in `keys`
  std::vector<Hash128> hashes;              // row i's hash
  std::vector<ChunkDigest> bucket_digests;  // read with a RowFilter: one per bucket
  uint64_t bytes = 0;                       // COPY bytes read

  size_t size() const { return hashes.size(); }
  std::string_view key(size_t row) const {
    const size_t begin = row == 0 ? 0 : key_end[row - 1];
    return std::string_view(keys).substr(begin, key_end[row] - begin);
  }
};

class ChunkHasher {
 public:
  ChunkHasher(pg::Connection& connection, const TablePlan& plan, Side side)
      : connection_(connection), plan_(plan), side_(side) {}

  // Runs `select` (one of the plan's SELECTs for this side). For a table
  // without a key, a row's "key" is its whole encoding. With `digest_only`
  // the rows are not kept, only the digest (memory stays flat whatever the
  // table's size); with a `filter`, only the rows it names, and a digest per
  // bucket.
  ChunkRows read(const std::string& select, bool digest_only = false,
                 const RowFilter* filter = nullptr);

 private:
  pg::Connection& connection_;
  const TablePlan& plan_;
  Side side_;
  std::vector<pg::Field> fields_;
  std::string encoded_;
  std::string scratch_;
};

}  // namespace switchyard::verify
