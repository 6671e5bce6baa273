// The metrics registry and its text exposition (what /metrics serves).

#include <catch2/catch.hpp>

#include <string>

#include "common/metrics.h"
#include "common/version.h"

using namespace switchyard;

namespace {

// The sample line of `series` ("name{labels}") in the exposition, value and all.
std::string sample(const std::string& exposition, const std::string& series) {
  const size_t at = exposition.find("\n" + series + " ");
  if (at == std::string::npos) return "";
  return exposition.substr(at + 1, exposition.find('\n', at + 1) - at - 1);
}

}  // namespace

TEST_CASE("The stream's metrics are exposed with their types and labels", "[metrics]") {
  metrics::StreamMetrics& stream = metrics::stream();
  const double before = stream.inserts.Value();
  stream.inserts.Increment(3);
  stream.lag_seconds.Set(1.5);
  const std::string text = metrics::exposition();
  CHECK(text.find("# TYPE switchyard_changes_applied_total counter") != std::string::npos);
  CHECK(text.find("# TYPE switchyard_replication_lag_seconds gauge") != std::string::npos);
  CHECK(text.find("# HELP switchyard_transactions_applied_total ") != std::string::npos);
  CHECK(sample(text, "switchyard_changes_applied_total{op=\"insert\"}") ==
        "switchyard_changes_applied_total{op=\"insert\"} " + std::to_string(int(before + 3)));
  CHECK(sample(text, "switchyard_replication_lag_seconds") ==
        "switchyard_replication_lag_seconds 1.5");
  CHECK_FALSE(sample(text, "switchyard_changes_applied_total{op=\"delete\"}").empty());
  CHECK(sample(text, "switchyard_build_info{version=\"" + std::string(kVersion) + "\"}") ==
        "switchyard_build_info{version=\"" + std::string(kVersion) + "\"} 1");
}
