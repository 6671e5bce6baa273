# A legacy primary configured like a European one, and a target configured
# otherwise: the settings that decide how values travel as text differ on
# every side. Dates whose day is past 12 (which a month-first reader
# refuses) and under 13 (which it silently swaps), timestamps, negative
# intervals in sql_standard style, floats printed with extra_float_digits 0
# (which drops digits), bytea in escape format, and keys holding quotes and
# backslashes on a source with standard_conforming_strings off. They must
# arrive exactly, through the copy and through the stream, and verify and
# repair must handle them.
#
# The independent digest below reads each side with the same pinned
# settings; switchyard's own sessions get no help from the environment.
source "$(dirname "$0")/lib.sh"

pgc_start SRC "datestyle = 'SQL, DMY'" "intervalstyle = 'sql_standard'" "extra_float_digits = 0" \
  "bytea_output = 'escape'" "standard_conforming_strings = off" "timezone = 'Europe/Berlin'" \
  "escape_string_warning = off"
pgc_start TGT "datestyle = 'German, MDY'" "intervalstyle = 'iso_8601'" "extra_float_digits = 1" \
  "timezone = 'America/New_York'"

PINNED="-c datestyle=ISO -c intervalstyle=postgres -c extra_float_digits=3 -c bytea_output=hex -c timezone=UTC -c standard_conforming_strings=on"
table_digest() {
  PGOPTIONS="$PINNED" pgc_psql "$1" 2>/dev/null -c "SELECT count(*) || ' ' || md5(coalesce(string_agg(digest_row::text, E'\n' ORDER BY digest_row::text COLLATE \"C\"), '')) FROM $2 digest_row"
}
src_sql() { PGOPTIONS="$PINNED" pgc_psql SRC "$@"; }

src_sql <<'SQL'
CREATE TABLE readings (
  id   text PRIMARY KEY,
  d    date,
  ts   timestamp,
  tstz timestamptz,
  iv   interval,
  f8   double precision,
  f4   real,
  b    bytea,
  n    numeric
);
INSERT INTO readings VALUES
  ('late day',     '2032-08-14', '2032-08-14 02:06:07.891', '2032-08-14 02:06:07.891+00',
   '-1 year -2 mons +3 days -04:05:06.5', 0.1, 0.1, '\x00015c27ff'::bytea, 1.10),
  ('early day',    '2031-04-03', '2031-04-03 23:59:59.999999', '2031-04-03 00:00:00+05:30',
   '1 day -00:00:01', 1.0/3, 1.0/3, '\x5c5c'::bytea, -0.000001),
  (E'O''Brien',    '1999-12-31', '1999-12-31 12:00', '1999-12-31 12:00-08',
   '-3 days', 2.718281828459045, 3.1415927, '\x'::bytea, 12345678901234567890.123),
  (E'back\\slash', '2000-02-29', '2000-02-29 00:00', '2000-02-29 00:00+00',
   '00:00:00.000001', 1e-300, 1.17549435e-38, '\x27'::bytea, NULL),
  (E'mix \\'' end', '0044-03-15', '0044-03-15 12:00', '0044-03-15 12:00+00',
   '-178000000 years', 1.7976931348623157e308, 3.4028235e38, decode(repeat('5c27', 100), 'hex'), 0);
SQL

cfg=$WORK/sy.yaml
write_config "$cfg" "verify: { recheck_timeout: 5s }"
log "init and copy from a source with DMY dates, sql_standard intervals, extra_float_digits 0, escape bytea, standard_conforming_strings off"
"$SY" -c "$cfg" init 2>>"$WORK/replicate.log" || { tail -5 "$WORK/replicate.log"; fail "init"; }
start_replicate "$cfg" "$WORK/replicate.log"
wait_streaming "$cfg"
wait_parity 60 public.readings || { tail -5 "$WORK/replicate.log"; fail "the copy differs"; }
log "ok: the copy is exact"
# Copied in binary: the COPY's trailer is not a row.
"$SY" -c "$cfg" status | grep -Eq "public.readings +5 rows copied" ||
  { "$SY" -c "$cfg" status; fail "status does not count the 5 rows copied"; }

log "the same values, and more, through the stream"
src_sql <<'SQL'
INSERT INTO readings SELECT id || ' (streamed)', d, ts, tstz, iv, f8, f4, b, n FROM readings;
UPDATE readings SET d = d + 1, iv = iv - interval '1 year 1 day', f8 = f8 / 7, f4 = f4 / 7,
                    b = b || '\x5c00'::bytea WHERE id LIKE '%(streamed)';
UPDATE readings SET id = id || E' \\''renamed' WHERE id = 'early day';
SQL
wait_parity 60 public.readings || { tail -5 "$WORK/replicate.log"; fail "the stream differs"; }
kill -0 "$REPLICATE_PID" || { tail -5 "$WORK/replicate.log"; fail "replicate stopped"; }
log "ok: the stream is exact"

log "verify is clean"
"$SY" -c "$cfg" verify --once >"$WORK/verify.log" 2>&1 || { tail -5 "$WORK/verify.log"; fail "verify found differences"; }

log "repair of rows whose keys hold quotes and backslashes"
pgc_psql TGT -c "UPDATE readings SET n = 42 WHERE id = E'O''Brien'"
pgc_psql TGT -c "DELETE FROM readings WHERE id = E'back\\\\slash'"
pgc_psql TGT -c "INSERT INTO readings (id) VALUES (E'extra \\\\'' row')"
rc=0; "$SY" -c "$cfg" verify --once >"$WORK/verify-damaged.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || { tail -5 "$WORK/verify-damaged.log"; fail "verify of the damaged target: expected exit 1 (mismatches), got $rc"; }
"$SY" -c "$cfg" verify --repair >"$WORK/repair.log" 2>&1 || { tail -5 "$WORK/repair.log"; fail "repair"; }
wait_parity 30 public.readings || fail "the repair left differences"
"$SY" -c "$cfg" verify --once >>"$WORK/verify.log" 2>&1 || fail "verify after repair"
log "ok: 3 rows repaired (different, missing, extra), verify clean"
log "PASS"
