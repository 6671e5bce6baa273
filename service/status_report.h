// What `status` reports and `serve` answers at /api/v1/status: where the
// stream stands (replicator/status.h), the last cutover or failback step by
// step (cutover/journal.h), and the large objects' last sync, collected from
// both databases; and the same as one JSON object.
#pragma once

#include <boost/json.hpp>

#include <optional>

#include "common/config.h"
#include "control/large_objects.h"
#include "cutover/journal.h"
#include "replicator/status.h"

namespace switchyard::service {

struct StatusReport {
  StreamStatus stream;
  std::optional<cutover::RunReport> last_switch;
  std::optional<control::large_objects::SyncState> large_objects;
};

StatusReport collect_report(const Config& config, StatusSessions& sessions);
StatusReport collect_report(const Config& config);

// The stream's fields at the top level, then "last_switch" and
// "large_objects" (null when there is none).
boost::json::object to_json(const StatusReport& report);
// A cutover or failback with its journal, step by step.
boost::json::object to_json(const cutover::RunReport& run);

}  // namespace switchyard::service
