// parse_config: strict validation of the YAML configuration file.

#include <catch2/catch.hpp>

#include <chrono>
#include <initializer_list>
#include <string>

#include "common/config.h"
#include "common/error.h"
#include "error_matchers.h"
#include "fuzz_seeds.h"

using namespace std::chrono_literals;
using namespace switchyard;
using switchyard::test::IsError;

namespace {

constexpr const char* kOrigin = "test.yaml";

// Lines 1-6. Bad-input cases append to it, so their faults sit on line 7 on.
const std::string kMinimal =
    "source:\n"
    "  driver: postgres\n"
    "  conninfo: host=src dbname=app\n"
    "target:\n"
    "  driver: postgres\n"
    "  conninfo: host=dst dbname=app\n";

const std::string kFull = R"(name: nightly_move
source:
  driver: postgres
  conninfo: host=src.example port=5432 dbname=app user=repl
target:
  driver: postgres
  conninfo: postgresql://app@dst.example:6432/app?sslmode=require
tables:
  include: ["public.*", "Sales.Order?"]
  exclude: ["public.tmp_*"]
snapshot:
  workers: 8
  split_tables_larger_than: 1GB
  maintenance_work_mem: 1GB
apply:
  batch_transactions: 500
  batch_bytes: 32MB
  pipeline_bytes: 256kB
stream:
  status_interval: 5s
  feedback_interval: 250ms
  reconnect_max: 2min
  large_object_interval: 30s
log:
  level: debug
)";

Config parse(const std::string& yaml) {
  test::fuzz_seed("config", yaml);
  return parse_config(yaml, kOrigin);
}

// The configuration must be refused as a usage error whose one-line message
// mentions each fragment (the key, and "test.yaml:LINE:" where it applies).
void require_rejected(const std::string& yaml, std::initializer_list<std::string> fragments) {
  CAPTURE(yaml);
  REQUIRE_THROWS_MATCHES(parse(yaml), Error, IsError(ErrorKind::kUsage, fragments));
  try {
    parse(yaml);
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find('\n') == std::string::npos);
  }
}

}  // namespace

TEST_CASE("A complete configuration is read into every field", "[config]") {
  const Config config = parse(kFull);
  CHECK(config.path == kOrigin);
  CHECK(config.name == "nightly_move");
  CHECK(config.slot_name() == "nightly_move");
  CHECK(config.publication_name() == "nightly_move");
  CHECK(config.origin_name() == "nightly_move");

  CHECK(config.source.driver == "postgres");
  CHECK(config.source.conninfo == "host=src.example port=5432 dbname=app user=repl");
  CHECK(config.target.driver == "postgres");
  CHECK(config.target.conninfo == "postgresql://app@dst.example:6432/app?sslmode=require");

  CHECK(config.tables.include == std::vector<std::string>{"public.*", "Sales.Order?"});
  CHECK(config.tables.exclude == std::vector<std::string>{"public.tmp_*"});

  CHECK(config.snapshot.workers == 8);
  CHECK(config.snapshot.split_tables_larger_than == (1ull << 30));
  CHECK(config.snapshot.maintenance_work_mem == (1ull << 30));

  CHECK(config.apply.batch_transactions == 500);
  CHECK(config.apply.batch_bytes == (32ull << 20));
  CHECK(config.apply.pipeline_bytes == (256ull << 10));

  CHECK(config.stream.status_interval == 5s);
  CHECK(config.stream.feedback_interval == 250ms);
  CHECK(config.stream.reconnect_max == 2min);
  CHECK(config.stream.large_object_interval == 30s);

  CHECK(config.log_level == "debug");
}

TEST_CASE("Optional sections and keys take their documented defaults", "[config]") {
  const Config config = parse(kMinimal);
  CHECK(config.name == "switchyard");
  CHECK(config.slot_name() == "switchyard");
  CHECK(config.source.conninfo == "host=src dbname=app");
  CHECK(config.target.conninfo == "host=dst dbname=app");
  CHECK(config.tables.include == std::vector<std::string>{"public.*"});
  CHECK(config.tables.exclude.empty());
  CHECK(config.snapshot.workers == 4);
  CHECK(!config.snapshot.split_tables_larger_than);
  CHECK(!config.snapshot.maintenance_work_mem);
  CHECK(config.apply.batch_transactions == 1000);
  CHECK(config.apply.batch_bytes == (16ull << 20));
  CHECK(config.apply.pipeline_bytes == (512ull << 10));
  CHECK(config.stream.status_interval == 10s);
  CHECK(config.stream.feedback_interval == 1s);
  CHECK(config.stream.reconnect_max == 30s);
  CHECK(config.stream.large_object_interval == 5s);
  CHECK(config.log_level == "info");
}

