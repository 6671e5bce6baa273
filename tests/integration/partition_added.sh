# A partition created on the source while `replicate` runs (next month's, as
# a partitioned table of events gets every month), and one attached with
# rows already in it, under a partitioned table the stream carries: both
# are created on the target, their rows arrive, the stream keeps running,
# and the table verifies clean.
source "$(dirname "$0")/lib.sh"

pgc_start SRC
pgc_start TGT
pgc_psql SRC -c "CREATE TABLE events (id bigint NOT NULL, at date NOT NULL, what text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
                 CREATE TABLE events_2026_11 PARTITION OF events FOR VALUES FROM ('2026-11-01') TO ('2026-12-01');
                 INSERT INTO events SELECT g, '2026-11-01'::date + g % 30, 'november ' || g FROM generate_series(1, 3000) g"
cfg=$WORK/sy.yaml
write_config "$cfg" "stream: { status_interval: 2s }"
start_replicate "$cfg" "$WORK/replicate.log"
wait_streaming "$cfg"

log "next month's partition created, and written at once"
pgc_psql SRC -c "CREATE TABLE events_2026_12 PARTITION OF events FOR VALUES FROM ('2026-12-01') TO ('2027-01-01')"
pgc_psql SRC -c "
                 INSERT INTO events SELECT g, '2026-12-01'::date + g % 31, 'december ' || g FROM generate_series(3001, 5000) g"
log "a partition filled on its own, then attached"
pgc_psql SRC -c "CREATE TABLE events_2027_01 (LIKE events INCLUDING ALL);
                 INSERT INTO events_2027_01 SELECT g, '2027-01-01'::date + g % 31, 'january ' || g FROM generate_series(5001, 6000) g;
                 ALTER TABLE events ATTACH PARTITION events_2027_01 FOR VALUES FROM ('2027-01-01') TO ('2027-02-01');
                 UPDATE events SET what = what || ' (moved)', at = at + 31 WHERE id BETWEEN 4000 AND 4010"
sleep 1
pgc_psql SRC -c "INSERT INTO events SELECT g, '2027-01-15', 'later ' || g FROM generate_series(6001, 6100) g"
for _ in $(seq 1 120); do
  [ "$(pgc_psql TGT -c "SELECT count(*) FROM events WHERE id > 6000" 2>/dev/null)" = 100 ] && break
  kill -0 "$REPLICATE_PID" 2>/dev/null || fail "replicate stopped"
  sleep 0.5
done
kill -0 "$REPLICATE_PID" 2>/dev/null || fail "replicate stopped"
grep -q "target: creating partition public.events_2026_12 of public.events, new on the source" "$WORK/replicate.log" ||
  fail "the new partition was not created by the stream"
parts=$(pgc_psql TGT -c "SELECT string_agg(c.relname || ' ' || pg_get_expr(c.relpartbound, c.oid), '; ' ORDER BY c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass")
[ "$parts" = "$(pgc_psql SRC -c "SELECT string_agg(c.relname || ' ' || pg_get_expr(c.relpartbound, c.oid), '; ' ORDER BY c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass")" ] ||
  fail "the target's partitions differ: $parts"
log "ok: the stream kept running; partitions on the target: $parts"

# The 1,000 rows events_2027_01 held before ATTACH were never changes of
# events: verify names them, and a recopy of the partitioned table brings them.
rc=0; "$SY" -c "$cfg" verify --once --table public.events >"$WORK/verify-attach.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || { cat "$WORK/verify-attach.out"; fail "verify after ATTACH: expected exit 1 (mismatches), got $rc"; }
grep -q "^mismatch: 1000 rows differ in 1 table" "$WORK/verify-attach.out" ||
  { cat "$WORK/verify-attach.out"; fail "verify does not count the attached partition's 1000 rows"; }
log "ok: verify finds the 1000 rows the attached table held"
"$SY" -c "$cfg" recopy public.events >"$WORK/recopy.out" 2>&1 || { cat "$WORK/recopy.out"; fail "recopy"; }
for _ in $(seq 1 120); do
  [ "$(pgc_psql TGT -c "SELECT count(*) FROM events" 2>/dev/null)" = 6100 ] && break
  sleep 0.5
done
src=$(pgc_psql SRC -c "SELECT count(*) || ' ' || md5(string_agg(e::text, '|' ORDER BY id)) FROM events e")
tgt=$(pgc_psql TGT -c "SELECT count(*) || ' ' || md5(string_agg(e::text, '|' ORDER BY id)) FROM events e")
[ "$src" = "$tgt" ] || fail "events differ after the recopy: source $src, target $tgt"
"$SY" -c "$cfg" verify --once >"$WORK/verify.out" 2>&1 || { cat "$WORK/verify.out"; fail "verify"; }
log "ok: 6100 rows equal after the recopy; $(tail -n 1 "$WORK/verify.out")"
