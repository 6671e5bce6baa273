// Part of the cutover preflight: the new primary must be able to serve the
// application, so it must have every schema object of the stream's schemas
// that the old primary has — functions and procedures (by signature),
// views, materialized views, triggers, rules, policies and row security,
// the extensions they and the columns need — and every role those objects
// name (owners, grantees, policy roles), which switchyard does not copy.
//
// Objects on tables outside the stream are not required. A refusal names
// each missing object; `init` brings over what is missing except roles,
// which must be created by hand.
#pragma once

#include <vector>

#include "control/control_schema.h"
#include "drivers/pg/connection.h"

namespace switchyard::cutover {

// Throws Error(kPrecondition) naming what `to` lacks.
void check_schema_objects(pg::Connection& from, pg::Connection& to,
                          const std::vector<control::TableRow>& tables);

}  // namespace switchyard::cutover
