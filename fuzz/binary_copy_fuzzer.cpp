// libFuzzer target: the binary COPY decoder. The first byte picks what the
// rest is: a field of that wire type (decode_field), or with 0xff a whole
// tuple (split_tuple). Refusals are switchyard::Error; anything else is a
// bug.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "drivers/pg/binary_copy.h"

using switchyard::pg::WireType;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  static std::string scratch;
  static std::vector<switchyard::pg::Field> fields;
  try {
    if (data[0] == 0xff) {
      (void)switchyard::pg::split_tuple(rest, fields);
    } else if (data[0] <= static_cast<uint8_t>(WireType::kUuid)) {
      (void)switchyard::pg::decode_field(static_cast<WireType>(data[0]), rest, scratch);
    }
  } catch (const switchyard::Error&) {
  }
  return 0;
}
