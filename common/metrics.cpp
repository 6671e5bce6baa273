#include "common/metrics.h"

#include <prometheus/text_serializer.h>

#include "common/version.h"

namespace switchyard::metrics {

prometheus::Registry& registry() {
  static prometheus::Registry instance;
  static const bool described = [] {
    prometheus::BuildGauge()
        .Name("switchyard_build_info")
        .Help("switchyard's version; always 1.")
        .Register(instance)
        .Add({{"version", kVersion}})
        .Set(1);
    return true;
  }();
  (void)described;
  return instance;
}

StreamMetrics& stream() {
  static StreamMetrics metrics = [] {
    prometheus::Registry& all = registry();
    auto counter = [&](const char* name,
                       const char* help) -> prometheus::Family<prometheus::Counter>& {
      return prometheus::BuildCounter().Name(name).Help(help).Register(all);
    };
    auto gauge = [&](const char* name, const char* help) -> prometheus::Gauge& {
      return prometheus::BuildGauge().Name(name).Help(help).Register(all).Add({});
    };
    auto& changes = counter("switchyard_changes_applied_total",
                            "Row changes applied to the target, by operation.");
    return StreamMetrics{
        counter("switchyard_transactions_applied_total",
                "Source transactions applied and committed on the target.")
            .Add({}),
        changes.Add({{"op", "insert"}}),
        changes.Add({{"op", "update"}}),
        changes.Add({{"op", "delete"}}),
        counter("switchyard_stream_reconnects_total",
                "Streaming sessions started again after a connection or server error.")
            .Add({}),
        gauge("switchyard_replication_lag_seconds",
              "How old the oldest source change not yet applied to the target is."),
        gauge("switchyard_replication_lag_bytes",
              "Source WAL not yet applied to the target (PostgreSQL source)."),
        gauge("switchyard_replication_lag_changes",
              "Changelog rows not yet applied to the target (ODBC source)."),
    };
  }();
  return metrics;
}

void switch_run(const std::string& kind, const std::string& outcome) {
  static auto& runs = prometheus::BuildCounter()
                          .Name("switchyard_cutover_runs_total")
                          .Help("Cutovers and failbacks that ended, by kind and outcome.")
                          .Register(registry());
  runs.Add({{"kind", kind}, {"outcome", outcome}}).Increment();
}

void write_freeze(double seconds) {
  static auto& freeze = prometheus::BuildGauge()
                            .Name("switchyard_write_freeze_seconds")
                            .Help("How long the last cutover or failback froze writes.")
                            .Register(registry())
                            .Add({});
  freeze.Set(seconds);
}

std::string exposition() {
  return prometheus::TextSerializer().Serialize(registry().Collect());
}

}  // namespace switchyard::metrics
