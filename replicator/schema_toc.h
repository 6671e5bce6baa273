// The table of contents of a `pg_dump --schema-only` archive, as
// `pg_restore -l` lists it, and the choice of which entries init restores
// on the target and when.
//
// switchyard renders tables, sequences, types, keys and indexes itself
// (source_catalog); everything else an application needs from its schemas
// (functions, views, triggers, policies, grants...) is rendered by pg_dump,
// which knows every object type of every server version. These functions
// are pure: the catalog facts they need are gathered by schema_dump.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchyard {

struct TocEntry {
  int dump_id = 0;
  uint32_t catalog_oid = 0;  // the system catalog holding the object (pg_proc...), 0 for some
  uint32_t object_oid = 0;
  std::string desc;    // FUNCTION, MATERIALIZED VIEW, ACL...
  std::string schema;  // "-" when none
  std::string tag;     // film_in_stock(integer, integer); "film film_fulltext" for a trigger
  std::string owner;
  std::string line;  // as listed, for the -L file
};

// Parses `pg_restore -l` output; comment lines (`;`) and blank lines are
// skipped. Throws Error(kInternal) on a line it cannot read.
std::vector<TocEntry> parse_toc(std::string_view listing);

// Splits the SQL that `pg_restore -L` printed for `entries` (in that
// order) into one script per entry, in the same order. Each entry starts at
// its header comment ("-- Name: TAG; Type: DESC; Schema: ..." between blank
// lines) and only another expected entry's header ends it, so a comment
// line inside a function body does not split one. The archive's preamble, its session SETs and
// psql's \restrict lines are dropped: the caller sets what it needs, locally to its transaction.
// Throws Error(kInternal) when a header is missing.
std::vector<std::string> split_restore_script(std::string_view script,
                                              const std::vector<TocEntry>& entries);

using ObjectKey = std::pair<uint32_t, uint32_t>;  // (catalog_oid, object_oid)

// What the catalogs say about the entries' objects.
struct TocFacts {
  // Objects the target already has (by the server's own identity).
  std::set<ObjectKey> on_target;
  // Relations an object needs: a trigger's, rule's, policy's or index's
  // table; the relations a view reads; the relations whose row types a
  // function's signature uses.
  std::map<ObjectKey, std::vector<uint32_t>> relations;
  // Relations that will exist on the target whatever is restored: the
  // selected tables and their partitions, and what the target already has.
  std::set<uint32_t> available;
  // The dump ids pg_dump put in its post-data section (`pg_restore -l
  // --section=post-data`): besides keys, indexes, triggers, rules and
  // policies, what needs a key or index to be valid, which pg_dump
  // postpones there: the real definition of a view grouping by a table's
  // primary key (a dummy view stands in for it in pre-data, listed as RULE
  // "view _RETURN" by pg_dump 15, as VIEW by others), a materialized view
  // or a SQL-standard function body doing so, and their comments and grants.
  std::set<int> post_data;
  // Objects that depend on a constraint (pg_depend): a policy or rule whose
  // subquery groups by a primary key, for instance.
  std::set<ObjectKey> need_key;
};

struct TocPlan {
  // Indexes into the entries, each list in archive (dependency) order.
  std::vector<size_t> before_tables;  // functions whose signatures need no table
  std::vector<size_t> after_tables;   // the rest: views, matviews, triggers, rules, policies...
  // What needs the tables' keys (switchyard builds them after the copy):
  // see TocFacts::post_data and need_key, and what is created on those.
  std::vector<size_t> after_keys;
  std::vector<size_t> dependent;  // COMMENT and ACL: run last, each may find its object absent
  // Those of `dependent` that wait for the keys too: comments on keys and
  // indexes, and the comments and grants pg_dump puts in post-data.
  std::vector<size_t> after_copy;
  std::vector<size_t> refresh;      // materialized views to fill once the data is there
  std::vector<size_t> unavailable;  // skipped: they need a relation the target will not have
  std::vector<size_t> restore;      // everything restore needs to print (for the -L list)
};

// Entries switchyard leaves to pg_dump (the rest is its own or not for the
// target), minus what the target has and what it could not create.
TocPlan plan_toc(const std::vector<TocEntry>& entries, const TocFacts& facts);

}  // namespace switchyard
