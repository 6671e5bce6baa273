// control/large_objects: what differs between two sides' large objects, and
// how verify tells a change the sync has not carried yet from damage.

#include <catch2/catch.hpp>

#include "control/large_objects.h"

namespace lo = switchyard::control::large_objects;

namespace {

lo::Object object(uint32_t oid, const std::string& owner, const std::string& md5) {
  return lo::Object{oid, owner, md5, 10};
}

lo::Objects objects(std::initializer_list<lo::Object> list) {
  lo::Objects out;
  for (const auto& item : list) out.emplace(item.oid, item);
  return out;
}

}  // namespace

TEST_CASE("equal sides have no difference", "[large_objects]") {
  const auto side = objects({object(1, "app", "aa"), object(7, "docs", "bb")});
  CHECK(lo::compare(side, side).empty());
  CHECK(lo::compare({}, {}).empty());
}

TEST_CASE("missing, extra and different are named by oid, in oid order", "[large_objects]") {
  const auto source = objects({object(1, "app", "aa"), object(3, "app", "cc"),
                               object(5, "app", "ee"), object(9, "app", "ff")});
  const auto target = objects({object(2, "app", "bb"), object(3, "app", "CC"),
                               object(5, "docs", "ee"), object(10, "app", "gg")});
  const auto differences = lo::compare(source, target);
  REQUIRE(differences.size() == 6);
  CHECK(differences[0].oid == 1);
  CHECK(differences[0].kind == lo::Kind::kMissing);
  CHECK(differences[0].content);
  CHECK(differences[1].oid == 2);
  CHECK(differences[1].kind == lo::Kind::kExtra);
  CHECK(differences[2].oid == 3);
  CHECK(differences[2].kind == lo::Kind::kDifferent);
  CHECK(differences[2].content);
  // Only the owner differs: no bytes need copying.
  CHECK(differences[3].oid == 5);
  CHECK(differences[3].kind == lo::Kind::kDifferent);
  CHECK_FALSE(differences[3].content);
  CHECK(differences[4].oid == 9);
  CHECK(differences[4].kind == lo::Kind::kMissing);
  CHECK(differences[5].oid == 10);
  CHECK(differences[5].kind == lo::Kind::kExtra);
  CHECK(std::string(lo::to_string(lo::Kind::kExtra)) == "extra");
}

TEST_CASE("a target as the sync left it is in flight; anything else is a mismatch",
          "[large_objects]") {
  const auto old_version = object(4, "app", "old");
  const auto new_version = object(4, "app", "new");
  const auto damaged = object(4, "app", "bad");

  // Equal whatever the record says.
  CHECK(lo::classify(&new_version, &new_version, &old_version, true) == lo::Verdict::kEqual);
  CHECK(lo::classify(nullptr, nullptr, &old_version, true) == lo::Verdict::kEqual);

  // The source changed, created or unlinked it since the last pass.
  CHECK(lo::classify(&new_version, &old_version, &old_version, true) == lo::Verdict::kInFlight);
  CHECK(lo::classify(&new_version, nullptr, nullptr, true) == lo::Verdict::kInFlight);
  CHECK(lo::classify(nullptr, &old_version, &old_version, true) == lo::Verdict::kInFlight);

  // Changed, removed or created on the target behind the stream's back.
  CHECK(lo::classify(&old_version, &damaged, &old_version, true) == lo::Verdict::kMismatch);
  CHECK(lo::classify(&old_version, nullptr, &old_version, true) == lo::Verdict::kMismatch);
  CHECK(lo::classify(nullptr, &damaged, nullptr, true) == lo::Verdict::kMismatch);
  // Even when the source changed too: the target is not what was written.
  CHECK(lo::classify(&new_version, &damaged, &old_version, true) == lo::Verdict::kMismatch);

  // Nothing recorded yet (no pass has run): nothing can be called damage.
  CHECK(lo::classify(&new_version, nullptr, nullptr, false) == lo::Verdict::kInFlight);
  CHECK(lo::classify(nullptr, &damaged, nullptr, false) == lo::Verdict::kInFlight);
}

TEST_CASE("a sync report says what it did", "[large_objects]") {
  lo::SyncReport report;
  CHECK(report.summary() == "no large object changed");
  report.digested = true;
  report.objects = 3;
  report.bytes = 2048;
  CHECK(report.summary() == "3 large objects (2.0 kB) equal");
  report.copied = 2;
  report.unlinked = 1;
  CHECK(report.summary() == "3 large objects (2.0 kB): 2 copied, 1 unlinked");
  report.owners = 1;
  CHECK(report.summary() == "3 large objects (2.0 kB): 2 copied, 1 re-owned, 1 unlinked");
  CHECK(lo::describe(objects({object(1, "app", "aa")})) == "1 object (10 B)");
}
