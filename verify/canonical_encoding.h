// The canonical row encoding and the hashes built on it.
//
// Two databases agree on a row when their typed values (drivers/
// typed_value.h) encode to the same bytes here. The rules are chosen so
// that every way of spelling one value encodes once, and two values that a
// database keeps apart never encode alike:
//  - every value starts with a type tag, so NULL is never "" or 0;
//  - integers (and numerics without a fraction that fit 64 bits) are one
//    8-byte form, so int4, int8 and numeric(20,0) agree;
//  - numerics are sign + unscaled digits + scale: 1.0 and 1.00 differ
//    (PostgreSQL keeps the scale and shows it), 01.50 and 1.50 do not;
//  - floats by their IEEE bits, with -0 folded into 0 and every NaN into one;
//  - dates, times and timestamps as integers (timestamps in UTC), so a
//    zone or DateStyle never shows;
//  - text as its UTF-8 bytes, unnormalised: "é" and "e\u0301" differ, as
//    they do in the database; bytes as bytes; json by its jsonb text.
//
// Row hash = XXH3-128(key encoding ‖ row encoding). A chunk digest is the
// row count and the sum of its row hashes modulo 2^128: order-free (a chunk
// read in another order, or a keyless table, digests the same), and unlike
// XOR two identical rows do not cancel out.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "drivers/typed_value.h"

namespace switchyard::verify {

// The tag that starts each canonical value. Values of different types never
// share a tag, except all integers, as explained above.
inline constexpr char kNullTag = 'n';
inline constexpr char kBoolTag = 'b';            // + 1 byte
inline constexpr char kIntTag = 'i';             // + 8 bytes, big-endian two's complement
inline constexpr char kNumericTag = 'N';         // + sign + 8-byte scale + sized digits
inline constexpr char kNumericSpecialTag = 'X';  // + sized "NaN", "Infinity", "-Infinity"
inline constexpr char kFloatTag = 'f';           // + 8 bytes of IEEE bits
inline constexpr char kDateTag = 'd';            // + 8 bytes
inline constexpr char kTimeTag = 't';            // + 8 bytes
inline constexpr char kTimestampTag = 'z';       // + 8 bytes
inline constexpr char kTextTag = 's';            // sized: + 8-byte length + bytes
inline constexpr char kBytesTag = 'x';           // sized
inline constexpr char kJsonTag = 'j';            // sized
inline constexpr char kUuidTag = 'u';            // sized

// Appends the canonical form of `value` to `out`.
void append_canonical(std::string& out, const Value& value);

struct Hash128 {
  uint64_t low = 0;
  uint64_t high = 0;
  bool operator==(const Hash128&) const = default;
};

// XXH3-128 of the bytes.
Hash128 hash128(std::string_view bytes);

struct ChunkDigest {
  uint64_t rows = 0;
  unsigned __int128 sum = 0;  // of row hashes, modulo 2^128

  void add(const Hash128& row) {
    ++rows;
    sum += (static_cast<unsigned __int128>(row.high) << 64) | row.low;
  }
  // The digest of a multiset plus or minus another's: rows added, rows removed.
  ChunkDigest& operator+=(const ChunkDigest& other) {
    rows += other.rows;
    sum += other.sum;
    return *this;
  }
  ChunkDigest& operator-=(const ChunkDigest& other) {
    rows -= other.rows;
    sum -= other.sum;
    return *this;
  }
  bool operator==(const ChunkDigest&) const = default;
  // "rows:32 hex digits", as stored in the control schema.
  std::string to_string() const;
};

}  // namespace switchyard::verify
