#include "drivers/pg/binary_copy.h"

#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "common/error.h"

namespace switchyard::pg {
namespace {

constexpr int64_t kPostgresEpochMicros = kPostgresEpochDays * 86'400'000'000;

[[noreturn]] void malformed(const char* what) {
  throw Error(ErrorKind::kDatabase, std::string("binary COPY: malformed ") + what);
}

// A big-endian integer of `size` bytes (1 to 8). The common sizes load in
// one instruction: this runs for every field of every row copied or verified.
uint64_t read_be(const char* data, size_t size) {
  switch (size) {
    case 2: {
      uint16_t value;
      std::memcpy(&value, data, 2);
      return std::endian::native == std::endian::little ? __builtin_bswap16(value) : value;
    }
    case 4: {
      uint32_t value;
      std::memcpy(&value, data, 4);
      return std::endian::native == std::endian::little ? __builtin_bswap32(value) : value;
    }
    case 8: {
      uint64_t value;
      std::memcpy(&value, data, 8);
      return std::endian::native == std::endian::little ? __builtin_bswap64(value) : value;
    }
    default: {
      uint64_t value = 0;
      for (size_t idx = 0; idx < size; ++idx) {
        value = (value << 8) | static_cast<unsigned char>(data[idx]);
      }
      return value;
    }
  }
}

int64_t read_int(std::string_view bytes, size_t size, const char* what) {
  if (bytes.size() != size) malformed(what);
  const uint64_t raw = read_be(bytes.data(), size);
  const uint64_t sign_bit = uint64_t{1} << (size * 8 - 1);
  // Sign-extend the big-endian two's complement value.
  return static_cast<int64_t>((raw ^ sign_bit) - sign_bit);
}

}  // namespace

ColumnRead column_read(const std::string& quoted_column, uint32_t type_oid) {
  switch (type_oid) {
    case 16:
      return {quoted_column, WireType::kBool};
    case 17:
      return {quoted_column, WireType::kBytea};
    case 19:    // name
    case 25:    // text
    case 1042:  // bpchar
    case 1043:  // varchar
      return {quoted_column, WireType::kText};
    case 20:
      return {quoted_column, WireType::kInt8};
    case 21:
      return {quoted_column, WireType::kInt2};
    case 23:
      return {quoted_column, WireType::kInt4};
    case 26:
      return {quoted_column, WireType::kOid};
    case 114:
      return {quoted_column + "::jsonb", WireType::kJsonb};
    case 3802:
      return {quoted_column, WireType::kJsonb};
    case 700:
      return {quoted_column, WireType::kFloat4};
    case 701:
      return {quoted_column, WireType::kFloat8};
    case 790:
      return {quoted_column, WireType::kInt8};  // money: int64 cents
    case 1082:
      return {quoted_column, WireType::kDate};
    case 1083:
      return {quoted_column, WireType::kTime};
    case 1114:
    case 1184:
      return {quoted_column, WireType::kTimestamp};
    case 1700:
      return {quoted_column, WireType::kNumeric};
    case 2950:
      return {quoted_column, WireType::kUuid};
    default:
      return {quoted_column + "::text", WireType::kText};
  }
}

void numeric_to_text(std::string_view bytes, std::string& out) {
  out.clear();
  if (bytes.size() < 8) malformed("numeric");
  const auto ndigits = static_cast<int>(read_int(bytes.substr(0, 2), 2, "numeric"));
  const auto weight = static_cast<int>(read_int(bytes.substr(2, 2), 2, "numeric"));
  const auto sign = static_cast<uint16_t>(read_be(bytes.data() + 4, 2));
  const auto dscale = static_cast<int>(read_int(bytes.substr(6, 2), 2, "numeric"));
  if (sign == 0xC000) {
    out = "NaN";
    return;
  }
  if (sign == 0xD000 || sign == 0xF000) {
    out = sign == 0xD000 ? "Infinity" : "-Infinity";
    return;
  }
  if (ndigits < 0 || dscale < 0 || bytes.size() != 8 + 2 * static_cast<size_t>(ndigits) ||
      (sign != 0 && sign != 0x4000)) {
    malformed("numeric");
  }
  auto digit = [&](int idx) -> int {
    if (idx < 0 || idx >= ndigits) return 0;
    const int value = static_cast<int>(read_be(bytes.data() + 8 + 2 * idx, 2));
    if (value > 9999) malformed("numeric digit");
    return value;
  };
  if (sign == 0x4000) out += '-';
  char group[5];
  if (weight < 0) {
    out += '0';
  } else {
    for (int idx = 0; idx <= weight; ++idx) {
      const int value = digit(idx);
      if (idx == 0) {
        out += std::to_string(value);
      } else {
        std::snprintf(group, sizeof group, "%04d", value);
        out += group;
      }
    }
  }
  if (dscale > 0) {
    out += '.';
    int written = 0;
    for (int idx = weight + 1; written < dscale; ++idx) {
      std::snprintf(group, sizeof group, "%04d", digit(idx));
      for (int pos = 0; pos < 4 && written < dscale; ++pos, ++written) out += group[pos];
    }
  }
}

Value decode_field(WireType wire, std::string_view bytes, std::string& scratch) {
  switch (wire) {
    case WireType::kBool:
      if (bytes.size() != 1) malformed("boolean");
      return Value::of_int(ValueType::kBool, bytes[0] != 0);
    case WireType::kInt2:
      return Value::of_int(ValueType::kInt, read_int(bytes, 2, "int2"));
    case WireType::kInt4:
      return Value::of_int(ValueType::kInt, read_int(bytes, 4, "int4"));
    case WireType::kInt8:
      return Value::of_int(ValueType::kInt, read_int(bytes, 8, "int8"));
    case WireType::kOid:
      if (bytes.size() != 4) malformed("oid");
      return Value::of_int(ValueType::kInt, static_cast<int64_t>(read_be(bytes.data(), 4)));
    case WireType::kFloat4: {
      if (bytes.size() != 4) malformed("float4");
      const auto bits = static_cast<uint32_t>(read_be(bytes.data(), 4));
      float value;
      std::memcpy(&value, &bits, sizeof value);
      return Value::of_real(static_cast<double>(value));
    }
    case WireType::kFloat8: {
      if (bytes.size() != 8) malformed("float8");
      const uint64_t bits = read_be(bytes.data(), 8);
      double value;
      std::memcpy(&value, &bits, sizeof value);
      return Value::of_real(value);
    }
    case WireType::kNumeric:
      numeric_to_text(bytes, scratch);
      return Value::of_bytes(ValueType::kNumeric, scratch);
    case WireType::kDate: {
      const int64_t days = read_int(bytes, 4, "date");
      if (days == INT32_MAX) return Value::of_int(ValueType::kDate, kInfinity);
      if (days == INT32_MIN) return Value::of_int(ValueType::kDate, kMinusInfinity);
      return Value::of_int(ValueType::kDate, days + kPostgresEpochDays);
    }
    case WireType::kTime:
      return Value::of_int(ValueType::kTime, read_int(bytes, 8, "time"));
    case WireType::kTimestamp: {
      const int64_t micros = read_int(bytes, 8, "timestamp");
      if (micros == kInfinity || micros == kMinusInfinity) {
        return Value::of_int(ValueType::kTimestamp, micros);
      }
      // PostgreSQL's timestamps end in 294276 AD; a value that would
      // overflow on moving the epoch is not one (found by fuzzing).
      if (micros > INT64_MAX - kPostgresEpochMicros) malformed("timestamp (out of range)");
      return Value::of_int(ValueType::kTimestamp, micros + kPostgresEpochMicros);
    }
    case WireType::kText:
      return Value::of_bytes(ValueType::kText, bytes);
    case WireType::kBytea:
      return Value::of_bytes(ValueType::kBytes, bytes);
    case WireType::kJsonb:
      if (bytes.empty() || bytes[0] != 1) malformed("jsonb (unknown version)");
      return Value::of_bytes(ValueType::kJson, bytes.substr(1));
    case WireType::kUuid:
      if (bytes.size() != 16) malformed("uuid");
      return Value::of_bytes(ValueType::kUuid, bytes);
  }
  malformed("field type");
}

void BinaryCopyReader::start(const std::string& select) {
  header_seen_ = false;
  bytes_read_ = 0;
  connection_.copy_out_start("COPY (" + select + ") TO STDOUT (FORMAT binary)");
}

bool BinaryCopyReader::next(std::vector<Field>& fields, std::string_view* tuple) {
  std::string_view message;
  if (!connection_.copy_out_row(message)) return false;
  bytes_read_ += message.size();
  if (!header_seen_) {
    static constexpr char kSignature[] = "PGCOPY\n\377\r\n";
    if (message.size() < 19 || std::memcmp(message.data(), kSignature, 11) != 0) {
      malformed("header");
    }
    const uint64_t extension = read_be(message.data() + 15, 4);
    if (message.size() < 19 + extension) malformed("header extension");
    message.remove_prefix(19 + extension);
    header_seen_ = true;
  }
  if (tuple) *tuple = message;
  if (!split_tuple(message, fields)) {
    // The trailer; the server ends the COPY right after it.
    std::string_view rest;
    while (connection_.copy_out_row(rest)) {
    }
    return false;
  }
  return true;
}

bool split_tuple(std::string_view message, std::vector<Field>& fields) {
  if (message.size() < 2) malformed("tuple");
  const int64_t count = read_int(message.substr(0, 2), 2, "tuple");
  message.remove_prefix(2);
  if (count == -1) return false;
  if (count < 0) malformed("tuple (field count)");
  fields.resize(static_cast<size_t>(count));
  for (auto& field : fields) {
    if (message.size() < 4) malformed("field length");
    const int64_t length = read_int(message.substr(0, 4), 4, "field length");
    message.remove_prefix(4);
    if (length == -1) {
      field = {{}, true};
      continue;
    }
    if (length < 0 || message.size() < static_cast<size_t>(length)) malformed("field");
    field = {message.substr(0, static_cast<size_t>(length)), false};
    message.remove_prefix(static_cast<size_t>(length));
  }
  if (!message.empty()) malformed("tuple (trailing bytes)");
  return true;
}

}  // namespace switchyard::pg
