// The decoders' unit-test inputs are the fuzzers' seeds (fuzz/README.md).
// With SWITCHYARD_FUZZ_SEEDS=DIR set, every input a test hands to a decoder
// is also written to DIR/TARGET/, one file per distinct input; unset (as
// normally), nothing is written.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>

namespace switchyard::test {

inline void fuzz_seed(const char* target, std::string_view bytes) {
  const char* root = std::getenv("SWITCHYARD_FUZZ_SEEDS");
  if (!root || !*root) return;
  const std::filesystem::path dir = std::filesystem::path(root) / target;
  std::filesystem::create_directories(dir);
  const std::string name = std::to_string(std::hash<std::string_view>{}(bytes));
  std::ofstream(dir / name, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace switchyard::test
