#include "replicator/table_filter.h"

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

namespace {

// A pattern has exactly one dot (the config parser checks): its halves
// match the schema and the table separately, so a wildcard never spans a
// dot that is part of a name.
bool pattern_matches(std::string_view pattern, std::string_view schema, std::string_view table) {
  const size_t dot = pattern.find('.');
  if (dot == std::string_view::npos) return false;
  return glob_match(pattern.substr(0, dot), schema) && glob_match(pattern.substr(dot + 1), table);
}

}  // namespace

bool table_selected(const TableSelection& selection, std::string_view schema,
                    std::string_view table) {
  bool included = false;
  for (const auto& pattern : selection.include) {
    included = included || pattern_matches(pattern, schema, table);
  }
  if (!included) return false;
  for (const auto& pattern : selection.exclude) {
    if (pattern_matches(pattern, schema, table)) return false;
  }
  return true;
}

}  // namespace switchyard
