// RowRun: the multi-row statements a run of changes becomes.

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "replicator/row_run.h"

using switchyard::Datum;
using switchyard::DatumKind;
using switchyard::RowRun;
using switchyard::TableShape;
using switchyard::Tuple;

namespace {

// items(id int, name text, doc text), key (id).
TableShape items() {
  TableShape shape;
  shape.qualified = "\"public\".\"items\"";
  shape.columns = {"id", "name", "doc"};
  shape.types = {"integer", "text", "text"};
  shape.key_columns = {0};
  shape.compare_as_text = {false, false, false};
  return shape;
}

Datum text(const std::string& value) {
  return {DatumKind::kText, value};
}
Datum unchanged() {
  return {DatumKind::kUnchanged, {}};
}

std::vector<RowRun::Statement> statements(const RowRun& run, const TableShape& shape) {
  std::vector<RowRun::Statement> out;
  run.for_each_statement(shape, [&](const RowRun::Statement& statement) {
    RowRun::Statement copy = statement;
    copy.sql = nullptr;  // it refers to the run's own loop
    out.push_back(copy);
    out.back().shape = statement.shape + " " + statement.sql().substr(0, 6);
  });
  return out;
}

}  // namespace

TEST_CASE("A run of inserts is cut into statements of 256, 32, 4 and 1 rows", "[row_run]") {
  const TableShape shape = items();
  RowRun run;
  for (int id = 0; id < 295; ++id) {
    run.add('I', Tuple{text(std::to_string(id)), text("n"), text("d")}, shape);
  }
  CHECK(run.kind() == 'I');
  CHECK(run.memory() > 0);
  std::vector<std::string> shapes;
  size_t params = 0;
  for (const auto& statement : statements(run, shape)) {
    shapes.push_back(statement.shape);
    params += statement.params.size();
  }
  // 295 = 256 + 32 + 4 + 3 x 1
  CHECK(shapes == std::vector<std::string>{"I#256 INSERT", "I#32 INSERT", "I#4 INSERT",
                                           "I#1 INSERT", "I#1 INSERT", "I#1 INSERT"});
  CHECK(params == 295 * 3);
  run.clear();
  CHECK(run.empty());
  CHECK(run.kind() == 0);
  CHECK(run.memory() == 0);
}

TEST_CASE(
    "Repeated updates of a row collapse into its last image, keeping values it did not "
    "carry",
    "[row_run]") {
  const TableShape shape = items();
  RowRun run;
  run.add('U', Tuple{text("7"), text("first"), text("big document")}, shape);
  run.add('U', Tuple{text("8"), text("other"), text("x")}, shape);
  run.add('U', Tuple{text("7"), text("second"), unchanged()}, shape);
  CHECK(run.rows() == 2);
  const auto sent = statements(run, shape);
  // Both rows carry every column: one family, two rows as 1 + 1.
  REQUIRE(sent.size() == 2);
  CHECK(sent[0].shape == "Ukss#1 UPDATE");
  std::vector<std::string> first;
  for (const Datum* datum : sent[0].params) first.push_back(datum->bytes);
  CHECK(first == std::vector<std::string>{"7", "second", "big document"});
}

TEST_CASE("Updates are grouped by the columns they carry; keys are matched, not set", "[row_run]") {
  const TableShape shape = items();
  RowRun run;
  run.add('U', Tuple{text("1"), text("a"), unchanged()}, shape);
  run.add('U', Tuple{text("2"), text("b"), text("doc")}, shape);
  run.add('U', Tuple{text("3"), text("c"), unchanged()}, shape);
  run.add('U', Tuple{text("4"), unchanged(), unchanged()}, shape);  // nothing to set
  std::vector<std::string> shapes;
  std::vector<std::string> first_params;
  for (const auto& statement : statements(run, shape)) {
    shapes.push_back(statement.shape);
    for (const Datum* datum : statement.params) first_params.push_back(datum->bytes);
  }
  CHECK(shapes == std::vector<std::string>{"Ukss#1 UPDATE", "Uksu#1 UPDATE", "Uksu#1 UPDATE"});
  // key first, then the columns set, row after row
  CHECK(first_params == std::vector<std::string>{"2", "b", "doc", "1", "a", "3", "c"});
}

TEST_CASE("A run of deletes sends the keys only", "[row_run]") {
  const TableShape shape = items();
  RowRun run;
  for (int id = 0; id < 5; ++id) {
    run.add('D', Tuple{text(std::to_string(id)), {}, {}}, shape);
  }
  std::vector<std::string> shapes;
  size_t params = 0;
  for (const auto& statement : statements(run, shape)) {
    shapes.push_back(statement.shape);
    params += statement.params.size();
  }
  CHECK(shapes == std::vector<std::string>{"D#4 DELETE", "D#1 DELETE"});
  CHECK(params == 5);
}

TEST_CASE("A wide table's statements stay under the protocol's parameter limit", "[row_run]") {
  TableShape shape;
  shape.qualified = "\"public\".\"wide\"";
  for (int column = 0; column < 1000; ++column) {
    shape.columns.push_back("c" + std::to_string(column));
    shape.types.push_back("text");
    shape.compare_as_text.push_back(false);
  }
  shape.key_columns = {0};
  RowRun run;
  for (int id = 0; id < 40; ++id) {
    run.add('I', Tuple(1000, text(std::to_string(id))), shape);
  }
  for (const auto& statement : statements(run, shape)) {
    CHECK(statement.params.size() <= 65535);
    CHECK(statement.rows <= 32);  // 256 x 1000 parameters would not fit
  }
}

TEST_CASE("Upserts of one key within a run collapse into the last image", "[row_run]") {
  TableShape shape = items();
  shape.upsert = true;
  RowRun run;
  run.add('I', {text("1"), text("a"), text("x")}, shape);
  run.add('I', {text("2"), text("b"), text("y")}, shape);
  run.add('I', {text("1"), text("c"), text("z")}, shape);
  REQUIRE(run.rows() == 2);
  const auto sent = statements(run, shape);
  REQUIRE(sent.size() == 2);  // statements of 1 row each (no 2-row size)
  CHECK(sent[0].params[1]->bytes == "c");
  CHECK(sent[1].params[1]->bytes == "b");
  // Without upsert (a PostgreSQL source), inserts are never merged.
  RowRun plain;
  plain.add('I', {text("1"), text("a"), text("x")}, items());
  plain.add('I', {text("1"), text("c"), text("z")}, items());
  CHECK(plain.rows() == 2);
}
