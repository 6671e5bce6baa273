// SafeWatermark: never past a sequence an open transaction may still commit.

#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

#include "replicator/changelog_watermark.h"

using switchyard::SafeWatermark;

namespace {

// The transactions still open, as the engine would report them.
struct Engine {
  std::set<std::string> open;
  SafeWatermark::Ended ended() const {
    return [this](const std::vector<std::string>& ids) {
      for (const auto& id : ids) {
        if (open.count(id)) return false;
      }
      return true;
    };
  }
};

}  // namespace

TEST_CASE("With nothing open, the highest committed sequence is final", "[watermark]") {
  SafeWatermark watermark;
  Engine engine;
  CHECK(watermark.advance({10, {}}, engine.ended()) == 10);
  CHECK(watermark.advance({25, {}}, engine.ended()) == 25);
}

TEST_CASE(
    "A long transaction holding a lower sequence holds the watermark back until it "
    "ends",
    "[watermark]") {
  SafeWatermark watermark;
  Engine engine;
  // T1 wrote sequence 1 and stays open; short transactions commit 2..21.
  engine.open = {"T1"};
  CHECK(watermark.advance({21, {"T1"}}, engine.ended()) == 0);
  CHECK(watermark.advance({40, {"T1"}}, engine.ended()) == 0);  // still open: still 0
  engine.open.clear();                                          // T1 commits sequence 1
  CHECK(watermark.advance({41, {"T9"}}, engine.ended()) == 21);
  // The probe at 41 waits for T9 (maybe holding 41 or below).
  CHECK(watermark.advance({45, {"T10"}}, engine.ended()) == 41);
}

TEST_CASE("The watermark never goes back", "[watermark]") {
  SafeWatermark watermark;
  Engine engine;
  CHECK(watermark.advance({30, {}}, engine.ended()) == 30);
  CHECK(watermark.advance({20, {}}, engine.ended()) == 30);
  CHECK(watermark.safe() == 30);
}
