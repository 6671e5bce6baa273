// switchyard-write-probe: measures how long writes stall while the primary
// behind a router (pgbouncer) changes. One connection, one INSERT every
// --interval-ms on a fixed schedule; every acknowledged insert is written to
// --out as "<id> <ack unix time in microseconds>"; at exit one JSON line on
// stdout: {"acked":N,"errors":N,"max_gap_ms":X,"max_gap_at":"<unix s.us>"}.
// A gap is the time between two successive acks, so a stall still open at
// exit is in none (bench/cutover_stall.sh reports it from the file). Errors
// are failed inserts and failed connection attempts, each counted and shown
// on stderr, one line each (a run of identical connection errors: the first
// and a count).
//
// libpq's asynchronous API is used throughout so that SIGINT/SIGTERM stops
// the probe promptly even while an insert or a connection attempt hangs
// (e.g. behind a paused pgbouncer): blocking libpq calls retry on EINTR.
#include <libpq-fe.h>
#include <poll.h>
#include <time.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <string>

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}

int64_t now_us(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1000000 + ts.tv_nsec / 1000;
}
int64_t wall_us() {
  return now_us(CLOCK_REALTIME);
}
int64_t mono_us() {
  return now_us(CLOCK_MONOTONIC);
}

std::string stamp(int64_t us) {  // "1700000000.123456"
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld.%06lld", static_cast<long long>(us / 1000000),
                static_cast<long long>(us % 1000000));
  return buf;
}

// One stderr line per error: libpq messages span lines (ERROR, DETAIL,
// LINE 1, tab-indented hints), so every run of whitespace becomes one space.
void report(const std::string& what, const char* message) {
  std::string text;
  for (const char* c = message ? message : ""; *c != '\0'; ++c) {
    const bool space = std::isspace(static_cast<unsigned char>(*c));
    if (!space) text += *c;
    else if (!text.empty() && text.back() != ' ') text += ' ';
  }
  if (!text.empty() && text.back() == ' ') text.pop_back();
  std::fprintf(stderr, "%s write-probe: %s: %s\n", stamp(wall_us()).c_str(), what.c_str(),
               text.c_str());
}

// Waits until the socket is readable (or writable), a signal arrives or
// 50 ms pass; the short timeout bounds the race between checking g_stop
// and entering poll().
void wait_socket(PGconn* conn, bool for_write) {
  pollfd pfd{PQsocket(conn), static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
  poll(&pfd, 1, 50);
}

// One connection attempt, driven by PQconnectPoll. No timeout: behind a
// paused pgbouncer a login may legitimately wait for the freeze to end.
PGconn* connect_once(const std::string& conninfo) {
  const char* keys[] = {"dbname", "application_name", nullptr};
  const char* values[] = {conninfo.c_str(), "write-probe", nullptr};
  PGconn* conn = PQconnectStartParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr) return nullptr;
  PostgresPollingStatusType state = PGRES_POLLING_WRITING;
  while (!g_stop && PQstatus(conn) != CONNECTION_BAD) {
    if (state == PGRES_POLLING_OK) return conn;
    if (state == PGRES_POLLING_FAILED) break;
    wait_socket(conn, state == PGRES_POLLING_WRITING);
    state = PQconnectPoll(conn);
  }
  return conn;  // bad or stopped: the caller checks PQstatus
}

