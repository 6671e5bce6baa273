// libFuzzer target: the configuration parser. Any text either parses or is
// refused with switchyard::Error (a usage error naming the key); anything
// else, a YAML exception escaping included, is a bug: the CLI would report
// it as an internal error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/config.h"
#include "common/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    (void)switchyard::parse_config(std::string(reinterpret_cast<const char*>(data), size),
                                   "fuzz.yaml");
  } catch (const switchyard::Error&) {
  }
  return 0;
}
