#include "verify/chunk_hasher.h"

#include "common/error.h"
#include "drivers/pg/binary_copy.h"

namespace switchyard::verify {

ChunkRows ChunkHasher::read(const std::string& select, bool digest_only, const RowFilter* filter) {
  ChunkRows rows;
  if (filter) rows.bucket_digests.resize(filter->buckets);
  pg::BinaryCopyReader reader(connection_);
  reader.start(select);
  const auto side = static_cast<int>(side_);
  auto append = [&](size_t column_idx) {
    const pg::Field& field = fields_[column_idx];
    append_canonical(encoded_, field.null
                                   ? Value::null()
                                   : pg::decode_field(plan_.columns[column_idx].read[side].wire,
                                                      field.bytes, scratch_));
  };
  std::string_view tuple;
  while (reader.next(fields_, &tuple)) {
    if (fields_.size() != plan_.columns.size()) {
      throw Error(ErrorKind::kInternal, std::string(to_string(side_)) + ": COPY of " +
                                            plan_.display + " returned " +
                                            std::to_string(fields_.size()) + " columns");
    }
    encoded_.clear();
    for (size_t column_idx : plan_.key) append(column_idx);
    const size_t key_size = plan_.keyless() ? 0 : encoded_.size();
    // The row's canonical form is needed for its hash, unless both sides
    // send the same bytes for it, and as the key of a row without one (built
    // below, once the row is known to be kept).
    const bool hash_bytes = plan_.same_bytes;
    bool encoded_whole = false;
    auto encode_whole = [&] {
      if (encoded_whole) return;
      for (size_t column_idx = 0; column_idx < fields_.size(); ++column_idx) append(column_idx);
      encoded_whole = true;
    };
    if (!hash_bytes) encode_whole();
    const Hash128 hash = hash128(hash_bytes ? tuple : std::string_view(encoded_));
    rows.digest.add(hash);
    if (digest_only) continue;
    if (filter) {
      const uint64_t bucket = filter->bucket_of(hash);
      rows.bucket_digests[bucket].add(hash);
      bool keep = filter->buckets_kept.count(bucket) > 0;
      if (!keep && !filter->rows_kept.empty()) {
        encode_whole();
        keep = filter->rows_kept.count(encoded_) > 0;
      }
      if (!keep) continue;
    }
    if (plan_.keyless()) encode_whole();
    rows.hashes.push_back(hash);
    rows.keys.append(encoded_, 0, plan_.keyless() ? encoded_.size() : key_size);
    rows.key_end.push_back(rows.keys.size());
  }
  rows.bytes = reader.bytes_read();
  return rows;
}

}  // namespace switchyard::verify