// Connects, retrying every 5 ms until it works or the probe is stopped.
// Every failed attempt is an error; a run of identical failures is reported
// as its first line plus one summary line, not 200 lines a second.
PGconn* connect_retrying(const std::string& conninfo, long& errors) {
  std::string last;
  long repeats = 0;
  auto summarize = [&](const char* outcome) {
    if (repeats == 0) return;
    const std::string line =
        "the same error " + std::to_string(repeats) + " more times, " + outcome;
    report("connect", line.c_str());
    repeats = 0;
  };
  while (!g_stop) {
    PGconn* conn = connect_once(conninfo);
    if (conn != nullptr && PQstatus(conn) == CONNECTION_OK) {
      summarize("then connected");
      return conn;
    }
    const std::string message = conn ? PQerrorMessage(conn) : "out of memory";
    PQfinish(conn);
    if (g_stop) break;
    ++errors;
    if (message == last) {
      ++repeats;
    } else {
      summarize("then a different one");
      report("connect", message.c_str());
      last = message;
    }
    timespec pause{0, 5 * 1000 * 1000};
    nanosleep(&pause, nullptr);
  }
  summarize("then stopped");
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"switchyard-write-probe: measures write stalls during a cutover"};
  std::string conninfo, table, out_path;
  int interval_ms = 5;
  bool create = false;
  app.add_option("--conninfo", conninfo, "libpq connection string")->required();
  app.add_option("--table", table, "probe table (inserted verbatim into the SQL)")->required();
  app.add_option("--interval-ms", interval_ms, "time between inserts")
      ->capture_default_str()
      ->check(CLI::Range(1, 60000));
  app.add_option("--out", out_path, "file for '<id> <ack unix microseconds>' lines");
  app.add_flag("--create", create, "create the probe table and exit");
  CLI11_PARSE(app, argc, argv);

  if (create) {  // once, on the legacy primary, before replication starts
    PGconn* conn = PQconnectdb(conninfo.c_str());
    PGresult* res = nullptr;
    if (PQstatus(conn) == CONNECTION_OK) {
      res = PQexec(conn, ("CREATE TABLE IF NOT EXISTS " + table +
                          " (id bigserial PRIMARY KEY, sent_at timestamptz NOT NULL, note text)")
                             .c_str());
    }
    const bool ok = res != nullptr && PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) report("create", PQerrorMessage(conn));
    PQclear(res);
    PQfinish(conn);
    return ok ? 0 : 1;
  }

  std::FILE* out = nullptr;
  if (!out_path.empty() && (out = std::fopen(out_path.c_str(), "w")) == nullptr) {
    std::perror(("write-probe: cannot open " + out_path).c_str());
    return 1;
  }
  // No SA_RESTART: a signal interrupts poll()/nanosleep() at once.
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  // Unnamed statements (extended protocol, no PREPARE): with transaction
  // pooling consecutive inserts may run on different server connections.
  const std::string insert =
      "INSERT INTO " + table + " (sent_at, note) VALUES (now(), 'probe') RETURNING id";
  const int64_t interval = int64_t{interval_ms} * 1000;
  long acked = 0, errors = 0;
  int64_t last_ack = 0, max_gap = 0, max_gap_at = 0;
  PGconn* conn = connect_retrying(conninfo, errors);
  int64_t next = mono_us();

  while (!g_stop && conn != nullptr) {
    // Fixed schedule: sleep until the next slot. After a slow insert the
    // slot is already past: send at once and restart the schedule from now
    // (no burst of catch-up inserts after a freeze).
    const int64_t wait = next - mono_us();
    if (wait > 0) {
      timespec ts{static_cast<time_t>(wait / 1000000), static_cast<long>(wait % 1000000) * 1000};
      nanosleep(&ts, nullptr);  // EINTR on a signal: the loop re-checks g_stop
      if (g_stop) break;
    }
    next = std::max(next + interval, mono_us());

    // Send, then wait for the answer. Once stopped, an insert in flight gets
    // one more second to be acknowledged, then it is abandoned (not counted).
    bool ok = PQsendQueryParams(conn, insert.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0);
    int64_t give_up = INT64_MAX;
    while (ok && PQisBusy(conn)) {
      if (g_stop && give_up == INT64_MAX) give_up = mono_us() + 1000000;
      if (mono_us() > give_up) break;
      wait_socket(conn, false);
      ok = PQconsumeInput(conn);
    }
    if (ok && PQisBusy(conn)) break;  // stopped and abandoned

    std::string error = ok ? "" : PQerrorMessage(conn);
    long long id = -1;
    while (PGresult* res = ok ? PQgetResult(conn) : nullptr) {
      if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        id = std::stoll(PQgetvalue(res, 0, 0));
      } else if (error.empty()) {
        error = PQresultErrorMessage(res);
        if (error.empty()) error = std::string("unexpected ") + PQresStatus(PQresultStatus(res));
      }
      PQclear(res);
    }
    if (error.empty() && id < 0) error = "no result";

    if (!error.empty()) {  // count, report, start over on a fresh connection
      ++errors;
      report("insert", error.c_str());
      PQfinish(conn);
      conn = connect_retrying(conninfo, errors);
      next = mono_us();
      continue;
    }
    const int64_t ack = wall_us();
    ++acked;
    if (last_ack != 0 && ack - last_ack > max_gap) {
      max_gap = ack - last_ack;
      max_gap_at = ack;
    }
    last_ack = ack;
    if (out != nullptr) {
      // Flushed line by line: the file is read right after SIGTERM, and even
      // a SIGKILL loses nothing that was acknowledged.
      std::fprintf(out, "%lld %lld\n", id, static_cast<long long>(ack));
      std::fflush(out);
    }
  }

  PQfinish(conn);
  if (out != nullptr && std::fclose(out) != 0) {
    ++errors;
    report("write", ("cannot write " + out_path).c_str());
  }
  std::printf("{\"acked\":%ld,\"errors\":%ld,\"max_gap_ms\":%.3f,\"max_gap_at\":%s}\n", acked,
              errors, static_cast<double>(max_gap) / 1000.0,
              max_gap_at != 0 ? ("\"" + stamp(max_gap_at) + "\"").c_str() : "null");
  return 0;
}
