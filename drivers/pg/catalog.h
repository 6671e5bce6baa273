// Catalog lookups that several components share. Each takes the
// connection to ask and a table's quoted, qualified name.
#pragma once

#include <string>
#include <vector>

#include "drivers/pg/connection.h"

namespace switchyard::pg {

// The columns that identify a row: the primary key, else the replica
// identity index; in index order. Empty if the table has neither.
std::vector<std::string> identity_key_columns(Connection& connection, const std::string& qualified);

// Whether new sessions on the connected database start read-only (the
// database-level default_transaction_read_only = on that cutover's fence
// sets, cutover/fence.h).
bool database_read_only_default(Connection& database);

}  // namespace switchyard::pg