TEST_CASE("A partly filled section keeps the defaults of its other keys", "[config]") {
  const Config config = parse(kMinimal +
                              "tables:\n  exclude: [\"public.audit_log\"]\n"
                              "apply:\n  batch_bytes: 8MB\n");
  CHECK(config.tables.include == std::vector<std::string>{"public.*"});
  CHECK(config.tables.exclude == std::vector<std::string>{"public.audit_log"});
  CHECK(config.apply.batch_bytes == (8ull << 20));
  CHECK(config.apply.batch_transactions == 1000);
  CHECK(config.apply.pipeline_bytes == (512ull << 10));
}

TEST_CASE("Unknown keys are rejected with their line", "[config][bad-input]") {
  SECTION("top level") {
    require_rejected(kMinimal + "nmae: x\n", {"test.yaml:7:", "nmae"});
  }
  SECTION("in a section") {
    require_rejected(kMinimal + "snapshot:\n  wrokers: 4\n", {"test.yaml:8:", "snapshot.wrokers"});
  }
  SECTION("in an endpoint") {
    require_rejected(
        "source:\n  driver: postgres\n  conninfo: host=a\n  conn_info: host=b\n"
        "target:\n  driver: postgres\n  conninfo: host=c\n",
        {"test.yaml:4:", "source.conn_info"});
  }
}

TEST_CASE("Values of the wrong type are rejected with their key and line", "[config][bad-input]") {
  SECTION("workers: \"four\"") {
    require_rejected(kMinimal + "snapshot:\n  workers: \"four\"\n",
                     {"test.yaml:8:", "snapshot.workers"});
  }
  SECTION("workers: 2.5") {
    require_rejected(kMinimal + "snapshot:\n  workers: 2.5\n",
                     {"test.yaml:8:", "snapshot.workers"});
  }
  SECTION("workers out of range") {
    const std::string workers = GENERATE("0", "-1", "65", "99999999999");
    require_rejected(kMinimal + "snapshot:\n  workers: " + workers + "\n",
                     {"test.yaml:8:", "snapshot.workers"});
  }
  SECTION("tables.include not a list") {
    require_rejected(kMinimal + "tables:\n  include: public.*\n",
                     {"test.yaml:8:", "tables.include"});
  }
  SECTION("tables.exclude holding a mapping") {
    require_rejected(kMinimal + "tables:\n  exclude:\n    - {schema: public}\n",
                     {"test.yaml:9:", "tables.exclude"});
  }
  SECTION("conninfo as a list") {
    require_rejected(
        "source:\n  driver: postgres\n  conninfo: [host=a]\n"
        "target:\n  driver: postgres\n  conninfo: host=c\n",
        {"test.yaml:3:", "source.conninfo"});
  }
  SECTION("a section that is not a mapping") {
    require_rejected(kMinimal + "stream: 10s\n", {"test.yaml:7:", "stream"});
  }
  SECTION("a document that is not a mapping") {
    require_rejected("- source\n- target\n", {"test.yaml:1:"});
  }
  SECTION("a key that is not a plain name (found by fuzz/config_fuzzer)") {
    require_rejected("[source, target]: x\n", {"test.yaml:1:", "a key must be a plain name"});
    require_rejected(kMinimal + "stream: { {a: 1}: 2 }\n", {"test.yaml:7:", "stream"});
  }
}

TEST_CASE("Missing endpoints and endpoint keys are rejected", "[config][bad-input]") {
  SECTION("no source") {
    require_rejected("target:\n  driver: postgres\n  conninfo: host=b\n", {"test.yaml", "source"});
  }
  SECTION("no target") {
    require_rejected("source:\n  driver: postgres\n  conninfo: host=a\n", {"test.yaml", "target"});
  }
  SECTION("no conninfo") {
    require_rejected(
        "source:\n  driver: postgres\n"
        "target:\n  driver: postgres\n  conninfo: host=b\n",
        {"test.yaml", "source.conninfo"});
  }
  SECTION("no driver") {
    require_rejected(
        "source:\n  driver: postgres\n  conninfo: host=a\n"
        "target:\n  conninfo: host=b\n",
        {"test.yaml", "target.driver"});
  }
}

