#include "replicator/row_run.h"

#include <algorithm>
#include <map>

namespace switchyard {
namespace {

constexpr size_t kMaxParams = 65535;  // the protocol's limit per statement

// What a buffered row really costs in memory: its values, each Datum and
// the vector, and for a row kept by key (updates, upserts) its entry in the
// run's key map. A narrow row costs three or four times its change data.
uint64_t row_memory(const Tuple& tuple, bool by_key) {
  uint64_t bytes = sizeof(Tuple) + tuple.capacity() * sizeof(Datum);
  for (const Datum& datum : tuple) {
    // Short strings live inside the Datum; longer ones on the heap.
    if (datum.bytes.capacity() > 15) bytes += datum.bytes.capacity() + 1;
  }
  if (by_key) bytes += 96;  // the key map: node, key string, bucket
  return bytes;
}

// The row's key values, length-prefixed so that values never run together.
std::string key_of(const TableShape& shape, const Tuple& row) {
  std::string key;
  for (size_t column_idx : shape.key_columns) {
    const std::string& bytes = row[column_idx].bytes;
    key.append(std::to_string(bytes.size())).push_back(':');
    key.append(bytes);
  }
  return key;
}

// Splits `rows` into statement sizes (256, 32, 4, 1 rows), keeping each
// statement under the parameter limit.
template <typename Emit>
void for_each_chunk(size_t rows, size_t params_per_row, Emit emit) {
  size_t start = 0;
  for (size_t size : {256, 32, 4, 1}) {
    if (size > 1 && size * params_per_row > kMaxParams) continue;
    for (; rows - start >= size; start += size) emit(start, size);
  }
}

}  // namespace

uint64_t RowRun::add(char kind, Tuple&& row, const TableShape& shape) {
  kind_ = kind;
  // One statement may not upsert a key twice ("ON CONFLICT DO UPDATE
  // command cannot affect row a second time"): the last image wins.
  const bool by_key = kind == 'U' || (kind == 'I' && shape.upsert);
  const uint64_t memory = row_memory(row, by_key);
  memory_ += memory;
  if (by_key) {
    auto [it, fresh] = updated_.try_emplace(key_of(shape, row), rows_.size());
    if (!fresh) {
      Tuple& earlier = rows_[it->second];
      for (size_t column_idx = 0; column_idx < row.size(); ++column_idx) {
        if (row[column_idx].kind == DatumKind::kUnchanged) {
          row[column_idx] = std::move(earlier[column_idx]);
        }
      }
      earlier = std::move(row);
      return memory;
    }
  }
  rows_.push_back(std::move(row));
  return memory;
}

void RowRun::for_each_statement(const TableShape& shape,
                                const std::function<void(const Statement&)>& emit) const {
  const size_t key_count = shape.key_columns.size();
  Statement statement;
  switch (kind_) {
    case 'I':
      for_each_chunk(rows_.size(), shape.columns.size(), [&](size_t start, size_t count) {
        statement.params.clear();
        for (size_t row = start; row < start + count; ++row) {
          for (const Datum& datum : rows_[row]) statement.params.push_back(&datum);
        }
        statement.shape = "I#" + std::to_string(count);
        statement.sql = [&shape, count] { return insert_rows_sql(shape, count); };
        statement.rows = count;
        emit(statement);
      });
      break;
    case 'D':
      for_each_chunk(rows_.size(), key_count, [&](size_t start, size_t count) {
        statement.params.clear();
        for (size_t row = start; row < start + count; ++row) {
          for (size_t column_idx : shape.key_columns) {
            statement.params.push_back(&rows_[row][column_idx]);
          }
        }
        statement.shape = "D#" + std::to_string(count);
        statement.sql = [&shape, count] { return delete_rows_sql(shape, count); };
        statement.rows = count;
        emit(statement);
      });
      break;
    case 'U': {
      // Key columns are matched, not set; a column not carried is not set.
      std::map<std::string, std::vector<size_t>> by_mask;
      for (size_t row = 0; row < rows_.size(); ++row) {
        std::string mask(shape.columns.size(), 's');
        for (size_t column_idx = 0; column_idx < mask.size(); ++column_idx) {
          if (rows_[row][column_idx].kind == DatumKind::kUnchanged) mask[column_idx] = 'u';
        }
        for (size_t column_idx : shape.key_columns) mask[column_idx] = 'k';
        if (mask.find('s') != std::string::npos) by_mask[mask].push_back(row);
      }
      for (const auto& [mask, members] : by_mask) {
        const size_t per_row =
            key_count + static_cast<size_t>(std::count(mask.begin(), mask.end(), 's'));
        for_each_chunk(members.size(), per_row, [&](size_t start, size_t count) {
          statement.params.clear();
          for (size_t member = start; member < start + count; ++member) {
            const Tuple& row = rows_[members[member]];
            for (size_t column_idx : shape.key_columns)
              statement.params.push_back(&row[column_idx]);
            for (size_t column_idx = 0; column_idx < mask.size(); ++column_idx) {
              if (mask[column_idx] == 's') statement.params.push_back(&row[column_idx]);
            }
          }
          statement.shape = "U" + mask + "#" + std::to_string(count);
          const std::string& set_mask = mask;
          statement.sql = [&shape, &set_mask, count] {
            return update_rows_sql(shape, set_mask, count);
          };
          statement.rows = count;
          emit(statement);
        });
      }
      break;
    }
    default:
      break;
  }
}

void RowRun::clear() {
  kind_ = 0;
  rows_.clear();
  updated_.clear();
  memory_ = 0;
}

}  // namespace switchyard
