// cutover routers without a database: the pgbouncer router's entries and
// databases file (its constructor does not connect), and the command router
// running real /bin/sh commands in a temporary directory.

#include <catch2/catch.hpp>

#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "common/config.h"
#include "common/error.h"
#include "cutover/command_router.h"
#include "cutover/pgbouncer_router.h"
#include "cutover/router.h"
#include "error_matchers.h"

using namespace std::chrono_literals;
using namespace switchyard;
using namespace switchyard::cutover;
using switchyard::test::IsError;

namespace {

// A fresh directory under /tmp, removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/switchyard-router-test.XXXXXX";
    const char* made = ::mkdtemp(pattern);
    REQUIRE(made != nullptr);
    path_ = made;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // The path of `name` inside the directory.
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The whole content of a file, or nullopt if it does not exist.
std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The same, with a missing file shown as such in a failed check.
std::string contents(const std::string& path) {
  return read_text(path).value_or("<no such file>");
}

// 'text' for /bin/sh (the temporary paths hold no quote, but be safe).
std::string sh_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

constexpr const char* kSourceConninfo =
    "host=10.0.0.5 port=5433 dbname=app user=alice password=secret";
constexpr const char* kTargetConninfo =
    "host=10.0.0.9 port=5432 dbname=app user=bob password=hunter2 sslmode=require";
constexpr const char* kAdminConninfo =
    "host=127.0.0.1 port=6432 dbname=pgbouncer user=admin password=adminsecret";

Config pgbouncer_config(const std::string& databases_file = "/etc/pgbouncer/switchyard.ini") {
  Config config;
  config.source = {"source", "postgres", kSourceConninfo, {}, {}};
  config.target = {"target", "postgres", kTargetConninfo, {}, {}};
  config.router.kind = RouterKind::kPgbouncer;
  config.router.admin_conninfo = kAdminConninfo;
  config.router.database = "app";
  config.router.databases_file = databases_file;
  return config;
}

void require_no_secret(const std::string& text) {
  CAPTURE(text);
  CHECK(text.find("secret") == std::string::npos);
  CHECK(text.find("hunter2") == std::string::npos);
  CHECK(text.find("password") == std::string::npos);
  CHECK(text.find("user=") == std::string::npos);
}

// A command router whose commands write into `dir`: freeze, switch (its
// SWITCHYARD_PRIMARY) and resume each leave a file.
RouterSettings command_settings(const TempDir& dir) {
  RouterSettings settings;
  settings.kind = RouterKind::kCommand;
  settings.freeze_command = "echo frozen > " + sh_quote(dir.file("freeze"));
  settings.switch_command = "echo \"$SWITCHYARD_PRIMARY\" > " + sh_quote(dir.file("switch"));
  settings.resume_command = "echo resumed > " + sh_quote(dir.file("resume"));
  return settings;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

// ---- router kinds -----------------------------------------------------------

TEST_CASE("Primaries are named source and target", "[router]") {
  CHECK(std::string(to_string(Primary::kSource)) == "source");
  CHECK(std::string(to_string(Primary::kTarget)) == "target");
}

TEST_CASE("make_router builds the router router.kind names", "[router]") {
  SECTION("none") {
    Config config = pgbouncer_config();
    config.router.kind = RouterKind::kNone;
    const auto router = make_router(config);
    CHECK(dynamic_cast<PgbouncerRouter*>(router.get()) == nullptr);
    CHECK(dynamic_cast<CommandRouter*>(router.get()) == nullptr);
    CHECK(router->describe() == "no router (the fence alone freezes writes)");
    // Every call is a no-op that cannot fail.
    CHECK_NOTHROW(router->check(Primary::kSource));
    CHECK_NOTHROW(router->freeze(Clock::now()));
    CHECK_NOTHROW(router->switch_to(Primary::kTarget, Clock::now()));
    CHECK_NOTHROW(router->switch_back(Primary::kSource, Clock::now()));
    CHECK_NOTHROW(router->resume(Clock::now()));
  }
  SECTION("pgbouncer") {
    const auto router = make_router(pgbouncer_config());
    CHECK(dynamic_cast<PgbouncerRouter*>(router.get()) != nullptr);
  }
  SECTION("command") {
    Config config;
    config.router.kind = RouterKind::kCommand;
    config.router.freeze_command = "true";
    config.router.switch_command = "true";
    config.router.resume_command = "true";
    const auto router = make_router(config);
    CHECK(dynamic_cast<CommandRouter*>(router.get()) != nullptr);
    CHECK(router->describe() == "router commands (router.kind: command)");
  }
}

// ---- pgbouncer --------------------------------------------------------------

TEST_CASE("The pgbouncer entry is derived from the conninfo: host, port and dbname only",
          "[router][pgbouncer]") {
  const PgbouncerRouter router(pgbouncer_config());
  CHECK(router.entry_for(Primary::kSource) == "host=10.0.0.5 port=5433 dbname=app");
  CHECK(router.entry_for(Primary::kTarget) == "host=10.0.0.9 port=5432 dbname=app");
  require_no_secret(router.entry_for(Primary::kSource));
  require_no_secret(router.entry_for(Primary::kTarget));
}

TEST_CASE("The pgbouncer entry is derived from a URI or a hostaddr conninfo as well",
          "[router][pgbouncer]") {
  Config config = pgbouncer_config();
  config.source.conninfo = "postgresql://alice:secret@db-a.example:6543/app?sslmode=require";
  config.target.conninfo = "hostaddr=10.1.1.1 dbname=app_new password=secret user=carol";
  const PgbouncerRouter router(config);
  CHECK(router.entry_for(Primary::kSource) == "host=db-a.example port=6543 dbname=app");
  CHECK(router.entry_for(Primary::kTarget) == "hostaddr=10.1.1.1 dbname=app_new");
}

TEST_CASE("router.source_entry and target_entry are used verbatim", "[router][pgbouncer]") {
  Config config = pgbouncer_config();
  config.router.source_entry = "host=pg-old.internal port=6000 dbname=app_v1 pool_size=20";
  config.router.target_entry = "host=/var/run/postgresql dbname=app";
  const PgbouncerRouter router(config);
  CHECK(router.entry_for(Primary::kSource) ==
        "host=pg-old.internal port=6000 dbname=app_v1 pool_size=20");
  CHECK(router.entry_for(Primary::kTarget) == "host=/var/run/postgresql dbname=app");
}

TEST_CASE("Only the entry that is set is overridden; the other is still derived",
          "[router][pgbouncer]") {
  Config config = pgbouncer_config();
  config.router.target_entry = "host=10.0.0.42 dbname=app";
  const PgbouncerRouter router(config);
  CHECK(router.entry_for(Primary::kSource) == "host=10.0.0.5 port=5433 dbname=app");
  CHECK(router.entry_for(Primary::kTarget) == "host=10.0.0.42 dbname=app");
}

TEST_CASE("The databases file maps the database to the primary's entry, without credentials",
          "[router][pgbouncer]") {
  const PgbouncerRouter router(pgbouncer_config());
  const std::string target = router.file_text(Primary::kTarget);
  CHECK(target ==
        "; written by switchyard: the primary is the target\n"
        "app = host=10.0.0.9 port=5432 dbname=app\n");
  CHECK(target.find("\napp = " + router.entry_for(Primary::kTarget) + "\n") != std::string::npos);
  require_no_secret(target);

  const std::string source = router.file_text(Primary::kSource);
  CHECK(source ==
        "; written by switchyard: the primary is the source\n"
        "app = host=10.0.0.5 port=5433 dbname=app\n");
  require_no_secret(source);
}

TEST_CASE("The pgbouncer description names the database and file, never a password",
          "[router][pgbouncer]") {
  const PgbouncerRouter router(pgbouncer_config("/srv/pgb/switchyard.ini"));
  const std::string described = router.describe();
  CHECK(described ==
        "pgbouncer database app (host=127.0.0.1 port=6432 dbname=pgbouncer user=admin, "
        "entries in /srv/pgb/switchyard.ini)");
  CHECK(described.find("adminsecret") == std::string::npos);
}

TEST_CASE("A database name the admin console cannot take bare is rejected",
          "[router][pgbouncer][bad-input]") {
  const std::string name = GENERATE(as<std::string>{}, "my app", "a;b", "app'", "app\"",
                                    "app\nother", "app=x", "caf\xC3\xA9");
  CAPTURE(name);
  Config config = pgbouncer_config();
  config.router.database = name;
  REQUIRE_THROWS_MATCHES(PgbouncerRouter(config), Error,
                         IsError(ErrorKind::kUsage, {"router.database"}));
}

TEST_CASE("Plain database names with letters, digits, _ and - are accepted",
          "[router][pgbouncer]") {
  const std::string name = GENERATE(as<std::string>{}, "app", "App_2", "billing-db", "9");
  CAPTURE(name);
  Config config = pgbouncer_config();
  config.router.database = name;
  const PgbouncerRouter router(config);
  CHECK(router.file_text(Primary::kSource).find("\n" + name + " = host=10.0.0.5 ") !=
        std::string::npos);
}

TEST_CASE("switch_to replaces the databases file before it asks pgbouncer to reload",
          "[router][pgbouncer]") {
  TempDir dir;
  const std::string file = dir.file("switchyard.ini");
  { std::ofstream(file) << "; the source\napp = host=old\n"; }
  Config config = pgbouncer_config(file);
  // An admin console that cannot be reached: a Unix socket directory with
  // no socket in it, so the connection fails at once, without a network.
  config.router.admin_conninfo = "host=" + dir.path() + " port=1 dbname=pgbouncer";
  PgbouncerRouter router(config);
  CHECK_THROWS_AS(router.switch_to(Primary::kTarget, Clock::now() + 2s), Error);
  const auto written = read_text(file);
  REQUIRE(written.has_value());
  CHECK(*written == router.file_text(Primary::kTarget));
  // Written beside and renamed over: no temporary file is left.
  CHECK_FALSE(std::filesystem::exists(file + ".switchyard-new"));
}

// Sets the process umask for one scope.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }
  ScopedUmask(const ScopedUmask&) = delete;
  ScopedUmask& operator=(const ScopedUmask&) = delete;

 private:
  mode_t old_;
};

mode_t file_mode(const std::string& path) {
  struct stat status {};
  REQUIRE(::stat(path.c_str(), &status) == 0);
  return status.st_mode & 07777;
}

TEST_CASE("switch_to keeps the databases file's mode, whatever switchyard's umask",
          "[router][pgbouncer]") {
  // pgbouncer often runs as another user than switchyard: a rewritten file
  // that only switchyard may read makes its RELOAD fail.
  TempDir dir;
  const std::string file = dir.file("switchyard.ini");
  { std::ofstream(file) << "app = host=old\n"; }
  REQUIRE(::chmod(file.c_str(), 0644) == 0);
  Config config = pgbouncer_config(file);
  config.router.admin_conninfo = "host=" + dir.path() + " port=1 dbname=pgbouncer";
  PgbouncerRouter router(config);
  {
    ScopedUmask restrictive(077);
    CHECK_THROWS_AS(router.switch_to(Primary::kTarget, Clock::now() + 2s), Error);
  }
  CHECK(contents(file) == router.file_text(Primary::kTarget));
  CHECK(file_mode(file) == 0644);
}

TEST_CASE("switch_back restores the databases file as it was before switch_to",
          "[router][pgbouncer]") {
  TempDir dir;
  const std::string file = dir.file("switchyard.ini");
  // An operator's entry with settings of its own: a rollback puts back
  // exactly this, not an entry derived from the conninfo.
  const std::string before =
      "; the legacy\napp = host=10.0.0.5 port=5433 dbname=app pool_size=50\n";
  { std::ofstream(file) << before; }
  Config config = pgbouncer_config(file);
  config.router.admin_conninfo = "host=" + dir.path() + " port=1 dbname=pgbouncer";
  PgbouncerRouter router(config);
  CHECK_THROWS_AS(router.switch_to(Primary::kTarget, Clock::now() + 2s), Error);
  REQUIRE(contents(file) == router.file_text(Primary::kTarget));
  // Neither a second switch_to nor the rollback forgets the original.
  CHECK_THROWS_AS(router.switch_to(Primary::kTarget, Clock::now() + 2s), Error);
  CHECK_THROWS_AS(router.switch_back(Primary::kSource, Clock::now() + 2s), Error);
  CHECK(contents(file) == before);
  CHECK_FALSE(std::filesystem::exists(file + ".switchyard-new"));

  SECTION("a router that did not switch (a later run, recovering) writes the derived entry") {
    PgbouncerRouter recovering(config);
    { std::ofstream(file) << recovering.file_text(Primary::kTarget); }
    CHECK_THROWS_AS(recovering.switch_back(Primary::kSource, Clock::now() + 2s), Error);
    CHECK(contents(file) == recovering.file_text(Primary::kSource));
  }
}

TEST_CASE("The preflight of a pgbouncer router refuses when its admin console is unreachable",
          "[router][pgbouncer]") {
  TempDir dir;
  const std::string file = dir.file("switchyard.ini");
  { std::ofstream(file) << "app = host=old\n"; }
  Config config = pgbouncer_config(file);
  config.router.admin_conninfo = "host=" + dir.path() + " port=1 dbname=pgbouncer";
  PgbouncerRouter router(config);
  REQUIRE_THROWS_MATCHES(router.check(Primary::kSource), Error,
                         IsError(ErrorKind::kPrecondition, {"router unreachable"}));
  // Nothing was written: the probe comes after the console answered.
  CHECK(contents(file) == "app = host=old\n");
}

// ---- commands ---------------------------------------------------------------

TEST_CASE("router.check runs after router.switch, with SWITCHYARD_PRIMARY", "[router][command]") {
  TempDir dir;
  RouterSettings settings = command_settings(dir);
  const std::string log = sh_quote(dir.file("log"));
  settings.switch_command = "echo \"switch $SWITCHYARD_PRIMARY\" >> " + log;
  settings.check_command = "echo \"check $SWITCHYARD_PRIMARY\" >> " + log;
  CommandRouter router(settings);
  router.switch_to(Primary::kTarget, Clock::now() + 5s);
  CHECK(contents(dir.file("log")) == "switch target\ncheck target\n");
  router.switch_back(Primary::kSource, Clock::now() + 5s);
  CHECK(contents(dir.file("log")) == "switch target\ncheck target\nswitch source\ncheck source\n");
}

TEST_CASE("A failing router.check fails the switch, naming the key, status and last line",
          "[router][command]") {
  TempDir dir;
  RouterSettings settings = command_settings(dir);
  settings.check_command = "[ \"$SWITCHYARD_PRIMARY\" = \"$(cat " + sh_quote(dir.file("switch")) +
                           ")\" ] || { echo \"load balancer still sends to the source\"; exit 2; }";
  SECTION("the switch took: proven") {
    CommandRouter router(settings);
    CHECK_NOTHROW(router.switch_to(Primary::kTarget, Clock::now() + 5s));
  }
  SECTION("the switch did not take") {
    settings.switch_command = "true";
    { std::ofstream(dir.file("switch")) << "source\n"; }
    CommandRouter router(settings);
    try {
      router.switch_to(Primary::kTarget, Clock::now() + 5s);
      FAIL("switch_to did not throw");
    } catch (const Error& error) {
      CHECK(error.kind() == ErrorKind::kPrecondition);
      CHECK(std::string(error.what()) ==
            "router.check exited with status 2: load balancer still sends to the source");
    }
    // The check does not undo anything itself: rolling back is the caller's.
    CHECK_FALSE(read_text(dir.file("resume")).has_value());
  }
}

TEST_CASE("router.check is bounded by router.command_timeout", "[router][command]") {
  TempDir dir;
  RouterSettings settings = command_settings(dir);
  settings.check_command = "sleep 5";
  settings.command_timeout = 200ms;
  CommandRouter router(settings);
  const auto start = Clock::now();
  REQUIRE_THROWS_MATCHES(router.switch_to(Primary::kTarget, start + 60s), Error,
                         IsError(ErrorKind::kTimeout, {"router.check", "in time"}));
  CHECK(seconds_since(start) < 3.0);
}

TEST_CASE("The preflight runs router.check for the current primary and refuses when it fails",
          "[router][command]") {
  TempDir dir;
  RouterSettings settings = command_settings(dir);
  settings.check_command =
      "echo \"$SWITCHYARD_PRIMARY\" > " + sh_quote(dir.file("checked")) +
      "; [ \"$SWITCHYARD_PRIMARY\" = source ] || { echo 'not there'; exit 1; }";
  CommandRouter router(settings);
  CHECK_NOTHROW(router.check(Primary::kSource));
  CHECK(contents(dir.file("checked")) == "source\n");
  REQUIRE_THROWS_MATCHES(
      router.check(Primary::kTarget), Error,
      IsError(ErrorKind::kPrecondition, {"router.check", "status 1", "not there", "target"}));
  // Only the check ran: nothing was frozen, switched or resumed.
  CHECK_FALSE(read_text(dir.file("freeze")).has_value());
  CHECK_FALSE(read_text(dir.file("switch")).has_value());
  CHECK_FALSE(read_text(dir.file("resume")).has_value());
}

TEST_CASE("The command router runs the freeze, switch and resume commands", "[router][command]") {
  TempDir dir;
  CommandRouter router(command_settings(dir));
  CHECK_NOTHROW(router.check(Primary::kSource));

  router.freeze(Clock::now() + 5s);
  CHECK(contents(dir.file("freeze")) == "frozen\n");
  CHECK_FALSE(read_text(dir.file("switch")).has_value());
  CHECK_FALSE(read_text(dir.file("resume")).has_value());

  router.switch_to(Primary::kTarget, Clock::now() + 5s);
  CHECK(contents(dir.file("switch")) == "target\n");

  router.resume(Clock::now() + 5s);
  CHECK(contents(dir.file("resume")) == "resumed\n");
}

TEST_CASE("The switch command sees SWITCHYARD_PRIMARY; the others do not", "[router][command]") {
  TempDir dir;
  RouterSettings settings = command_settings(dir);
  settings.freeze_command =
      "echo \"${SWITCHYARD_PRIMARY-unset}\" > " + sh_quote(dir.file("freeze"));
  CommandRouter router(settings);

  router.switch_to(Primary::kSource, Clock::now() + 5s);
  CHECK(contents(dir.file("switch")) == "source\n");
  router.switch_to(Primary::kTarget, Clock::now() + 5s);
  CHECK(contents(dir.file("switch")) == "target\n");

  router.freeze(Clock::now() + 5s);
  CHECK(contents(dir.file("freeze")) == "unset\n");
}

TEST_CASE("A failing command's error names its key, its exit status and its last line",
          "[router][command]") {
  TempDir dir;
  RouterSettings settings = command_settings(dir);
  settings.switch_command = "echo starting; echo boom >&2; exit 3";
  CommandRouter router(settings);
  try {
    router.switch_to(Primary::kTarget, Clock::now() + 5s);
    FAIL("switch_to did not throw");
  } catch (const Error& error) {
    CHECK(error.kind() == ErrorKind::kPrecondition);
    CHECK(std::string(error.what()) == "router.switch exited with status 3: boom");
  }
}

TEST_CASE("A failing command that printed nothing is reported without a trailing colon",
          "[router][command]") {
  TempDir dir;
  RouterSettings settings = command_settings(dir);
  settings.resume_command = "exit 42";
  CommandRouter router(settings);
  REQUIRE_THROWS_MATCHES(router.resume(Clock::now() + 5s), Error,
                         IsError(ErrorKind::kPrecondition, {"router.resume"}));
  try {
    router.resume(Clock::now() + 5s);
  } catch (const Error& error) {
    CHECK(std::string(error.what()) == "router.resume exited with status 42");
  }
}

TEST_CASE("A freeze command that overruns the deadline is killed, resumed, and times out",
          "[router][command]") {
  TempDir dir;
  RouterSettings settings = command_settings(dir);
  settings.freeze_command = "sleep 5";
  CommandRouter router(settings);
  const auto start = Clock::now();
  REQUIRE_THROWS_MATCHES(router.freeze(start + 200ms), Error,
                         IsError(ErrorKind::kTimeout, {"router.freeze", "in time"}));
  const double elapsed = seconds_since(start);
  CHECK(elapsed < 3.0);
  CHECK(elapsed >= 0.2);
  // All or nothing: what the freeze may have done is undone.
  CHECK(contents(dir.file("resume")) == "resumed\n");
}

TEST_CASE("router.command_timeout bounds a command even when the deadline is far away",
          "[router][command]") {
  TempDir dir;
  RouterSettings settings = command_settings(dir);
  settings.switch_command = "sleep 5";
  settings.command_timeout = 200ms;
  CommandRouter router(settings);
  const auto start = Clock::now();
  REQUIRE_THROWS_MATCHES(router.switch_to(Primary::kTarget, start + 60s), Error,
                         IsError(ErrorKind::kTimeout, {"router.switch"}));
  CHECK(seconds_since(start) < 3.0);
  // Only freeze resumes after itself.
  CHECK_FALSE(read_text(dir.file("resume")).has_value());
}

TEST_CASE("A freeze command that fails runs the resume command before the error surfaces",
          "[router][command]") {
  TempDir dir;
  RouterSettings settings = command_settings(dir);
  settings.freeze_command = "echo half-drained; exit 1";
  CommandRouter router(settings);
  REQUIRE_THROWS_MATCHES(
      router.freeze(Clock::now() + 5s), Error,
      IsError(ErrorKind::kPrecondition, {"router.freeze", "status 1", "half-drained"}));
  CHECK(contents(dir.file("resume")) == "resumed\n");
}

TEST_CASE("The freeze error is kept when the resume after it fails too", "[router][command]") {
  TempDir dir;
  RouterSettings settings = command_settings(dir);
  settings.freeze_command = "exit 7";
  settings.resume_command = "echo cannot-resume; exit 9";
  CommandRouter router(settings);
  REQUIRE_THROWS_MATCHES(router.freeze(Clock::now() + 5s), Error,
                         IsError(ErrorKind::kPrecondition, {"router.freeze", "status 7"}));
}

TEST_CASE("The command router's preflight needs all three commands", "[router][command]") {
  TempDir dir;
  RouterSettings settings = command_settings(dir);
  SECTION("all set") {
    CHECK_NOTHROW(CommandRouter(settings).check(Primary::kTarget));
  }
  SECTION("freeze_command empty") {
    settings.freeze_command.clear();
    REQUIRE_THROWS_MATCHES(CommandRouter(settings).check(Primary::kSource), Error,
                           IsError(ErrorKind::kPrecondition, {"router.freeze is empty"}));
  }
  SECTION("switch_command empty") {
    settings.switch_command.clear();
    REQUIRE_THROWS_MATCHES(CommandRouter(settings).check(Primary::kSource), Error,
                           IsError(ErrorKind::kPrecondition, {"router.switch is empty"}));
  }
  SECTION("resume_command empty") {
    settings.resume_command.clear();
    REQUIRE_THROWS_MATCHES(CommandRouter(settings).check(Primary::kSource), Error,
                           IsError(ErrorKind::kPrecondition, {"router.resume is empty"}));
  }
  // check() only looks at the settings: it runs nothing.
  CHECK_FALSE(read_text(dir.file("freeze")).has_value());
  CHECK_FALSE(read_text(dir.file("switch")).has_value());
  CHECK_FALSE(read_text(dir.file("resume")).has_value());
}