TEST_CASE("A key given twice is rejected rather than one value silently ignored",
          "[config][bad-input]") {
  SECTION("in a section") {
    require_rejected(kMinimal + "snapshot:\n  workers: 2\n  workers: 8\n",
                     {"test.yaml:9:", "snapshot.workers"});
  }
  SECTION("a whole section") {
    require_rejected(kMinimal + "snapshot:\n  workers: 2\nsnapshot:\n  workers: 8\n",
                     {"test.yaml:9:", "snapshot"});
  }
}

TEST_CASE("An unsupported driver is rejected, naming it", "[config][bad-input]") {
  require_rejected(
      "source:\n  driver: mysql\n  conninfo: DSN=legacy\n"
      "target:\n  driver: postgres\n  conninfo: host=b\n",
      {"test.yaml:2:", "source.driver", "mysql"});
  SECTION("odbc is for the legacy source only") {
    require_rejected(
        "source:\n  driver: odbc\n  conninfo: DSN=legacy\n"
        "target:\n  driver: odbc\n  conninfo: DSN=cloud\n",
        {"test.yaml:5:", "target.driver", "legacy sources only"});
  }
}

TEST_CASE("An ODBC source: its password never comes from the YAML", "[config][odbc]") {
  const std::string target = "target:\n  driver: postgres\n  conninfo: host=b\n";
  SECTION("password_env and password_file are read") {
    const Config config = parse_config(
        "source:\n  driver: odbc\n  conninfo: Driver=MariaDB Unicode;Server=127.0.0.1\n"
        "  password_env: SY_TEST_LEGACY_PASSWORD\n" +
            target,
        "test.yaml");
    CHECK(config.source.odbc());
    ::setenv("SY_TEST_LEGACY_PASSWORD", "s3cret;x", 1);
    CHECK(config.source.password() == "s3cret;x");
    ::unsetenv("SY_TEST_LEGACY_PASSWORD");
    try {
      (void)config.source.password();
      FAIL("an unset variable was accepted");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::kUsage);
      CHECK_THAT(e.what(), Catch::Contains("SY_TEST_LEGACY_PASSWORD"));
    }
  }
  SECTION("a password in the connection string is refused without echoing it") {
    try {
      (void)parse_config(
          "source:\n  driver: odbc\n  conninfo: Driver=MariaDB;Uid=app; PWD=hunter2\n" + target,
          "test.yaml");
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK_THAT(e.what(), Catch::Contains("source.conninfo") && Catch::Contains("password_file"));
      CHECK_THAT(e.what(), !Catch::Contains("hunter2"));
    }
  }
  SECTION("password keys belong to odbc") {
    require_rejected(
        "source:\n  driver: postgres\n  conninfo: host=a\n  password_env: X\n" + target,
        {"test.yaml:4:", "source.password_env", "odbc"});
  }
  SECTION("type overrides") {
    const Config config = parse_config("source:\n  driver: odbc\n  conninfo: DSN=legacy\n" +
                                           target + "types:\n  shop.orders.status: text\n",
                                       "test.yaml");
    CHECK(config.types.at("shop.orders.status") == "text");
    require_rejected("source:\n  driver: odbc\n  conninfo: DSN=legacy\n" + target +
                         "types:\n  orders.status: text\n",
                     {"test.yaml:8:", "types.orders.status", "schema.table.column"});
    require_rejected(kMinimal + "types:\n  public.t.c: text\n", {"types", "ODBC"});
  }
}

TEST_CASE("Malformed YAML is rejected with its line", "[config][bad-input]") {
  require_rejected(kMinimal + "tables: {include: [\"public.*\"}\n", {"test.yaml:7", "YAML"});
  require_rejected("source:\n  driver: postgres\n conninfo: host=a\n", {"test.yaml:", "YAML"});
}

TEST_CASE("An empty document is rejected", "[config][bad-input]") {
  const std::string yaml = GENERATE("", "\n\n", "# nothing but a comment\n", "---\n", "~\n");
  require_rejected(yaml, {"test.yaml", "empty"});
}

