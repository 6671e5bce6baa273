#include "replicator/source_engine.h"

#include "common/units.h"
#include "replicator/changelog_feed.h"
#include "replicator/legacy_setup.h"
#include "replicator/pgoutput_feed.h"
#include "replicator/setup.h"
#include "replicator/source_catalog.h"
#include "replicator/table_sync.h"

namespace switchyard {
namespace {

// ---- PostgreSQL ---------------------------------------------------------------

class PostgresEngine final : public SourceEngine {
 public:
  explicit PostgresEngine(const Config& config) : config_(config) {}

  PreparedSource init() override {
    const InitResult result = run_init(config_, /*export_snapshot=*/false);
    PreparedSource prepared;
    prepared.tables = result.tables.size();
    prepared.tables_created = result.tables_created;
    prepared.capture = "publication and slot " + config_.slot_name() + " ready";
    prepared.missing_for_cutover = result.missing_for_cutover;
    return prepared;
  }

  std::vector<Requirement> requirements(size_t& tables) override {
    pg::Connection source(config_.source.conninfo, config_.source.name, pg::Mode::kNormal, "check");
    pg::Connection target(config_.target.conninfo, config_.target.name, pg::Mode::kNormal, "check");
    const auto selected = list_source_tables(source, config_.tables);
    tables = selected.size();
    return check_requirements(config_, source, target, table_names(selected));
  }

  SnapshotSummary snapshot() override { return run_snapshot(config_); }

  std::string describe(Lsn position) const override { return position.to_string(); }

  std::string teardown() override {
    run_teardown(config_);
    return "removed from both databases";
  }

  void prepare_stream(control::Direction direction) override {
    // After a cutover there is nothing to copy: the stream runs the other way.
    if (direction == control::Direction::kForward) run_snapshot(config_);
  }

  void add_new_tables(control::Direction direction, std::set<std::string>& warned) override {
    // Only the forward stream takes in new tables.
    if (direction != control::Direction::kForward) return;
    pg::Connection source(config_.source.conninfo, config_.source.name);
    pg::Connection target(config_.target.conninfo, config_.target.name);
    const NewTables found = find_new_tables(source, target, config_);
    warn_unusable(found.unusable, warned);
    if (!found.to_add.empty()) add_tables(config_, found.to_add);
  }

  std::unique_ptr<ChangeFeed> feed(const Config& directed, pg::Connection& target,
                                   control::Direction direction,
                                   std::set<std::string>& warned) override {
    return std::make_unique<PgoutputFeed>(directed, target, direction, warned);
  }

  bool follows_large_objects() const override { return true; }

 private:
  const Config& config_;
};

// ---- ODBC legacies ----------------------------------------------------------------

class LegacyEngine final : public SourceEngine {
 public:
  explicit LegacyEngine(const Config& config) : config_(config) {}

  PreparedSource init() override {
    const LegacyInitResult result = run_legacy_init(config_);
    PreparedSource prepared;
    prepared.tables = result.tables;
    prepared.tables_created = result.tables_created;
    prepared.capture =
        "capture installed on the " + config_.source.name + " (" + result.engine + ")";
    return prepared;
  }

  std::vector<Requirement> requirements(size_t& tables) override {
    return check_legacy_requirements(config_, tables);
  }

  SnapshotSummary snapshot() override { return run_legacy_snapshot(config_); }

  std::string describe(Lsn position) const override {
    return "changelog sequence " + std::to_string(position.value);
  }

  std::string teardown() override {
    const LegacyTeardownResult removed = run_legacy_teardown(config_);
    return "removed: " + counted(removed.triggers, "capture trigger") + " and " +
           (removed.changelog ? "the changelog" : "no changelog (none was left)") + " from the " +
           config_.source.name + ", its control rows and origin from the " + config_.target.name;
  }

  // Cutover with an ODBC legacy is refused (cli/main.cpp): only forward.
  void prepare_stream(control::Direction) override { run_legacy_snapshot(config_); }

  void add_new_tables(control::Direction, std::set<std::string>&) override {
    // A table that cannot be streamed is named by the feed.
    add_legacy_tables(config_);
  }

  std::unique_ptr<ChangeFeed> feed(const Config& directed, pg::Connection& target,
                                   control::Direction, std::set<std::string>& warned) override {
    return std::make_unique<ChangelogFeed>(directed, target, warned);
  }

  bool follows_large_objects() const override { return false; }

 private:
  const Config& config_;
};

}  // namespace

std::unique_ptr<SourceEngine> SourceEngine::of(const Config& config) {
  if (config.source.odbc()) return std::make_unique<LegacyEngine>(config);
  return std::make_unique<PostgresEngine>(config);
}

}  // namespace switchyard
