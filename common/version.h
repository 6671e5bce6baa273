// switchyard's version, as --version and the build_info metric show it.
#pragma once

namespace switchyard {

inline constexpr const char* kVersion = "0.1.0";

}  // namespace switchyard
