#include "replicator/table_filter.h"

#include <string>

namespace switchyard {

// Iterative glob with single-star backtracking: linear in practice.
bool glob_match(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool table_selected(const TableSelection& selection, std::string_view schema,
                    std::string_view table) {
  const std::string full = std::string(schema) + "." + std::string(table);
  bool included = false;
  for (const auto& pattern : selection.include) included = included || glob_match(pattern, full);
  if (!included) return false;
  for (const auto& pattern : selection.exclude) {
    if (glob_match(pattern, full)) return false;
  }
  return true;
}

}  // namespace switchyard
