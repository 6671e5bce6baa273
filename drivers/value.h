// The drivers' value model: how a column value travels from a source driver
// to the apply loop and, later, to the verifier's canonical encoder.
//
// A Datum is deliberately small: a kind tag plus the value's bytes in the
// source's text representation (PostgreSQL text I/O, or ODBC character
// data). Keeping bytes rather than parsed values means a value is never
// reinterpreted on its way from source to target, which is what makes
// numeric scales, float bit patterns and time zones round-trip exactly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace switchyard {

enum class DatumKind : uint8_t {
  kNull,       // SQL NULL
  kUnchanged,  // value not sent by the source (an unchanged TOASTed column): keep the target's
  kText,       // bytes hold the value in text form
  kBinary,     // bytes hold the value in the type's binary send/recv form
};

struct Datum {
  DatumKind kind = DatumKind::kNull;
  std::string bytes;
};

using Tuple = std::vector<Datum>;

}  // namespace switchyard
