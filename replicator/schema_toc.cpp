#include "replicator/schema_toc.h"

#include <algorithm>
#include <array>
#include <charconv>

#include "common/error.h"

namespace switchyard {
namespace {

// pg_dump's entry types with more than one word; any other is one word.
constexpr std::array<std::string_view, 20> kMultiWordDescs = {
    "MATERIALIZED VIEW DATA",
    "MATERIALIZED VIEW",
    "SEQUENCE OWNED BY",
    "SEQUENCE SET",
    "ROW SECURITY",
    "FK CONSTRAINT",
    "CHECK CONSTRAINT",
    "DEFAULT ACL",
    "TABLE DATA",
    "TABLE ATTACH",
    "INDEX ATTACH",
    "SHELL TYPE",
    "EVENT TRIGGER",
    "SECURITY LABEL",
    "ACCESS METHOD",
    "OPERATOR CLASS",
    "OPERATOR FAMILY",
    "DATABASE PROPERTIES",
    "PUBLICATION TABLES IN SCHEMA",
    "PUBLICATION TABLE",
};

[[noreturn]] void unreadable(std::string_view line) {
  throw Error(ErrorKind::kInternal, "cannot read pg_restore's listing line: " + std::string(line));
}

template <typename Number>
Number read_number(std::string_view& rest, std::string_view line) {
  Number value{};
  const auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), value);
  if (error != std::errc{}) unreadable(line);
  rest.remove_prefix(static_cast<size_t>(end - rest.data()));
  return value;
}

void skip(std::string_view& rest, std::string_view expected, std::string_view line) {
  if (rest.substr(0, expected.size()) != expected) unreadable(line);
  rest.remove_prefix(expected.size());
}

TocEntry parse_line(std::string_view line) {
  TocEntry entry;
  entry.line = std::string(line);
  std::string_view rest = line;
  entry.dump_id = read_number<int>(rest, line);
  skip(rest, "; ", line);
  entry.catalog_oid = read_number<uint32_t>(rest, line);
  skip(rest, " ", line);
  entry.object_oid = read_number<uint32_t>(rest, line);
  skip(rest, " ", line);
  for (std::string_view desc : kMultiWordDescs) {
    if (rest.substr(0, desc.size()) == desc && rest.size() > desc.size() &&
        rest[desc.size()] == ' ') {
      entry.desc = std::string(desc);
      break;
    }
  }
  if (entry.desc.empty()) entry.desc = std::string(rest.substr(0, rest.find(' ')));
  rest.remove_prefix(std::min(rest.size(), entry.desc.size() + 1));
  const size_t schema_end = rest.find(' ');
  if (schema_end == std::string_view::npos) unreadable(line);
  entry.schema = std::string(rest.substr(0, schema_end));
  rest.remove_prefix(schema_end + 1);
  // The tag may hold spaces ("film film_fulltext"); the owner is last.
  const size_t owner_start = rest.rfind(' ');
  if (owner_start == std::string_view::npos) {
    entry.tag = std::string(rest);
  } else {
    entry.tag = std::string(rest.substr(0, owner_start));
    entry.owner = std::string(rest.substr(owner_start + 1));
  }
  return entry;
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// Drops what pg_restore prints between entries and after the last one:
// blank and comment lines, session SETs, psql meta-commands.
std::string trim_entry(std::string_view body) {
  while (!body.empty()) {
    size_t end = body.size();
    while (end > 0 && body[end - 1] == '\n') --end;
    const size_t start = body.rfind('\n', end == 0 ? 0 : end - 1);
    const size_t line_start = start == std::string_view::npos ? 0 : start + 1;
    const std::string_view last = body.substr(line_start, end - line_start);
    if (end != 0 && !last.empty() && last != "--" && !starts_with(last, "-- ") &&
        !starts_with(last, "SET ") && !starts_with(last, "\\")) {
      return std::string(body.substr(0, end)) + "\n";
    }
    body = body.substr(0, line_start);
  }
  return {};
}

}  // namespace

std::vector<TocEntry> parse_toc(std::string_view listing) {
  std::vector<TocEntry> entries;
  while (!listing.empty()) {
    const size_t end = listing.find('\n');
    std::string_view line = listing.substr(0, end);
    listing.remove_prefix(end == std::string_view::npos ? listing.size() : end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line[0] == ';') continue;
    entries.push_back(parse_line(line));
  }
  return entries;
}

