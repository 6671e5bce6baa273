// The switchyard configuration file: one YAML document, validated strictly.
//
// Unknown keys and values of the wrong type are errors that name the key and
// its line, because a typo in a migration tool's config must never silently
// fall back to a default. Every key and its default is documented in
// README.md; docs/example.yaml is a complete example.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace switchyard {

struct Endpoint {
  // What messages, status and logs call this database: "source" and
  // "target" unless configured ("legacy", "cloud"). It stays with the
  // database when the stream turns round after a cutover.
  std::string name;
  std::string driver;    // "postgres", or "odbc" (a legacy source only)
  std::string conninfo;  // postgres: libpq conninfo or URI (PG* variables and .pgpass apply);
                         // odbc: "Driver=...;Server=...;Database=...;Uid=..." or "DSN=name"
  // odbc: where the password comes from, never the YAML (or none: the DSN's).
  std::string password_file;
  std::string password_env;

  bool odbc() const { return driver == "odbc"; }
  // The password named by password_file / password_env, or "". Throws
  // Error(kUsage) naming the file or variable when it cannot be read.
  std::string password() const;
};

struct TableSelection {
  std::vector<std::string> include{"public.*"};  // "schema.table" globs (* and ?)
  std::vector<std::string> exclude;
};

struct SnapshotSettings {
  int workers = 4;  // tables (or table parts) copied at once
  // Copy bigger tables in parts, several sessions to a table. Unset: the
  // source engine's default (PostgreSQL: whole tables; ODBC: 256MB).
  std::optional<uint64_t> split_tables_larger_than;
  // Per session building keys; unset: the target server's own setting.
  std::optional<uint64_t> maintenance_work_mem;
};

struct ApplySettings {
  int batch_transactions = 1000;           // source transactions per target transaction
  uint64_t batch_bytes = 16ull << 20;      // ... or this much change data, whichever first
  uint64_t pipeline_bytes = 512ull << 10;  // in-flight pipelined statements before a sync
};

struct StreamSettings {
  std::chrono::milliseconds status_interval{10'000};   // lag log line period
  std::chrono::milliseconds feedback_interval{1'000};  // standby status to the source
  std::chrono::milliseconds reconnect_max{30'000};     // backoff ceiling
  // A replication connection on which nothing arrives for this long, even
  // after asking the server for a reply at half of it, is taken for dead
  // (a firewall that dropped its state, a VM migrated) and reconnected.
  // 0 = never.
  std::chrono::milliseconds receive_timeout{30'000};
  // How often replicate looks for changed large objects (which logical
  // decoding does not carry); a look that finds nothing changed reads no
  // object (control/large_objects.h).
  std::chrono::milliseconds large_object_interval{5'000};
};

struct VerifySettings {
  // Rate limit of full passes, per side (0 = none). Dirty-only passes and
  // re-checks are not limited: they are small by construction. 8 MiB/s is
  // about 28 GiB an hour (a 650 GiB database in a day), gentle on
  // a busy primary (bench/RESULTS.md, "serve under load": 64 MiB/s did not
  // hold a pass back at all on two cores, and the application's latency
  // rose from 4 ms to 800 ms while it ran).
  uint64_t max_rows_per_second = 0;
  uint64_t max_bytes_per_second = 8ull << 20;
  std::chrono::milliseconds chunk_time{500};          // aim for chunks this long to read
  std::chrono::milliseconds recheck_timeout{30'000};  // wait for the target to catch up
  std::chrono::milliseconds pass_interval{60'000};    // continuous: pause between passes
};

// How applications reach the primary, and how cutover moves them (issue 4).
enum class RouterKind {
  kNone,       // no router: freeze by fencing the legacy only
  kPgbouncer,  // switchyard rewrites a pgbouncer database entry and RELOADs
  kCommand,    // shell commands freeze, switch and resume (DNS, load balancer)
};

struct RouterSettings {
  RouterKind kind = RouterKind::kNone;
  // kind: pgbouncer
  std::string admin_conninfo;  // the pgbouncer admin console
  std::string database;        // the entry applications use
  std::string databases_file;  // a file switchyard owns, %include-d by pgbouncer.ini
  std::string source_entry;    // the entry's connection string while the source is primary
  std::string target_entry;    // ... and once the target is; both derived from conninfo if empty
  // kind: command
  std::string freeze_command;
  std::string switch_command;  // SWITCHYARD_PRIMARY=source|target in its environment
  std::string check_command;   // optional: exit 0 when the router sends applications to
                               // SWITCHYARD_PRIMARY (after switch, and in the preflight)
  std::string resume_command;
  std::chrono::milliseconds command_timeout{5'000};
};

struct CutoverSettings {
  std::chrono::milliseconds freeze_budget{2'000};         // freeze to resume, at most
  uint64_t max_lag_bytes = 16ull << 20;                   // preflight: target this close
  std::chrono::milliseconds max_transaction_age{30'000};  // preflight: no older source transaction
  int64_t sequence_margin = 1'000;                        // added to every synced sequence
};

// `serve`: where its HTTP API, metrics and dashboard listen, and who may
// use them.
struct ServiceSettings {
  std::string host = "127.0.0.1";  // loopback unless configured otherwise
  uint16_t port = 8474;
  // The API's bearer tokens, one `name:token` per line (service/tokens.h);
  // none: every mutation is refused.
  std::string tokens_file;
  // Reads (status, metrics, the page) without a token on an address other
  // than loopback; on loopback they never need one.
  bool open_reads = false;
  // HTTPS: a PEM certificate chain and its private key (both, or neither).
  std::string tls_cert;
  std::string tls_key;

  bool loopback() const;
};

struct Config {
  std::string path;                 // where it was read from, for messages
  std::string name = "switchyard";  // names the slot, publication and origin
  Endpoint source{"source", {}, {}, {}, {}};
  Endpoint target{"target", {}, {}, {}, {}};
  TableSelection tables;
  SnapshotSettings snapshot;
  ApplySettings apply;
  StreamSettings stream;
  VerifySettings verify;
  RouterSettings router;
  CutoverSettings cutover;
  ServiceSettings service;
  // An ODBC source's column types, overriding the casting rules
  // (replicator/schema_translation.h): "schema.table.column" -> a
  // PostgreSQL type, keyed by the legacy names.
  std::map<std::string, std::string> types;
  std::string log_level = "info";

  // The same stream seen the other way round: source and target swapped.
  // After a cutover the reverse stream runs on this (the slot and the
  // publication then live on the target, the origin on the source): the
  // same names on the other servers, and the same code.
  Config reversed() const {
    Config out = *this;
    std::swap(out.source, out.target);
    return out;
  }

  std::string slot_name() const { return name; }
  std::string publication_name() const { return name; }
  std::string origin_name() const { return name; }
};

// Reads and validates the file. Throws Error(kUsage) naming the file, the
// line and the key at fault.
Config load_config(const std::string& path);

// The same, from YAML text (used by tests).
Config parse_config(const std::string& yaml_text, const std::string& origin);

}  // namespace switchyard