TEST_CASE("Table patterns must look like schema.table", "[config][bad-input]") {
  SECTION("no dot") {
    require_rejected(kMinimal + "tables:\n  include: [\"public.*\", \"nodot\"]\n",
                     {"test.yaml:8:", "tables.include", "nodot"});
  }
  SECTION("two dots") {
    require_rejected(kMinimal + "tables:\n  exclude: [\"db.public.t\"]\n",
                     {"test.yaml:8:", "tables.exclude", "db.public.t"});
  }
  SECTION("empty schema or table") {
    const std::string pattern = GENERATE(".users", "public.");
    require_rejected(kMinimal + "tables:\n  include: [\"" + pattern + "\"]\n",
                     {"test.yaml:8:", "tables.include", pattern});
  }
}

TEST_CASE("Durations and sizes must parse and be positive", "[config][bad-input]") {
  SECTION("duration") {
    const std::string value = GENERATE("10 sec", "soon", "0s", "-5s", "1.5s");
    require_rejected(kMinimal + "stream:\n  status_interval: " + value + "\n",
                     {"test.yaml:8:", "stream.status_interval"});
  }
  SECTION("size") {
    const std::string value = GENERATE("16 MiB", "big", "0MB", "1.5GB");
    require_rejected(kMinimal + "apply:\n  batch_bytes: " + value + "\n",
                     {"test.yaml:8:", "apply.batch_bytes"});
  }
}

TEST_CASE("snapshot.maintenance_work_mem is at least 1MB", "[config][bad-input]") {
  require_rejected(kMinimal + "snapshot:\n  maintenance_work_mem: 512kB\n",
                   {"test.yaml:8:", "snapshot.maintenance_work_mem", "at least 1MB"});
}

TEST_CASE("The name must be a short lower-case identifier", "[config][bad-input]") {
  const std::string name = GENERATE(as<std::string>{}, "My-Migration", "Upper", "9lives",
                                    "has space", "\"\"", std::string(52, 'a'));
  require_rejected("name: " + name + "\n" + kMinimal, {"test.yaml:1:", "name"});
}

TEST_CASE("The name accepts identifiers up to 51 characters", "[config]") {
  const std::string name =
      GENERATE(std::string("_x"), std::string("db2_move"), std::string(51, 'a'));
  CHECK(parse("name: " + name + "\n" + kMinimal).name == name);
}

TEST_CASE("The log level must be a known one", "[config][bad-input]") {
  require_rejected(kMinimal + "log:\n  level: verbose\n", {"test.yaml:8:", "log.level"});
}

TEST_CASE("load_config names a file it cannot read", "[config][bad-input]") {
  const std::string path = "/nonexistent/switchyard-unit-test.yaml";
  REQUIRE_THROWS_MATCHES(load_config(path), Error, IsError(ErrorKind::kUsage, {path}));
}

// ---- verify -------------------------------------------------------------------------------------

TEST_CASE("The verify section takes its documented defaults", "[config]") {
  const Config config = parse(kMinimal);
  CHECK(config.verify.max_bytes_per_second == (8ull << 20));
  CHECK(config.verify.max_rows_per_second == 0);  // no row limit
  CHECK(config.verify.chunk_time == 500ms);
  CHECK(config.verify.recheck_timeout == 30s);
  CHECK(config.verify.pass_interval == 60s);
}

