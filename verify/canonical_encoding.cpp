#include "verify/canonical_encoding.h"

#include <xxhash.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "common/error.h"

namespace switchyard::verify {
namespace {

// Big-endian. Built in a register: eight byte stores read back as one
// 8-byte load stall the pipeline, and this runs several times per row.
void append_u64(std::string& out, uint64_t value) {
  if constexpr (std::endian::native == std::endian::little) value = __builtin_bswap64(value);
  char bytes[8];
  std::memcpy(bytes, &value, 8);
  out.append(bytes, 8);
}

void append_int(std::string& out, char tag, int64_t value) {
  out += tag;
  append_u64(out, static_cast<uint64_t>(value));
}

void append_sized(std::string& out, char tag, std::string_view bytes) {
  out += tag;
  append_u64(out, bytes.size());
  out.append(bytes);
}

// Decimal text -> sign, unscaled digits without leading zeros, scale.
// Accepts what engines print: "-012.340", ".5", "1.5E+3", "+7".
void append_numeric(std::string& out, std::string_view text) {
  if (text == "NaN" || text == "Infinity" || text == "-Infinity") {
    append_sized(out, kNumericSpecialTag, text);
    return;
  }
  size_t pos = 0;
  bool negative = false;
  if (pos < text.size() && (text[pos] == '-' || text[pos] == '+')) negative = text[pos++] == '-';
  std::string digits;
  int64_t scale = 0;
  bool fraction = false, any_digit = false;
  for (; pos < text.size(); ++pos) {
    const char c = text[pos];
    if (c >= '0' && c <= '9') {
      any_digit = true;
      if (!(digits.empty() && c == '0')) digits += c;
      if (fraction) ++scale;
    } else if (c == '.' && !fraction) {
      fraction = true;
    } else {
      break;
    }
  }
  if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
    ++pos;
    bool exponent_negative = false;
    if (pos < text.size() && (text[pos] == '-' || text[pos] == '+')) {
      exponent_negative = text[pos++] == '-';
    }
    int64_t exponent = 0;
    const size_t start = pos;
    for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9' && exponent < 100000; ++pos) {
      exponent = exponent * 10 + (text[pos] - '0');
    }
    if (pos == start) pos = text.size() + 1;  // "1e" is malformed
    scale -= exponent_negative ? -exponent : exponent;
  }
  if (!any_digit || pos != text.size()) {
    throw Error(ErrorKind::kDatabase, "not a decimal number: '" + std::string(text) + "'");
  }
  if (scale < 0) {  // 1.5E+3 -> 1500
    if (!digits.empty()) digits.append(static_cast<size_t>(-scale), '0');
    scale = 0;
  }
  if (digits.empty()) negative = false;  // -0.00 is 0.00
  // An integer that fits 64 bits encodes like every other integer.
  // 19 digits can exceed int64 but never uint64, so check the magnitude.
  if (scale == 0 && digits.size() <= 19) {
    uint64_t magnitude = 0;
    for (char c : digits) magnitude = magnitude * 10 + static_cast<uint64_t>(c - '0');
    const uint64_t limit = negative ? uint64_t{1} << 63 : uint64_t{INT64_MAX};
    if (magnitude <= limit) {
      append_int(out, kIntTag, static_cast<int64_t>(negative ? 0 - magnitude : magnitude));
      return;
    }
  }
  out += kNumericTag;
  out += negative ? '-' : '+';
  append_u64(out, static_cast<uint64_t>(scale));
  append_u64(out, digits.size());
  out.append(digits);
}

void append_float(std::string& out, double value) {
  uint64_t bits;
  if (std::isnan(value)) {
    bits = 0x7ff8000000000000ull;  // one NaN, whatever its sign and payload
  } else {
    if (value == 0) value = 0.0;  // -0 -> 0
    std::memcpy(&bits, &value, sizeof bits);
  }
  out += kFloatTag;
  append_u64(out, bits);
}

}  // namespace

void append_canonical(std::string& out, const Value& value) {
  switch (value.type) {
    case ValueType::kNull:
      out += kNullTag;
      return;
    case ValueType::kBool:
      out += kBoolTag;
      out += value.integer ? '\1' : '\0';
      return;
    case ValueType::kInt:
      append_int(out, kIntTag, value.integer);
      return;
    case ValueType::kNumeric:
      append_numeric(out, value.bytes);
      return;
    case ValueType::kFloat:
      append_float(out, value.real);
      return;
    case ValueType::kDate:
      append_int(out, kDateTag, value.integer);
      return;
    case ValueType::kTime:
      append_int(out, kTimeTag, value.integer);
      return;
    case ValueType::kTimestamp:
      append_int(out, kTimestampTag, value.integer);
      return;
    case ValueType::kText:
      append_sized(out, kTextTag, value.bytes);
      return;
    case ValueType::kBytes:
      append_sized(out, kBytesTag, value.bytes);
      return;
    case ValueType::kJson:
      append_sized(out, kJsonTag, value.bytes);
      return;
    case ValueType::kUuid:
      append_sized(out, kUuidTag, value.bytes);
      return;
  }
}

Hash128 hash128(std::string_view bytes) {
  const XXH128_hash_t hash = XXH3_128bits(bytes.data(), bytes.size());
  return {hash.low64, hash.high64};
}

std::string ChunkDigest::to_string() const {
  char hex[33];
  const auto high = static_cast<uint64_t>(sum >> 64);
  const auto low = static_cast<uint64_t>(sum);
  std::snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(high),
                static_cast<unsigned long long>(low));
  return std::to_string(rows) + ":" + hex;
}

}  // namespace switchyard::verify
