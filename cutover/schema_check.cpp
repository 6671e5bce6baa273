#include "cutover/schema_check.h"

#include <algorithm>
#include <set>
#include <string>

#include "common/error.h"
#include "replicator/schema_objects.h"

namespace switchyard::cutover {
namespace {

// Enough to act on without a line that fills the screen.
constexpr size_t kNamedAtMost = 20;

}  // namespace

void check_schema_objects(pg::Connection& from, pg::Connection& to,
                          const std::vector<control::TableRow>& tables) {
  std::vector<std::string> schemas;
  std::set<std::string> streamed;
  for (const auto& table : tables) {
    if (std::find(schemas.begin(), schemas.end(), table.schema) == schemas.end()) {
      schemas.push_back(table.schema);
    }
    streamed.insert(table.schema + "." + table.name);
  }
  std::vector<std::string> missing;

  std::set<std::string> present;
  for (const auto& object : read_schema_objects(to, schemas)) present.insert(object.display());
  for (const auto& object : read_schema_objects(from, schemas)) {
    // A table outside the stream is not on the new primary: its triggers,
    // rules and policies stay behind with it.
    if (!object.relation.empty() && !streamed.count(object.relation)) continue;
    if (!present.count(object.display())) missing.push_back(object.display());
  }

  std::set<std::string> extensions;
  pg::Result installed = to.exec("SELECT extname FROM pg_catalog.pg_extension");
  for (int row = 0; row < installed.rows(); ++row) extensions.insert(installed.str(row, 0));
  for (const auto& extension : needed_extensions(from, schemas)) {
    if (!extensions.count(extension.name)) missing.push_back("extension " + extension.name);
  }
  for (const auto& use : missing_roles(to, roles_used(from, schemas, /*owners=*/true))) {
    missing.push_back("role " + use.role + " (" + use.use + ")");
  }
  if (missing.empty()) return;

  std::string list;
  for (size_t idx = 0; idx < missing.size() && idx < kNamedAtMost; ++idx) {
    list += (idx ? ", " : "") + missing[idx];
  }
  if (missing.size() > kNamedAtMost) {
    list += " and " + std::to_string(missing.size() - kNamedAtMost) + " more";
  }
  throw Error(ErrorKind::kPrecondition,
              to.role() + " lacks what the application uses on the " + from.role() + ": " + list +
                  "; run init to bring over schema objects (roles must be created by hand)");
}

}  // namespace switchyard::cutover
