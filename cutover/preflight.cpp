#include "cutover/preflight.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "common/error.h"
#include "common/log.h"
#include "common/units.h"
#include "cutover/fence.h"
#include "cutover/schema_check.h"
#include "drivers/pg/sql.h"
#include "replicator/requirements.h"
#include "replicator/source_catalog.h"
#include "replicator/source_slot.h"

namespace switchyard::cutover {
namespace {

[[noreturn]] void refuse(const std::string& why) {
  throw Error(ErrorKind::kPrecondition, why);
}

// Runs one check into `checks`: `measure` fills in what it measured and
// calls refuse() to fail it. Returns whether it passed.
template <typename Measure>
bool check(std::vector<Check>& checks, std::string name, std::string threshold, Measure&& measure) {
  Check check;
  check.name = std::move(name);
  check.threshold = std::move(threshold);
  try {
    measure(check);
    check.passed = true;
  } catch (const Error& error) {
    if (error.kind() != ErrorKind::kPrecondition) throw;
    check.reason = error.what();
  }
  checks.push_back(std::move(check));
  return checks.back().passed;
}

// The slot, for the lag check; null when nothing streams from it.
std::optional<SlotInfo> check_stream_running(std::vector<Check>& checks, const Config& current,
                                             pg::Connection& from) {
  std::optional<SlotInfo> slot;
  check(checks, "stream", "a replicate streams from slot " + current.slot_name(), [&](Check& c) {
    slot = find_slot(from, current.slot_name());
    if (!slot) {
      c.measured = "no slot";
      refuse(from.role() + ": replication slot " + current.slot_name() +
             " does not exist; the stream this operation drains is not set up");
    }
    c.measured = slot->active ? "streaming" : "nothing streams";
    if (!slot->active) {
      refuse(from.role() + ": nothing is streaming from slot " + current.slot_name() +
             "; start `switchyard replicate` (or `serve`) and try again");
    }
  });
  return slot && slot->active ? slot : std::nullopt;
}

uint64_t check_lag(std::vector<Check>& checks, const Config& current,
                   const std::optional<SlotInfo>& slot, pg::Connection& from, pg::Connection& to) {
  uint64_t lag = 0;
  const std::string most = format_bytes(static_cast<double>(current.cutover.max_lag_bytes));
  check(checks, "lag", "at most " + most + " (cutover.max_lag)", [&](Check& c) {
    if (!slot) {
      c.measured = "not measured";
      refuse("lag: not measured, nothing streams");
    }
    const Lsn head =
        *Lsn::parse(from.exec("SELECT pg_catalog.pg_current_wal_lsn()::text").get(0, 0));
    Lsn applied = control::origin_progress(to, current.origin_name(), false).value_or(Lsn{});
    if (slot->confirmed_flush) applied = std::max(applied, *slot->confirmed_flush);
    lag = head > applied ? head.value - applied.value : 0;
    c.measured = format_bytes(static_cast<double>(lag));
    if (lag > current.cutover.max_lag_bytes) {
      refuse(to.role() + " is " + c.measured + " behind the " + from.role() +
             " (cutover.max_lag is " + most + "); wait for the stream to catch up");
    }
  });
  return lag;
}

void check_transactions(std::vector<Check>& checks, const Config& current, pg::Connection& from) {
  const double limit = std::chrono::duration<double>(current.cutover.max_transaction_age).count();
  check(checks, "oldest transaction",
        "at most " + format_duration(limit) + " (cutover.max_transaction_age)", [&](Check& c) {
          pg::Result oldest = from.exec(
              "SELECT pid, coalesce(nullif(application_name, ''), usename::text, '?'), "
              "       extract(epoch FROM now() - xact_start)::float8 "
              "FROM pg_catalog.pg_stat_activity "
              "WHERE datname = pg_catalog.current_database() AND backend_type = 'client backend' "
              "  AND pid <> pg_catalog.pg_backend_pid() AND xact_start IS NOT NULL "
              "ORDER BY xact_start LIMIT 1");
          if (oldest.rows() == 0) {
            c.measured = "none open";
            return;
          }
          const double age = std::stod(oldest.str(0, 2));
          c.measured = format_duration(age) + " (process " + oldest.str(0, 0) + ", " +
                       oldest.str(0, 1) + ")";
          if (age > limit) {
            refuse(from.role() + ": transaction of process " + oldest.str(0, 0) + " (" +
                   oldest.str(0, 1) + ") has been open " + format_duration(age) +
                   " (cutover.max_transaction_age is " + format_duration(limit) +
                   "); it would hold the freeze");
          }
        });
  check(checks, "prepared transactions", "none", [&](Check& c) {
    pg::Result prepared = from.exec(
        "SELECT count(*) FROM pg_catalog.pg_prepared_xacts "
        "WHERE database = pg_catalog.current_database()");
    c.measured = prepared.str(0, 0);
    if (prepared.int64(0, 0) > 0) {
      refuse(from.role() + ": " + prepared.str(0, 0) +
             " prepared transactions wait for COMMIT PREPARED; finish them first");
    }
  });
}

// Every table the old primary has that tables.include selects is streamed
// and copied: one created there during the run that has not joined the
// stream yet would be left behind.
void check_tables_complete(std::vector<Check>& checks, const Config& current, pg::Connection& from,
                           const std::vector<control::TableRow>& tables) {
  check(checks, "tables", "every table tables.include selects is streamed", [&](Check& c) {
    auto lacking = [&](const std::string& schema, const std::string& name) {
      return std::none_of(tables.begin(), tables.end(), [&](const auto& streamed) {
        return streamed.schema == schema && streamed.name == name && !streamed.adding;
      });
    };
    std::vector<std::string> unusable;
    const auto missing = list_source_tables(from, current.tables, unusable, lacking);
    c.measured = std::to_string(tables.size()) + " streamed, " +
                 std::to_string(missing.size() + unusable.size()) + " not";
    if (!missing.empty()) {
      refuse(from.role() + ": table " + missing.front().display_name() +
             " matches tables.include but is not streamed yet (replicate adds a new table "
             "within seconds; wait for it)");
    }
    if (!unusable.empty()) {
      refuse(from.role() + ": " + unusable.front() + "; it matches tables.include");
    }
  });
}

// The stream's verify findings, from the control schema of the side that
// receives it (the new primary).
void check_verify(std::vector<Check>& checks, const Config& current, Operation operation,
                  pg::Connection& to, const std::vector<control::TableRow>& tables) {
  check(checks, "open mismatches", "none", [&](Check& c) {
    pg::Result open = to.exec(
        "SELECT schema_name || '.' || table_name, count(*), sum(count(*)) OVER () "
        "FROM switchyard.mismatches WHERE stream = $1 AND resolved_at IS NULL "
        "GROUP BY 1 ORDER BY 2 DESC LIMIT 1",
        {current.name});
    c.measured = open.rows() > 0 ? open.str(0, 2) : "0";
    if (open.rows() > 0) {
      refuse("verify: " + open.str(0, 1) + " open mismatches in " + open.str(0, 0) +
             "; run verify --repair, then verify --once");
    }
  });
  // Rows a pass left in flight are marked dirty: the gate compares them
  // with writes frozen, where they cannot change. After a cutover the gate
  // has proven parity and every later change is marked dirty, so a
  // failback's own gate covers it; a first cutover needs a completed pass
  // of every table.
  const bool need_pass = operation == Operation::kCutover;
  check(checks, "verify passes",
        need_pass ? "every table has a completed full pass, none found a mismatch"
                  : "no table's last pass found a mismatch",
        [&](Check& c) {
          pg::Result passes = to.exec(
              "SELECT schema_name, table_name, status FROM switchyard.verify_tables "
              "WHERE stream = $1",
              {current.name});
          size_t completed = 0;
          std::optional<std::string> why;
          for (const auto& table : tables) {
            std::string status;
            for (int row = 0; row < passes.rows(); ++row) {
              if (passes.get(row, 0) == table.schema && passes.get(row, 1) == table.name) {
                status = passes.str(row, 2);
              }
            }
            const std::string name = table.schema + "." + table.name;
            if (status == "clean" || status == "in_flight") ++completed;
            if (why) continue;
            if (status == "mismatch") {
              why = "verify: the last pass over " + name +
                    " found mismatches; run verify --repair, then verify --once";
            } else if (need_pass && status != "clean" && status != "in_flight") {
              why = "verify: " + name +
                    " has no completed full pass yet; run verify --once (or keep verify running)";
            }
          }
          c.measured =
              std::to_string(completed) + " of " + std::to_string(tables.size()) + " tables passed";
          if (why) refuse(*why);
        });
}

// The reverse stream, the fences and failback need rights on both servers;
// the same checks as init's and `switchyard check`'s, so that a cutover can
// never pass this preflight and then lack its way back.
void check_reverse_path(std::vector<Check>& checks, const Config& current, Operation operation,
                        pg::Connection& from, pg::Connection& to,
                        const std::vector<control::TableRow>& tables) {
  check(checks, "reverse path",
        "the new primary can stream back; the application's schema is there", [&](Check& c) {
          c.measured = "checked";
          if (auto slot = find_slot(to, current.slot_name()); slot && slot->active) {
            refuse(to.role() + ": replication slot " + current.slot_name() +
                   " already exists and is in use; something else streams from it");
          }
          // The application's schema on the new primary (objects and the
          // roles they name), then every right and setting: all of it named
          // at once.
          std::optional<Error> schema;
          try {
            check_schema_objects(from, to, tables);
          } catch (const Error& error) {
            if (error.kind() != ErrorKind::kPrecondition) throw;
            schema = error;
          }
          const bool cutover = operation == Operation::kCutover;
          const Config original = cutover ? current : current.reversed();
          std::vector<TableName> names;
          for (const auto& table : tables) names.push_back({table.schema, table.name});
          auto requirements =
              check_requirements(original, cutover ? from : to, cutover ? to : from, names);
          if (schema) {
            // Its message names the missing roles already.
            std::erase_if(requirements, [](const Requirement& requirement) {
              return requirement.what == kOwnerRoles || requirement.what == kGrantRoles;
            });
            if (unmet(requirements, NeededBy::kCutover).empty()) throw *schema;
            spdlog::error("{}", schema->what());
          }
          require(requirements, NeededBy::kCutover, "preflight");
        });
}

}  // namespace

const Check* PreflightFacts::refusal() const {
  for (const Check& check : checks) {
    if (!check.passed) return &check;
  }
  return nullptr;
}

PreflightFacts run_preflight(const Config& current, Operation operation, pg::Connection& from,
                             pg::Connection& to, Router& router) {
  PreflightFacts facts;
  auto& checks = facts.checks;
  check(checks, "copy", "finished (phase streaming)", [&](Check& c) {
    const auto stream = control::read_stream(to, current.name);
    c.measured = stream ? stream->phase : "not initialised";
    if (!stream || stream->phase != control::kStreaming) {
      refuse(to.role() + ": stream '" + current.name +
             "' has not finished its initial copy; run replicate until it streams");
    }
  });
  const auto slot = check_stream_running(checks, current, from);
  facts.lag_bytes = check_lag(checks, current, slot, from, to);
  check_transactions(checks, current, from);
  facts.tables = control::read_tables(to, current.name);
  check_tables_complete(checks, current, from, facts.tables);
  check_verify(checks, current, operation, to, facts.tables);
  const Primary old_primary =
      operation == Operation::kCutover ? Primary::kSource : Primary::kTarget;
  check(checks, "router", "reachable, sends the application to the " + from.role(), [&](Check& c) {
    c.measured = router.describe();
    router.check(old_primary);
  });
  check_reverse_path(checks, current, operation, from, to, facts.tables);

  for (const auto& table : facts.tables) {
    if (std::find(facts.schemas.begin(), facts.schemas.end(), table.schema) ==
        facts.schemas.end()) {
      facts.schemas.push_back(table.schema);
    }
  }
  check(checks, "sequences", "each one exists on the " + to.role() + " and can be read",
        [&](Check& c) {
          // Read here only to check them; their values are read inside the
          // freeze.
          facts.sequences =
              read_sequences(from, facts.schemas, Clock::now() + std::chrono::seconds(30));
          c.measured = std::to_string(facts.sequences.size());
          check_sequences(from, to, facts.sequences);
        });
  check(checks, "changed rows", "compared by the parity gate", [&](Check& c) {
    facts.dirty_key_rows = static_cast<uint64_t>(
        to.exec("SELECT count(*) FROM switchyard.dirty_keys WHERE stream = $1", {current.name})
            .int64(0, 0));
    c.measured = std::to_string(facts.dirty_key_rows) + " marked since verified";
  });
  facts.new_primary_fenced = fenced(to);
  return facts;
}

}  // namespace switchyard::cutover
