#include "verify/canonical_decoding.h"

#include <cstring>

#include "common/error.h"
#include "verify/canonical_encoding.h"

namespace switchyard::verify {
namespace {

[[noreturn]] void corrupt() {
  throw Error(ErrorKind::kInternal, "canonical key encoding is corrupt");
}

uint64_t take_u64(std::string_view& in) {
  if (in.size() < 8) corrupt();
  uint64_t value = 0;
  for (int idx = 0; idx < 8; ++idx) value = (value << 8) | static_cast<unsigned char>(in[idx]);
  in.remove_prefix(8);
  return value;
}

std::string_view take_sized(std::string_view& in) {
  const uint64_t size = take_u64(in);
  if (in.size() < size) corrupt();
  std::string_view bytes = in.substr(0, size);
  in.remove_prefix(size);
  return bytes;
}

}  // namespace

std::vector<Value> decode_canonical(std::string_view in, std::deque<std::string>& storage) {
  std::vector<Value> values;
  while (!in.empty()) {
    const char tag = in[0];
    in.remove_prefix(1);
    switch (tag) {
      case kNullTag:
        values.push_back(Value::null());
        break;
      case kBoolTag:
        if (in.empty()) corrupt();
        values.push_back(Value::of_int(ValueType::kBool, in[0] != 0));
        in.remove_prefix(1);
        break;
      case kIntTag:
        values.push_back(Value::of_int(ValueType::kInt, static_cast<int64_t>(take_u64(in))));
        break;
      case kDateTag:
        values.push_back(Value::of_int(ValueType::kDate, static_cast<int64_t>(take_u64(in))));
        break;
      case kTimeTag:
        values.push_back(Value::of_int(ValueType::kTime, static_cast<int64_t>(take_u64(in))));
        break;
      case kTimestampTag:
        values.push_back(Value::of_int(ValueType::kTimestamp, static_cast<int64_t>(take_u64(in))));
        break;
      case kFloatTag: {
        const uint64_t bits = take_u64(in);
        double real;
        std::memcpy(&real, &bits, sizeof real);
        values.push_back(Value::of_real(real));
        break;
      }
      case kNumericTag: {  // sign, scale, unscaled digits -> decimal text
        if (in.empty()) corrupt();
        if (in[0] != '+' && in[0] != '-') corrupt();
        const bool negative = in[0] == '-';
        in.remove_prefix(1);
        const uint64_t scale = take_u64(in);
        std::string digits(take_sized(in));
        // PostgreSQL's largest scale is 16383; anything far past it is damage.
        if (scale > (1u << 20) || digits.find_first_not_of("0123456789") != std::string::npos) {
          corrupt();
        }
        if (digits.size() <= scale) digits.insert(0, scale - digits.size() + 1, '0');
        if (scale > 0) digits.insert(digits.size() - scale, 1, '.');
        storage.push_back((negative ? "-" : "") + digits);
        values.push_back(Value::of_bytes(ValueType::kNumeric, storage.back()));
        break;
      }
      case kNumericSpecialTag:
        values.push_back(Value::of_bytes(ValueType::kNumeric, take_sized(in)));
        break;
      case kTextTag:
        values.push_back(Value::of_bytes(ValueType::kText, take_sized(in)));
        break;
      case kBytesTag:
        values.push_back(Value::of_bytes(ValueType::kBytes, take_sized(in)));
        break;
      case kJsonTag:
        values.push_back(Value::of_bytes(ValueType::kJson, take_sized(in)));
        break;
      case kUuidTag:
        values.push_back(Value::of_bytes(ValueType::kUuid, take_sized(in)));
        break;
      default:
        corrupt();
    }
  }
  return values;
}

}  // namespace switchyard::verify
