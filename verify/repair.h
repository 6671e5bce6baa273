// verify --repair: re-copies the rows recorded as mismatches from the
// source to the target, one transaction per table, and logs each row.
//
// Racing the running stream is the danger: a repair that writes a row
// image older than one the apply loop has already written would undo a
// change. So, per table: read the rows on the source at S1; wait until the
// target has applied S1 (no older change is still on its way); in one
// target transaction delete the rows by key and insert the source's; read
// the source again, and commit only if it has not changed (any change the
// stream applied meanwhile would show there). Otherwise roll back and try
// again. The apply loop's later changes land on top of the repaired rows.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "verify/verifier.h"

namespace switchyard::verify {

struct RepairReport {
  std::string table;
  size_t repaired = 0;
  size_t unsettled = 0;  // the source kept changing, or the target lagged
  size_t skipped = 0;    // a table without a key: rows cannot be addressed
};

std::vector<RepairReport> repair_mismatches(const Config& config, Verifier& verifier,
                                            const std::optional<std::string>& table);

}  // namespace switchyard::verify
