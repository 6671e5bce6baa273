#include "common/metrics.h"

#include <prometheus/text_serializer.h>

#include <atomic>
#include <mutex>
#include <utility>
#include <vector>

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

namespace {

std::atomic<StreamPhase> current_phase{StreamPhase::kStopped};
std::mutex direction_mutex;
std::string current_direction;

// A state set: one gauge per state, exactly one of them 1.
class StateSet {
 public:
  StateSet(const char* name, const char* help, const char* label,
           std::initializer_list<const char*> states)
      : family_(prometheus::BuildGauge().Name(name).Help(help).Register(registry())) {
    for (const char* state : states) gauges_.emplace_back(state, &family_.Add({{label, state}}));
  }
  void set(const std::string& state) {
    std::lock_guard lock(mutex_);
    for (auto& [name, gauge] : gauges_) gauge->Set(name == state ? 1 : 0);
  }

 private:
  prometheus::Family<prometheus::Gauge>& family_;
  std::vector<std::pair<std::string, prometheus::Gauge*>> gauges_;
  std::mutex mutex_;
};

StateSet& phase_set() {
  static StateSet set("switchyard_stream_phase",
                      "What the stream is doing: 1 for the current phase, 0 for the others.",
                      "phase", {"stopped", "preparing", "streaming", "reconnecting"});
  return set;
}

}  // namespace

const char* to_string(StreamPhase phase) {
  switch (phase) {
    case StreamPhase::kStopped:
      return "stopped";
    case StreamPhase::kPreparing:
      return "preparing";
    case StreamPhase::kStreaming:
      return "streaming";
    case StreamPhase::kReconnecting:
      return "reconnecting";
  }
  return "?";
}

void set_stream_phase(StreamPhase phase) {
  current_phase = phase;
  phase_set().set(to_string(phase));
}

StreamPhase stream_phase() {
  return current_phase;
}

void set_stream_direction(const std::string& direction) {
  static StateSet set("switchyard_stream_direction",
                      "Which way the stream runs: 1 for the current direction (forward: source "
                      "to target; reverse: after a cutover).",
                      "direction", {"forward", "reverse"});
  set.set(direction);
  std::lock_guard lock(direction_mutex);
  current_direction = direction;
}

std::string stream_direction() {
  std::lock_guard lock(direction_mutex);
  return current_direction;
}

void snapshot_rows_copied(const std::string& table, uint64_t rows) {
  static auto& copied = prometheus::BuildCounter()
                            .Name("switchyard_snapshot_rows_copied_total")
                            .Help("Rows the initial copy or a re-copy put on the target, by table.")
                            .Register(registry());
  copied.Add({{"table", table}}).Increment(static_cast<double>(rows));
}

VerifyMetrics& verify() {
  static VerifyMetrics metrics = [] {
    prometheus::Registry& all = registry();
    return VerifyMetrics{
        prometheus::BuildCounter()
            .Name("switchyard_verify_rows_compared_total")
            .Help("Source rows verify compared with the target.")
            .Register(all)
            .Add({}),
        prometheus::BuildGauge()
            .Name("switchyard_verify_chunks")
            .Help("Key-range chunks of the stream's tables as verify last compared them, by "
                  "state (clean, mismatch, in_flight).")
            .Register(all),
        prometheus::BuildGauge()
            .Name("switchyard_verify_mismatches_open")
            .Help("Rows verify found different and that are not resolved yet.")
            .Register(all)
            .Add({}),
        prometheus::BuildGauge()
            .Name("switchyard_verify_last_clean_pass_timestamp_seconds")
            .Help("When a full verify pass over the table last ended with no mismatch and "
                  "nothing in flight (Unix time).")
            .Register(all),
    };
  }();
  return metrics;
}

void endpoint_up(const std::string& endpoint, bool up) {
  static auto& family = prometheus::BuildGauge()
                            .Name("switchyard_endpoint_up")
                            .Help("Whether the database answered the service's last probe.")
                            .Register(registry());
  family.Add({{"endpoint", endpoint}}).Set(up ? 1 : 0);
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
