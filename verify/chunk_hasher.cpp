#include "verify/chunk_hasher.h"

#include "common/error.h"
#include "drivers/pg/binary_copy.h"

namespace switchyard::verify {

ChunkRows ChunkHasher::read(const std::string& select, bool digest_only) {
  ChunkRows rows;
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
    // send the same bytes for it, and as the key of a row without one.
    const bool hash_bytes = plan_.same_bytes;
    if (!hash_bytes || (plan_.keyless() && !digest_only)) {
      for (size_t column_idx = 0; column_idx < fields_.size(); ++column_idx) append(column_idx);
    }
    const Hash128 hash = hash128(hash_bytes ? tuple : std::string_view(encoded_));
    rows.digest.add(hash);
    if (digest_only) continue;
    rows.hashes.push_back(hash);
    rows.keys.append(encoded_, 0, plan_.keyless() ? encoded_.size() : key_size);
    rows.key_end.push_back(rows.keys.size());
  }
  rows.bytes = reader.bytes_read();
  return rows;
}

}  // namespace switchyard::verify