std::vector<std::string> split_restore_script(std::string_view script,
                                              const std::vector<TocEntry>& entries) {
  // pg_restore prints in restore passes (grants after everything else), not
  // in list order: find each entry's header, then cut at them in position
  // order.
  struct Found {
    size_t header;  // where its header starts
    size_t body;    // where its SQL starts
    size_t entry;
  };
  std::vector<Found> found;
  std::map<std::string, size_t> searched_to;  // for entries with equal headers
  for (size_t idx = 0; idx < entries.size(); ++idx) {
    const TocEntry& entry = entries[idx];
    const std::string header =
        "--\n-- Name: " + entry.tag + "; Type: " + entry.desc + "; Schema: " + entry.schema + ";";
    // A header stands between blank lines: "\n\n--\n-- Name: ...\n--\n\n".
    for (size_t at = searched_to[header];; ++at) {
      at = script.find(header, at);
      if (at == std::string_view::npos) {
        throw Error(ErrorKind::kInternal,
                    "pg_restore printed no SQL for " + entry.desc + " " + entry.tag);
      }
      const bool blank_before = at < 2 || (script[at - 1] == '\n' && script[at - 2] == '\n');
      const size_t after = script.find('\n', at + header.size());
      if (blank_before && after != std::string_view::npos &&
          script.substr(after, 5) == "\n--\n\n") {
        found.push_back({at, after + 5, idx});
        searched_to[header] = at + 1;
        break;
      }
    }
  }
  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return a.header < b.header; });
  std::vector<std::string> out(entries.size());
  for (size_t pos = 0; pos < found.size(); ++pos) {
    const size_t end = pos + 1 < found.size() ? found[pos + 1].header : script.size();
    out[found[pos].entry] = trim_entry(script.substr(found[pos].body, end - found[pos].body));
  }
  return out;
}

TocPlan plan_toc(const std::vector<TocEntry>& entries, const TocFacts& facts) {
  static const std::set<std::string> kFunctions = {"FUNCTION", "PROCEDURE", "AGGREGATE"};
  static const std::set<std::string> kViews = {"VIEW", "MATERIALIZED VIEW"};
  static const std::set<std::string> kOnRelations = {"TRIGGER", "RULE", "POLICY", "ROW SECURITY",
                                                     "INDEX"};
  std::set<uint32_t> matviews;
  for (const TocEntry& entry : entries) {
    if (entry.desc == "MATERIALIZED VIEW") matviews.insert(entry.object_oid);
  }
  TocPlan plan;
  std::set<uint32_t> views;       // views and matviews that will exist, for those built on them
  std::set<uint32_t> after_keys;  // those of them created only once the keys exist
  for (size_t idx = 0; idx < entries.size(); ++idx) {
    const TocEntry& entry = entries[idx];
    const ObjectKey key{entry.catalog_oid, entry.object_oid};
    if (entry.desc == "COMMENT" || entry.desc == "ACL") {
      plan.dependent.push_back(idx);
      if (facts.post_data.count(entry.dump_id) ||
          (entry.desc == "COMMENT" &&
           (starts_with(entry.tag, "INDEX ") || starts_with(entry.tag, "CONSTRAINT ")))) {
        plan.after_copy.push_back(idx);
      }
      plan.restore.push_back(idx);
      continue;
    }
    if (!kFunctions.count(entry.desc) && !kViews.count(entry.desc) &&
        !kOnRelations.count(entry.desc)) {
      continue;  // switchyard's own (tables, sequences, types, keys) or not for the target
    }
    std::vector<uint32_t> relations;
    if (auto found = facts.relations.find(key); found != facts.relations.end()) {
      relations = found->second;
    }
    if (entry.desc == "ROW SECURITY") relations = {entry.object_oid};  // listed as (0, table)
    // A table's indexes are switchyard's; a materialized view's are not.
    if (entry.desc == "INDEX" && (relations.empty() || !matviews.count(relations.front()))) {
      continue;
    }
    if (facts.on_target.count(key)) {
      if (kViews.count(entry.desc)) views.insert(entry.object_oid);
      if (entry.desc == "MATERIALIZED VIEW") plan.refresh.push_back(idx);
      continue;
    }
    const bool available = std::all_of(relations.begin(), relations.end(), [&](uint32_t oid) {
      return facts.available.count(oid) || views.count(oid);
    });
    if (!available) {
      plan.unavailable.push_back(idx);
      continue;
    }
    if (kViews.count(entry.desc)) views.insert(entry.object_oid);
    if (entry.desc == "MATERIALIZED VIEW") plan.refresh.push_back(idx);
    // A view's separate _RETURN rule is its real definition, replacing
    // the dummy view created before (which stays available to others).
    const bool postponed = (entry.desc == "RULE" && entry.tag.size() > 8 &&
                            entry.tag.compare(entry.tag.size() - 8, 8, " _RETURN") == 0) ||
                           ((kFunctions.count(entry.desc) || kViews.count(entry.desc)) &&
                            facts.post_data.count(entry.dump_id));
    if (postponed || facts.need_key.count(key) ||
        std::any_of(relations.begin(), relations.end(),
                    [&](uint32_t oid) { return after_keys.count(oid); })) {
      if (kViews.count(entry.desc)) after_keys.insert(entry.object_oid);
      plan.after_keys.push_back(idx);
    } else if (kFunctions.count(entry.desc) && relations.empty()) {
      plan.before_tables.push_back(idx);
    } else {
      plan.after_tables.push_back(idx);
    }
    plan.restore.push_back(idx);
  }
  return plan;
}

}  // namespace switchyard
