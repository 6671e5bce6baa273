// A run of same-kind changes to one table, gathered to be sent as
// multi-row statements (replicator/apply_statements.h): inserts as one
// INSERT ... VALUES, updates as UPDATE ... FROM (VALUES ...), deletes as
// DELETE ... USING (VALUES ...).
//
// Repeated updates of one row within a run collapse into its last image (a
// column the later image did not carry, an unchanged TOASTed value, keeps
// the earlier image's). Updates are grouped by which columns they carry,
// one statement family per group, since a column not carried must not be
// set. Every run is cut into statements of 256, 32, 4 and 1 rows under the
// protocol's parameter limit, so a handful of prepared statements per table
// serve any run.
//
// Pure bookkeeping, no server: the apply loop adds rows and sends the
// statements the run describes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "drivers/value.h"
#include "replicator/apply_statements.h"

namespace switchyard {

class RowRun {
 public:
  // 'I', 'U' or 'D'; 0 when the run is empty.
  char kind() const { return kind_; }
  bool empty() const { return rows_.empty(); }
  size_t rows() const { return rows_.size(); }
  // Memory the buffered rows hold (values, vectors, the update key map).
  uint64_t memory() const { return memory_; }

  // Adds a change: for 'D' the old key tuple, else the new row. REQUIRES:
  // empty() or kind == kind(). Returns the memory it added.
  uint64_t add(char kind, Tuple&& row, const TableShape& shape);

  // One statement of the run: its shape (names the prepared statement:
  // "I#256", "Ukks#4"...), its SQL, and its parameters, row after row.
  struct Statement {
    std::string shape;
    std::function<std::string()> sql;
    std::vector<const Datum*> params;
    size_t rows = 0;
  };
  // The statements that apply the run, in order.
  void for_each_statement(const TableShape& shape,
                          const std::function<void(const Statement&)>& emit) const;

  void clear();

 private:
  char kind_ = 0;
  std::vector<Tuple> rows_;
  std::unordered_map<std::string, size_t> updated_;  // key bytes -> row, for updates
  uint64_t memory_ = 0;
};

}  // namespace switchyard
