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

}  // namespace switchyard::pg
