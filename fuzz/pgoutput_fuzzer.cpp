// libFuzzer target: the pgoutput decoder. Any payload either decodes or is
// refused with switchyard::Error; anything else (another exception, a
// crash, a sanitizer report) is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/error.h"
#include "replicator/pgoutput_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    (void)switchyard::pgoutput::decode(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const switchyard::Error&) {
  }
  return 0;
}
