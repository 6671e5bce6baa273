// Backoff: jittered exponential reconnect delays.

#include <catch2/catch.hpp>

#include <chrono>
#include <vector>

#include "common/backoff.h"

using namespace std::chrono_literals;
using switchyard::Backoff;

namespace {

std::vector<std::chrono::milliseconds> delays(Backoff& backoff, int count) {
  std::vector<std::chrono::milliseconds> out;
  for (int i = 0; i < count; ++i) out.push_back(backoff.next_delay());
  return out;
}

}  // namespace

TEST_CASE("Backoff delays stay between base/2 and cap", "[backoff]") {
  const auto base = GENERATE(1ms, 100ms, 1000ms);
  const auto cap = GENERATE(1000ms, 30000ms);
  CAPTURE(base.count(), cap.count());
  Backoff backoff(base, cap);
  for (const auto delay : delays(backoff, 200)) {
    CAPTURE(delay.count());
    REQUIRE(delay >= base / 2);
    REQUIRE(delay <= cap);
  }
}

TEST_CASE("Backoff's first delay is at most base", "[backoff]") {
  for (int trial = 0; trial < 50; ++trial) {
    Backoff backoff(100ms, 30s);
    const auto first = backoff.next_delay();
    REQUIRE(first >= 50ms);
    REQUIRE(first <= 100ms);
  }
}

TEST_CASE("Backoff delays grow until they reach the cap", "[backoff]") {
  Backoff backoff(100ms, 10s);
  const auto seen = delays(backoff, 12);
  // Each ceiling doubles (100, 200, ... ms), and a delay is at least half of
  // its ceiling, so after 7 failures (ceiling 6.4 s) no delay can be as short
  // as the first could be long.
  CHECK(seen[7] > 100ms);
  CHECK(seen[11] >= 5s);  // ceiling pinned at the 10 s cap: delays in [5 s, 10 s]
  for (size_t i = 8; i < seen.size(); ++i) CHECK(seen[i] <= 10s);
}

TEST_CASE("Backoff::reset starts again from base", "[backoff]") {
  Backoff backoff(100ms, 10s);
  const auto grown = delays(backoff, 10);
  REQUIRE(grown.back() >= 5s);
  backoff.reset();
  const auto after_reset = backoff.next_delay();
  CHECK(after_reset >= 50ms);
  CHECK(after_reset <= 100ms);
}