TEST_CASE("Every verify key is read", "[config]") {
  const Config config = parse(kMinimal +
                              "verify:\n"
                              "  max_rows_per_second: 50000\n"
                              "  max_bytes_per_second: 16MB\n"
                              "  chunk_time: 2s\n"
                              "  recheck_timeout: 2min\n"
                              "  pass_interval: 1h\n");
  CHECK(config.verify.max_rows_per_second == 50'000);
  CHECK(config.verify.max_bytes_per_second == (16ull << 20));
  CHECK(config.verify.chunk_time == 2s);
  CHECK(config.verify.recheck_timeout == 2min);
  CHECK(config.verify.pass_interval == 1h);
}

TEST_CASE("A partly filled verify section keeps the defaults of its other keys", "[config]") {
  const Config config = parse(kMinimal + "verify:\n  chunk_time: 250ms\n");
  CHECK(config.verify.chunk_time == 250ms);
  CHECK(config.verify.max_bytes_per_second == (8ull << 20));
  CHECK(config.verify.max_rows_per_second == 0);
  CHECK(config.verify.recheck_timeout == 30s);
  CHECK(config.verify.pass_interval == 60s);
}

TEST_CASE("verify rate limits of 0 mean no limit", "[config]") {
  // 0 switches the byte limit off, which is not the same as a missing key
  // (that keeps the 64MB default).
  const Config config =
      parse(kMinimal + "verify:\n  max_bytes_per_second: 0\n  max_rows_per_second: 0\n");
  CHECK(config.verify.max_bytes_per_second == 0);
  CHECK(config.verify.max_rows_per_second == 0);
}

TEST_CASE("verify rate limits accept plain numbers and sizes", "[config]") {
  CHECK(parse(kMinimal + "verify:\n  max_bytes_per_second: 1GB\n").verify.max_bytes_per_second ==
        (1ull << 30));
  CHECK(parse(kMinimal + "verify:\n  max_bytes_per_second: 4096\n").verify.max_bytes_per_second ==
        4096);
  CHECK(parse(kMinimal + "verify:\n  max_rows_per_second: 1\n").verify.max_rows_per_second == 1);
}

TEST_CASE("Bad verify values are rejected with their key and line", "[config][bad-input]") {
  SECTION("max_rows_per_second not a whole number") {
    const std::string value = GENERATE("lots", "-5", "2.5", "[1000]", "99999999999999999999", "1k");
    require_rejected(kMinimal + "verify:\n  max_rows_per_second: " + value + "\n",
                     {"test.yaml:8:", "verify.max_rows_per_second"});
  }
  SECTION("max_bytes_per_second not a size") {
    const std::string value = GENERATE("-1", "-1MB", "big", "16 MiB", "1.5GB", "{a: 1}");
    require_rejected(kMinimal + "verify:\n  max_bytes_per_second: " + value + "\n",
                     {"test.yaml:8:", "verify.max_bytes_per_second"});
  }
  SECTION("durations that do not parse or are not positive") {
    const std::string key = GENERATE("chunk_time", "recheck_timeout", "pass_interval");
    const std::string value = GENERATE("soon", "0s", "0", "-5s", "1.5s", "10 sec", "[1s]");
    require_rejected(kMinimal + "verify:\n  " + key + ": " + value + "\n",
                     {"test.yaml:8:", "verify." + key});
  }
  SECTION("a key left empty") {
    require_rejected(kMinimal + "verify:\n  chunk_time:\n  pass_interval: 1s\n",
                     {"test.yaml:", "verify.chunk_time"});
  }
}

TEST_CASE("Unknown and repeated verify keys are rejected with their line", "[config][bad-input]") {
  SECTION("a misspelt key") {
    require_rejected(kMinimal + "verify:\n  chunk_time: 1s\n  max_row_per_second: 10\n",
                     {"test.yaml:9:", "verify.max_row_per_second", "unknown"});
  }
  SECTION("a key of another section") {
    require_rejected(kMinimal + "verify:\n  workers: 4\n", {"test.yaml:8:", "verify.workers"});
  }
  SECTION("a key given twice") {
    require_rejected(kMinimal + "verify:\n  chunk_time: 1s\n  chunk_time: 2s\n",
                     {"test.yaml:9:", "verify.chunk_time"});
  }
  SECTION("verify not a mapping") {
    require_rejected(kMinimal + "verify: fast\n", {"test.yaml:7:", "verify"});
    require_rejected(kMinimal + "verify:\n  - chunk_time: 1s\n", {"test.yaml:", "verify"});
  }
}

// ---- router and cutover (issue 4) -------------------------------------------

TEST_CASE("Without a router section the router is none and cutover keeps its defaults",
          "[config]") {
  const Config config = parse(kMinimal);
  CHECK(config.router.kind == RouterKind::kNone);
  CHECK(config.cutover.freeze_budget == 2s);
  CHECK(config.cutover.max_lag_bytes == 16ull << 20);
  CHECK(config.cutover.max_transaction_age == 30s);
  CHECK(config.cutover.sequence_margin == 1000);
}

TEST_CASE("A pgbouncer router reads its four keys and optional entries", "[config]") {
  const Config config = parse(kMinimal +
                              "router:\n"
                              "  kind: pgbouncer\n"
                              "  admin_conninfo: host=127.0.0.1 port=6432 dbname=pgbouncer\n"
                              "  database: app\n"
                              "  databases_file: /etc/pgbouncer/switchyard.ini\n"
                              "  target_entry: host=10.0.0.9 port=5432 dbname=app\n"
                              "cutover:\n"
                              "  freeze_budget: 800ms\n"
                              "  max_lag: 1MB\n"
                              "  max_transaction_age: 5s\n"
                              "  sequence_margin: 0\n");
  CHECK(config.router.kind == RouterKind::kPgbouncer);
  CHECK(config.router.admin_conninfo == "host=127.0.0.1 port=6432 dbname=pgbouncer");
  CHECK(config.router.database == "app");
  CHECK(config.router.databases_file == "/etc/pgbouncer/switchyard.ini");
  CHECK(config.router.source_entry.empty());  // derived from source.conninfo later
  CHECK(config.router.target_entry == "host=10.0.0.9 port=5432 dbname=app");
  CHECK(config.cutover.freeze_budget == 800ms);
  CHECK(config.cutover.max_lag_bytes == 1u << 20);
  CHECK(config.cutover.max_transaction_age == 5s);
  CHECK(config.cutover.sequence_margin == 0);
}

TEST_CASE("A command router reads its three commands and timeout", "[config]") {
  const Config config = parse(kMinimal +
                              "router:\n"
                              "  kind: command\n"
                              "  freeze: ./lb drain\n"
                              "  switch: ./dns point-at\n"
                              "  resume: ./lb open\n"
                              "  command_timeout: 2s\n");
  CHECK(config.router.kind == RouterKind::kCommand);
  CHECK(config.router.freeze_command == "./lb drain");
  CHECK(config.router.switch_command == "./dns point-at");
  CHECK(config.router.resume_command == "./lb open");
  CHECK(config.router.command_timeout == 2s);
  CHECK(config.router.check_command.empty());  // optional
}

TEST_CASE("A command router reads its optional check command", "[config]") {
  const Config config = parse(kMinimal +
                              "router:\n"
                              "  kind: command\n"
                              "  freeze: ./lb drain\n"
                              "  switch: ./dns point-at\n"
                              "  check: ./dns resolves-to\n"
                              "  resume: ./lb open\n");
  CHECK(config.router.check_command == "./dns resolves-to");
  CHECK(config.reversed().router.check_command == "./dns resolves-to");
}

TEST_CASE("A router section that cannot work is rejected naming the key", "[config][bad-input]") {
  SECTION("no kind") {
    require_rejected(kMinimal + "router:\n  database: app\n", {"test.yaml:8:", "router.kind"});
  }
  SECTION("an unknown kind") {
    require_rejected(kMinimal + "router:\n  kind: haproxy\n",
                     {"test.yaml:8:", "router.kind", "haproxy"});
  }
  SECTION("pgbouncer without its databases file") {
    require_rejected(
        kMinimal + "router:\n  kind: pgbouncer\n  admin_conninfo: host=a\n  database: app\n",
        {"router.databases_file", "missing", "kind: pgbouncer"});
  }
  SECTION("a key of another kind") {
    require_rejected(kMinimal + "router:\n  kind: none\n  freeze: ./x\n",
                     {"test.yaml:9:", "router.freeze", "kind: command only"});
  }
  SECTION("a check command for another kind") {
    require_rejected(kMinimal +
                         "router:\n  kind: pgbouncer\n  admin_conninfo: host=a\n"
                         "  database: app\n  databases_file: /f\n  check: ./x\n",
                     {"test.yaml:12:", "router.check", "kind: command only"});
  }
  SECTION("an empty check command") {
    require_rejected(kMinimal +
                         "router:\n  kind: command\n  freeze: a\n  switch: b\n"
                         "  resume: c\n  check: ''\n",
                     {"test.yaml:12:", "router.check", "empty"});
  }
  SECTION("a check command that is not a string") {
    require_rejected(kMinimal +
                         "router:\n  kind: command\n  freeze: a\n  switch: b\n"
                         "  resume: c\n  check: [a, b]\n",
                     {"test.yaml:12:", "router.check"});
  }
  SECTION("an empty command") {
    require_rejected(
        kMinimal + "router:\n  kind: command\n  freeze: ''\n  switch: a\n  resume: b\n",
        {"test.yaml:9:", "router.freeze", "empty"});
  }
  SECTION("a cutover key misspelt") {
    require_rejected(kMinimal + "cutover:\n  freeze_budge: 1s\n",
                     {"test.yaml:8:", "cutover.freeze_budge"});
  }
  SECTION("a negative sequence margin") {
    require_rejected(kMinimal + "cutover:\n  sequence_margin: -5\n",
                     {"test.yaml:8:", "cutover.sequence_margin"});
  }
}

// ---- Config::reversed() (the reverse stream after a cutover) ----------------

TEST_CASE("reversed() swaps the source and target endpoints", "[config][reversed]") {
  const Config config = parse(kFull);
  const Config reversed = config.reversed();
  CHECK(reversed.source.driver == "postgres");
  CHECK(reversed.source.conninfo == "postgresql://app@dst.example:6432/app?sslmode=require");
  CHECK(reversed.target.driver == "postgres");
  CHECK(reversed.target.conninfo == "host=src.example port=5432 dbname=app user=repl");
  // It is a copy: the original keeps its direction.
  CHECK(config.source.conninfo == "host=src.example port=5432 dbname=app user=repl");
  CHECK(config.target.conninfo == "postgresql://app@dst.example:6432/app?sslmode=require");
}

TEST_CASE("reversed() twice gives back the original endpoints", "[config][reversed]") {
  const Config config = parse(kFull);
  const Config twice = config.reversed().reversed();
  CHECK(twice.source.conninfo == config.source.conninfo);
  CHECK(twice.target.conninfo == config.target.conninfo);
  CHECK(twice.source.driver == config.source.driver);
  CHECK(twice.target.driver == config.target.driver);
}

TEST_CASE("reversed() keeps the name, so the slot, publication and origin names",
          "[config][reversed]") {
  const Config reversed = parse(kFull).reversed();
  CHECK(reversed.name == "nightly_move");
  CHECK(reversed.slot_name() == "nightly_move");
  CHECK(reversed.publication_name() == "nightly_move");
  CHECK(reversed.origin_name() == "nightly_move");
  CHECK(reversed.path == kOrigin);
}

TEST_CASE("reversed() keeps every section other than the endpoints", "[config][reversed]") {
  const Config config = parse(kFull +
                              "verify:\n"
                              "  max_rows_per_second: 50000\n"
                              "  max_bytes_per_second: 16MB\n"
                              "  chunk_time: 2s\n"
                              "  recheck_timeout: 2min\n"
                              "  pass_interval: 1h\n"
                              "router:\n"
                              "  kind: pgbouncer\n"
                              "  admin_conninfo: host=127.0.0.1 port=6432 dbname=pgbouncer\n"
                              "  database: app\n"
                              "  databases_file: /etc/pgbouncer/switchyard.ini\n"
                              "  source_entry: host=10.0.0.5 port=5432 dbname=app\n"
                              "  target_entry: host=10.0.0.9 port=5432 dbname=app\n"
                              "cutover:\n"
                              "  freeze_budget: 800ms\n"
                              "  max_lag: 1MB\n"
                              "  max_transaction_age: 5s\n"
                              "  sequence_margin: 7\n");
  const Config reversed = config.reversed();

  CHECK(reversed.tables.include == std::vector<std::string>{"public.*", "Sales.Order?"});
  CHECK(reversed.tables.exclude == std::vector<std::string>{"public.tmp_*"});

  CHECK(reversed.snapshot.workers == 8);
  CHECK(reversed.snapshot.split_tables_larger_than == (1ull << 30));

  CHECK(reversed.apply.batch_transactions == 500);
  CHECK(reversed.apply.batch_bytes == (32ull << 20));
  CHECK(reversed.apply.pipeline_bytes == (256ull << 10));

  CHECK(reversed.stream.status_interval == 5s);
  CHECK(reversed.stream.feedback_interval == 250ms);
  CHECK(reversed.stream.reconnect_max == 2min);

  CHECK(reversed.verify.max_rows_per_second == 50'000);
  CHECK(reversed.verify.max_bytes_per_second == (16ull << 20));
  CHECK(reversed.verify.chunk_time == 2s);
  CHECK(reversed.verify.recheck_timeout == 2min);
  CHECK(reversed.verify.pass_interval == 1h);

  // The router describes the applications' side, which does not turn round:
  // its source and target entries still name the original servers.
  CHECK(reversed.router.kind == RouterKind::kPgbouncer);
  CHECK(reversed.router.admin_conninfo == "host=127.0.0.1 port=6432 dbname=pgbouncer");
  CHECK(reversed.router.database == "app");
  CHECK(reversed.router.databases_file == "/etc/pgbouncer/switchyard.ini");
  CHECK(reversed.router.source_entry == "host=10.0.0.5 port=5432 dbname=app");
  CHECK(reversed.router.target_entry == "host=10.0.0.9 port=5432 dbname=app");

  CHECK(reversed.cutover.freeze_budget == 800ms);
  CHECK(reversed.cutover.max_lag_bytes == 1u << 20);
  CHECK(reversed.cutover.max_transaction_age == 5s);
  CHECK(reversed.cutover.sequence_margin == 7);

  CHECK(reversed.log_level == "debug");
}

TEST_CASE("reversed() keeps the command router's commands and timeout", "[config][reversed]") {
  const Config reversed = parse(kMinimal +
                                "router:\n"
                                "  kind: command\n"
                                "  freeze: ./lb drain\n"
                                "  switch: ./dns point-at\n"
                                "  resume: ./lb open\n"
                                "  command_timeout: 2s\n")
                              .reversed();
  CHECK(reversed.source.conninfo == "host=dst dbname=app");
  CHECK(reversed.target.conninfo == "host=src dbname=app");
  CHECK(reversed.router.kind == RouterKind::kCommand);
  CHECK(reversed.router.freeze_command == "./lb drain");
  CHECK(reversed.router.switch_command == "./dns point-at");
  CHECK(reversed.router.resume_command == "./lb open");
  CHECK(reversed.router.command_timeout == 2s);
}

TEST_CASE("The databases are called source and target unless named", "[config]") {
  const Config plain = parse_config(kMinimal, kOrigin);
  CHECK(plain.source.name == "source");
  CHECK(plain.target.name == "target");
  const Config named = parse_config(
      "source:\n  name: legacy\n  driver: postgres\n  conninfo: host=a\n"
      "target:\n  name: cloud\n  driver: postgres\n  conninfo: host=b\n",
      kOrigin);
  CHECK(named.source.name == "legacy");
  CHECK(named.target.name == "cloud");
  // The names stay with the databases when the stream turns round.
  CHECK(named.reversed().source.name == "cloud");
  CHECK(named.reversed().source.conninfo == "host=b");
}

TEST_CASE("A database name must be one plain word, and the two must differ",
          "[config][bad-input]") {
  const std::string name = GENERATE("Legacy", "old primary", "\"\"", "x;y");
  require_rejected("source:\n  name: " + name +
                       "\n  driver: postgres\n  conninfo: host=a\n"
                       "target:\n  driver: postgres\n  conninfo: host=b\n",
                   {"test.yaml:2:", "source.name"});
  require_rejected(
      "source:\n  name: db\n  driver: postgres\n  conninfo: host=a\n"
      "target:\n  name: db\n  driver: postgres\n  conninfo: host=b\n",
      {"target.name", "the same as source.name"});
}

TEST_CASE("serve listens on loopback unless service.listen says otherwise", "[config]") {
  CHECK(parse_config(kMinimal, "test.yaml").service.host == "127.0.0.1");
  CHECK(parse_config(kMinimal, "test.yaml").service.port == 8474);
  const Config config = parse_config(
      kMinimal + "service:\n  listen: \"0.0.0.0:9000\"\n  tokens_file: /etc/sy/tokens\n", "t");
  CHECK(config.service.host == "0.0.0.0");
  CHECK(config.service.port == 9000);
  CHECK(parse_config(kMinimal + "service: { listen: \"[::1]:80\" }\n", "t").service.host == "::1");
  const std::string bad = GENERATE("8474", "localhost:", "host:99999", ":80", "a b:1");
  require_rejected(kMinimal + "service:\n  listen: \"" + bad + "\"\n",
                   {"service.listen", "must be host:port"});
  require_rejected(kMinimal + "service:\n  port: 1\n", {"service", "port"});
}

TEST_CASE("serve on an address other than loopback needs tokens or open reads", "[config]") {
  CHECK(parse_config(kMinimal + "service: { listen: \"127.0.0.2:80\" }\n", "t").service.loopback());
  CHECK(parse_config(kMinimal + "service: { listen: \"localhost:80\" }\n", "t").service.loopback());
  require_rejected(kMinimal + "service: { listen: \"10.0.0.5:8474\" }\n",
                   {"service.listen", "10.0.0.5 is not a loopback address", "tokens_file"});
  const Config open =
      parse_config(kMinimal + "service: { listen: \"10.0.0.5:8474\", open_reads: true }\n", "t");
  CHECK(open.service.open_reads);
  CHECK_FALSE(open.service.loopback());
  require_rejected(kMinimal + "service: { open_reads: maybe }\n",
                   {"service.open_reads", "true or false"});
}
