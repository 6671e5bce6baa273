// verify --repair: re-copies the rows recorded as mismatches from the
// source to the target, one transaction per table, and logs each row.
//
// Racing the running stream is the danger, both ways: a repair that writes
// a row image older than one the apply loop has already written would undo
// a change, and one that removes a row an apply statement is waiting on
// would make that statement find nothing. So, per table: read the rows on
// the source at S1; wait until the target has applied S1 (no older change
// is still on its way); in one target transaction change each row in
// place: UPDATE where both sides have the key, INSERT where the target
// lacks it, DELETE where the source does; read the source again, and
// commit only if it has not changed (any change the stream applied
// meanwhile would show there), else roll back and try again. An apply
// statement blocked on a repaired row goes on to the new version. One race
// is left, for an inserted row: a change committed on the source after the
// last look can reach the target before the repair commits and find no
// row. So after the commit the rows are compared once more, tied to a
// source position, and repaired again if they differ.
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

// `sides` are the verifier's (a PostgreSQL source's).
std::vector<RepairReport> repair_mismatches(const Config& config, Verifier& verifier,
                                            PostgresSides& sides,
                                            const std::optional<std::string>& table);

}  // namespace switchyard::verify
