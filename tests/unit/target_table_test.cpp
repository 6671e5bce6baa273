// plan_target: the schema-drift rules and how a table's changes are written.

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "common/error.h"
#include "error_matchers.h"
#include "replicator/target_table.h"

using namespace switchyard;
using switchyard::test::IsError;

namespace {

// Source: orders(id int, customer int, note text), replica identity (id).
change::Relation orders(char identity = 'd') {
  change::Relation relation;
  relation.relation_id = 1;
  relation.schema = "public";
  relation.name = "orders";
  relation.replica_identity = identity;
  relation.columns = {{true, "id", 23, -1}, {false, "customer", 23, -1}, {false, "note", 25, -1}};
  return relation;
}

TargetColumn column(const std::string& name, const std::string& type) {
  TargetColumn out;
  out.name = name;
  out.type = type;
  out.same_type = true;
  return out;
}

TargetTable same_orders() {
  TargetTable table;
  table.columns = {column("id", "integer"), column("customer", "integer"), column("note", "text")};
  table.identity_key = {"id"};
  return table;
}

}  // namespace

TEST_CASE("The same table on both sides: runs, the key, the target's types", "[target_table]") {
  const TargetPlan plan = plan_target("public.orders", orders(), {0}, same_orders());
  CHECK(plan.batched);
  CHECK(plan.verify_key == std::vector<size_t>{0});
  CHECK(plan.types == std::vector<std::string>{"integer", "integer", "text"});
  CHECK(plan.identity_always == std::vector<bool>{false, false, false});
}

TEST_CASE("Drift is refused, naming the table and the column", "[target_table][bad-input]") {
  SECTION("no such table") {
    CHECK_THROWS_MATCHES(plan_target("public.orders", orders(), {0}, TargetTable{}), Error,
                         IsError(ErrorKind::kSchemaDrift, {"table public.orders does not exist"}));
  }
  SECTION("a source column missing on the target") {
    TargetTable target = same_orders();
    target.columns.pop_back();
    CHECK_THROWS_MATCHES(plan_target("public.orders", orders(), {0}, target), Error,
                         IsError(ErrorKind::kSchemaDrift,
                                 {"column note of table public.orders exists on the source"}));
  }
  SECTION("generated on the target") {
    TargetTable target = same_orders();
    target.columns[2].generated = true;
    CHECK_THROWS_MATCHES(plan_target("public.orders", orders(), {0}, target), Error,
                         IsError(ErrorKind::kSchemaDrift, {"column note of table public.orders is "
                                                           "generated on the target"}));
  }
  SECTION("another type") {
    TargetTable target = same_orders();
    target.columns[1].same_type = false;
    target.columns[1].type = "bigint";
    CHECK_THROWS_MATCHES(
        plan_target("public.orders", orders(), {0}, target), Error,
        IsError(ErrorKind::kSchemaDrift, {"has another type on the target (bigint)"}));
  }
  SECTION("an extra target column the stream cannot fill") {
    TargetTable target = same_orders();
    TargetColumn extra = column("region", "text");
    extra.needs_value = true;
    target.columns.push_back(extra);
    CHECK_THROWS_MATCHES(plan_target("public.orders", orders(), {0}, target), Error,
                         IsError(ErrorKind::kSchemaDrift, {"column region of table public.orders "
                                                           "is NOT NULL without a default"}));
  }
}

TEST_CASE("An extra target column with a default, or nullable, is no drift", "[target_table]") {
  TargetTable target = same_orders();
  target.columns.push_back(column("region", "text"));
  CHECK_NOTHROW(plan_target("public.orders", orders(), {0}, target));
}

TEST_CASE("Updates are applied one by one where row order matters", "[target_table]") {
  SECTION("REPLICA IDENTITY FULL") {
    CHECK_FALSE(plan_target("public.orders", orders('f'), {0, 1, 2}, same_orders()).batched);
  }
  SECTION("another unique index") {
    TargetTable target = same_orders();
    target.other_unique = true;
    CHECK_FALSE(plan_target("public.orders", orders(), {0}, target).batched);
  }
  SECTION("a GENERATED ALWAYS identity outside the key") {
    TargetTable target = same_orders();
    target.columns[1].identity_always = true;
    const TargetPlan plan = plan_target("public.orders", orders(), {0}, target);
    CHECK_FALSE(plan.batched);
    CHECK(plan.identity_always == std::vector<bool>{false, true, false});
  }
  SECTION("but not an identity that is the key") {
    TargetTable target = same_orders();
    target.columns[0].identity_always = true;
    CHECK(plan_target("public.orders", orders(), {0}, target).batched);
  }
}

TEST_CASE("verify's key is the target's, if the source sends all of it", "[target_table]") {
  TargetTable target = same_orders();
  target.identity_key = {"customer", "id"};
  CHECK(plan_target("public.orders", orders(), {0}, target).verify_key ==
        std::vector<size_t>{1, 0});
  target.identity_key = {"id", "region"};
  CHECK(plan_target("public.orders", orders(), {0}, target).verify_key.empty());
  target.identity_key.clear();
  CHECK(plan_target("public.orders", orders(), {0}, target).verify_key.empty());
}
