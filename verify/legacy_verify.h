// verify for an ODBC legacy source (MariaDB, SQLite) against its
// PostgreSQL target: the same verdicts, findings, control-schema records
// and exit codes as for a PostgreSQL source (run_verify.h), with each side
// read by its own driver as typed values and compared in the canonical
// encoding (canonical_encoding.h), never as text in SQL.
//
// The engines disagree on more than spelling, and each difference is
// settled in C++ by the target column's type, not by either side's SQL:
//  - tinyint(1), bit(1), SQLite BOOLEAN arrive as integers: compared as
//    booleans; bit(n) as its number on both sides;
//  - decimals take the target's scale (SQLite keeps 1.5 for a
//    NUMERIC(10,2) that PostgreSQL holds as 1.50);
//  - CHAR(n) is compared without its padding (MariaDB drops it,
//    PostgreSQL keeps it); a SET with the target's text[] joined by commas;
//  - JSON documents by their parsed value, keys sorted, on both sides;
//  - MariaDB TIMESTAMPs are read in UTC, zero dates arrive as NULL.
//
// Chunks: a table whose first key column is an integer is compared in
// ranges of that column, which both engines bound alike. Text keys are not
// ranged at all — MariaDB's default collations order and compare them
// unlike PostgreSQL (case- and accent-insensitively) — so such a table is
// one chunk, whose rows are matched by their exact key bytes: nothing is
// compared twice or never, whatever the collations.
//
// A differing key is settled by the position-tied re-check, with the
// changelog sequence as the position: the source row is read, then the
// changelog's highest committed sequence; once the target's origin is past
// it, the target row is read. Equal: clean; different in two rounds while
// the source stayed put: a mismatch; else in flight.
#pragma once

#include "common/config.h"
#include "verify/run_verify.h"

namespace switchyard::verify {

Outcome run_legacy_verify(const Config& config, const Request& request);

}  // namespace switchyard::verify
