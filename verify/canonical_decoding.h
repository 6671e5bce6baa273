// The inverse of the canonical encoding, for keys: turns the encoded key of
// a row that differs back into typed values, so it can be shown to a DBA
// and looked up again. Every canonical form carries its full value, so
// nothing is lost on the way back.
#pragma once

#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/typed_value.h"

namespace switchyard::verify {

// Decodes back-to-back canonical values. Views in the result point into
// `encoded` or into strings appended to `storage` (numerics). Throws
// Error(kInternal) on bytes that are not a canonical encoding.
std::vector<Value> decode_canonical(std::string_view encoded, std::deque<std::string>& storage);

}  // namespace switchyard::verify
