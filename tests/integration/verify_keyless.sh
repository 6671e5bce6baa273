# A table without a key can only be compared whole, and such tables are
# often the largest: logs and audit trails appended for years. verify must
# compare one under a steady stream of appends with memory that does not
# grow with the table (it held every row of both sides, and an index of
# them, before: some 500 MB for this 600k-row table), settle the rows
# appended while it reads, and still find a row missing on the target and
# one only the target has.
source "$(dirname "$0")/lib.sh"

pgc_start SRC
pgc_start TGT
pgc_psql SRC <<'SQL' >/dev/null
CREATE TABLE audit_log (at timestamptz NOT NULL DEFAULT now(), actor int NOT NULL,
                        action text NOT NULL, detail text);
ALTER TABLE audit_log REPLICA IDENTITY FULL;
INSERT INTO audit_log (at, actor, action, detail)
  SELECT timestamptz '2026-01-01' + g * interval '1 second', g % 5000, 'action ' || g % 17,
         repeat(md5(g::text), 3)
  FROM generate_series(1, 600000) g;
SQL
cfg=$WORK/sy.yaml
write_config "$cfg" "verify: { max_bytes_per_second: 0 }"
"$SY" -c "$cfg" init 2>>"$WORK/replicate.log"
start_replicate "$cfg" "$WORK/replicate.log"
wait_streaming "$cfg"
wait_parity 120 public.audit_log

cat >"$WORK/append.sql" <<'SQL'
INSERT INTO audit_log (actor, action, detail) VALUES ((random() * 5000)::int, 'append', md5(random()::text));
SQL
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$SRC_PORT" -U postgres -n -c 2 -R 200 -T 600 \
  -f "$WORK/append.sql" app >"$WORK/load.log" 2>&1 &
LOAD_PID=$!
BACKGROUND+=("$LOAD_PID")
sleep 2

# verify_peak_kb ARGS...: runs verify, prints its exit code and peak RSS (kB).
verify_peak_kb() {
  "$SY" -c "$cfg" "$@" >"$WORK/verify.out" 2>>"$WORK/verify.log" &
  local pid=$! peak=0 now rc=0
  while kill -0 "$pid" 2>/dev/null; do
    now=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$now" ] && [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.1
  done
  wait "$pid" || rc=$?
  echo "$rc $peak"
}

read -r rc peak < <(verify_peak_kb verify --once)
[ "$rc" = 0 ] || { tail -20 "$WORK/verify.log"; fail "verify --once under appends exited $rc"; }
rows=$(pgc_psql SRC -c "SELECT count(*) FROM audit_log")
log "verify --once under appends: clean, peak RSS $((peak / 1024)) MB ($rows rows)"
if sanitized_build; then
  log "sanitizer build: RSS bound not checked"
else
  [ "$peak" -lt $((80 * 1024)) ] || fail "verify's peak RSS was $((peak / 1024)) MB for a table without a key"
fi

log "damage the target: one row deleted, one added"
pgc_psql TGT -c "DELETE FROM audit_log WHERE at = timestamptz '2026-01-01' + 4242 * interval '1 second'" >/dev/null
pgc_psql TGT -c "INSERT INTO audit_log VALUES ('1999-12-31 23:59:59+00', 7, 'forged', 'not on the source')" >/dev/null
read -r rc peak < <(verify_peak_kb verify --once --json)
[ "$rc" = 1 ] || { tail -20 "$WORK/verify.log"; fail "verify --once on a damaged target exited $rc, not 1"; }
found=$(pgc_psql TGT -v json="$(cat "$WORK/verify.out")" <<'SQL'
SELECT string_agg(m->>'table' || ' ' || (m->>'kind') || ' ' || (m->'key'->>'action'), '; ' ORDER BY m->>'kind')
  FROM json_array_elements((:'json')::json->'mismatches') m
SQL
)
expected="public.audit_log extra forged; public.audit_log missing action 9"
[ "$found" = "$expected" ] || fail "verify reported: $found; expected: $expected"
log "ok: $found (peak RSS $((peak / 1024)) MB)"

kill "$LOAD_PID" 2>/dev/null || true
log "PASS"
