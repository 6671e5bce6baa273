// The process's metrics, in Prometheus's data model (prometheus-cpp's core
// library): what `switchyard serve` exposes at /metrics. The jobs update
// them as they work, in the CLI commands as well (where nothing reads them).
// Names follow Prometheus's conventions: the switchyard_ prefix, base units
// (seconds, bytes), _total for counters, and labels with few values (an
// operation, a table), never a key or a run id.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <string>

namespace switchyard::metrics {

prometheus::Registry& registry();

// The stream's, whichever way it runs.
struct StreamMetrics {
  prometheus::Counter& transactions_applied;  // source transactions committed on the target
  prometheus::Counter& inserts;               // row changes applied, by operation
  prometheus::Counter& updates;
  prometheus::Counter& deletes;
  prometheus::Counter& reconnects;  // sessions started again after an error
  prometheus::Gauge& lag_seconds;   // how old the oldest change not yet applied is
  prometheus::Gauge& lag_bytes;     // WAL not yet applied (PostgreSQL source)
  prometheus::Gauge& lag_changes;   // changelog rows not yet applied (ODBC source)
};
StreamMetrics& stream();

// Where the stream stands, as two state sets (one series per state, 1 for
// the current one): switchyard_stream_phase{phase} and
// switchyard_stream_direction{direction}.
enum class StreamPhase { kStopped, kPreparing, kStreaming, kReconnecting };
const char* to_string(StreamPhase phase);
void set_stream_phase(StreamPhase phase);
StreamPhase stream_phase();
void set_stream_direction(const std::string& direction);  // "forward" or "reverse"
std::string stream_direction();                           // "" before the first session

// Rows the initial copy (or a table's re-copy) put on the target.
void snapshot_rows_copied(const std::string& table, uint64_t rows);

// verify's, whichever way the stream runs.
struct VerifyMetrics {
  prometheus::Counter& rows_compared;                      // source rows, every pass
  prometheus::Family<prometheus::Gauge>& chunks;           // {state}: as last compared
  prometheus::Gauge& mismatches_open;                      // found and not resolved
  prometheus::Family<prometheus::Gauge>& last_clean_pass;  // {table}: unix time
};
VerifyMetrics& verify();

// Whether `endpoint` (source, target) answered the service's last probe.
void endpoint_up(const std::string& endpoint, bool up);

// A cutover or failback ended: `kind` cutover|failback, `outcome`
// completed|rolled_back|refused.
void switch_run(const std::string& kind, const std::string& outcome);
// How long the last cutover or failback froze writes.
void write_freeze(double seconds);

// Every metric in Prometheus's text exposition format (version 0.0.4).
std::string exposition();

}  // namespace switchyard::metrics
