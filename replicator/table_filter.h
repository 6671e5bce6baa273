// Which source tables a configuration selects: "schema.table" glob patterns
// (* and ? wildcards) for include and exclude. Exclude wins. Pure logic.
#pragma once

#include <string_view>

#include "common/config.h"

namespace switchyard {

bool glob_match(std::string_view pattern, std::string_view text);
bool table_selected(const TableSelection& selection, std::string_view schema,
                    std::string_view table);

}  // namespace switchyard
