#include "drivers/pg/catalog.h"

namespace switchyard::pg {

std::vector<std::string> identity_key_columns(Connection& connection,
                                              const std::string& qualified) {
  Result key = connection.exec(
      "SELECT a.attname FROM (SELECT i.indrelid, i.indkey FROM pg_catalog.pg_index i "
      "        WHERE i.indrelid = pg_catalog.to_regclass($1) "
      "          AND (i.indisprimary OR i.indisreplident) "
      "        ORDER BY i.indisprimary DESC LIMIT 1) i "
      "  CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k (attnum, ord) "
      "  JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
      " ORDER BY k.ord",
      {qualified});
  std::vector<std::string> columns;
  for (int row = 0; row < key.rows(); ++row) columns.push_back(key.str(row, 0));
  return columns;
}

bool database_read_only_default(Connection& database) {
  return database
      .exec(
          "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_db_role_setting s "
          "  JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase "
          " WHERE d.datname = pg_catalog.current_database() AND s.setrole = 0 "
          "   AND 'default_transaction_read_only=on' = ANY (s.setconfig))")
      .boolean(0, 0);
}

}  // namespace switchyard::pg
