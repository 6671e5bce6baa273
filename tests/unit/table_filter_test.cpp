// glob_match and table_selected: which source tables a configuration picks.

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "common/config.h"
#include "replicator/table_filter.h"

using switchyard::glob_match;
using switchyard::table_selected;
using switchyard::TableSelection;

namespace {

TableSelection selection(std::vector<std::string> include, std::vector<std::string> exclude = {}) {
  TableSelection out;
  out.include = std::move(include);
  out.exclude = std::move(exclude);
  return out;
}

}  // namespace

TEST_CASE("glob_match without wildcards is exact, case-sensitive equality", "[table_filter]") {
  CHECK(glob_match("public.users", "public.users"));
  CHECK_FALSE(glob_match("public.users", "public.user"));
  CHECK_FALSE(glob_match("public.users", "public.userss"));
  CHECK_FALSE(glob_match("public.users", "Public.users"));
  CHECK(glob_match("", ""));
  CHECK_FALSE(glob_match("", "a"));
  CHECK_FALSE(glob_match("a", ""));
}

TEST_CASE("glob_match '*' matches any run of characters, including none", "[table_filter]") {
  CHECK(glob_match("*", ""));
  CHECK(glob_match("*", "anything.at.all"));
  CHECK(glob_match("public.*", "public."));
  CHECK(glob_match("public.*", "public.orders"));
  CHECK(glob_match("*.orders", "sales.orders"));
  CHECK(glob_match("public.order*", "public.order"));
  CHECK(glob_match("public.*_log", "public.audit_log"));
  CHECK_FALSE(glob_match("public.*_log", "public.audit_log_old"));
  CHECK(glob_match("a*b*c", "aXXbYYbZZc"));
  CHECK_FALSE(glob_match("a*b*c", "aXXbYYcZZ"));
  CHECK(glob_match("**x", "abx"));
  CHECK_FALSE(glob_match("public.*", "private.orders"));
}

TEST_CASE("glob_match '?' matches exactly one character", "[table_filter]") {
  CHECK(glob_match("public.t?", "public.t1"));
  CHECK_FALSE(glob_match("public.t?", "public.t"));
  CHECK_FALSE(glob_match("public.t?", "public.t12"));
  CHECK(glob_match("p?blic.??", "public.ab"));
  CHECK(glob_match("?*", "x"));
  CHECK_FALSE(glob_match("?*", ""));
}

TEST_CASE("glob_match treats '.' and other punctuation literally", "[table_filter]") {
  CHECK_FALSE(glob_match("public.users", "publicXusers"));
  CHECK(glob_match("a.b.c", "a.b.c"));
  CHECK(glob_match("[x]", "[x]"));
  CHECK_FALSE(glob_match("[x]", "x"));
  CHECK(glob_match("public.\"Q\"", "public.\"Q\""));
}

TEST_CASE("table_selected includes by any include pattern", "[table_filter]") {
  const auto tables = selection({"public.*", "sales.orders"});
  CHECK(table_selected(tables, "public", "users"));
  CHECK(table_selected(tables, "sales", "orders"));
  CHECK_FALSE(table_selected(tables, "sales", "customers"));
  CHECK_FALSE(table_selected(tables, "audit", "users"));
}

TEST_CASE("table_selected selects nothing without include patterns", "[table_filter]") {
  CHECK_FALSE(table_selected(selection({}), "public", "users"));
  CHECK_FALSE(table_selected(selection({}, {"public.tmp"}), "public", "users"));
}

TEST_CASE("table_selected lets exclude win over include", "[table_filter]") {
  const auto tables = selection({"public.*", "public.tmp_keep"}, {"public.tmp_*"});
  CHECK(table_selected(tables, "public", "users"));
  CHECK_FALSE(table_selected(tables, "public", "tmp_scratch"));
  CHECK_FALSE(table_selected(tables, "public", "tmp_keep"));  // named in include, still excluded
}

TEST_CASE("table_selected matches names literally, case and all", "[table_filter]") {
  const auto tables = selection({"Sales.OrderItems", "public.Mixed*"});
  CHECK(table_selected(tables, "Sales", "OrderItems"));
  CHECK_FALSE(table_selected(tables, "sales", "orderitems"));
  CHECK_FALSE(table_selected(tables, "SALES", "ORDERITEMS"));
  CHECK(table_selected(tables, "public", "MixedCase"));
  CHECK_FALSE(table_selected(tables, "public", "mixedcase"));

  // A quoted identifier's catalog name contains no quotes; names with spaces
  // and quotes are plain characters to the pattern.
  const auto odd = selection({"public.Order Items", "public.say \"hi\""});
  CHECK(table_selected(odd, "public", "Order Items"));
  CHECK(table_selected(odd, "public", "say \"hi\""));
  CHECK_FALSE(table_selected(odd, "public", "\"Order Items\""));
}

TEST_CASE("table_selected handles names that contain dots", "[table_filter]") {
  CHECK(table_selected(selection({"public.*"}), "public", "v1.2"));
  CHECK(table_selected(selection({"public.v1?2"}), "public", "v1.2"));
  CHECK_FALSE(table_selected(selection({"public.*"}, {"public.v1*"}), "public", "v1.2"));
}

TEST_CASE("A wildcard never reaches across the schema/table boundary", "[table_filter]") {
  // Schema "app.archive" is not schema "app", and table "x.orders" is not
  // table "orders", even though joined with a dot the strings would match.
  CHECK_FALSE(table_selected(selection({"app.*"}), "app.archive", "orders"));
  CHECK_FALSE(table_selected(selection({"app*.orders"}), "app", "x.orders"));
  CHECK(table_selected(selection({"app*.orders"}), "app_v2", "orders"));
  CHECK(table_selected(selection({"public.*"}, {"*.secret"}), "public", "team.secret"));
}
