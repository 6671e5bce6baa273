# Tables without a key at cutover: a large append-only log (200k rows,
# appended at every transaction) and a small table whose rows are updated,
# deleted and re-inserted, both REPLICA IDENTITY FULL, under a steady load
# through pgbouncer. Neither can be probed by row, so the gate used to
# compare both whole with writes frozen. Now each is proven equal before
# the freeze by digests and the stream's log of the rows it wrote, and the
# gate inside the freeze only checks that the log still covers every
# change: the journal must say so, for cutover and failback.
#
# Then the proof's other side: a row removed from the target by hand (not
# by the stream) makes the proof fail, and the cutover is refused naming
# the table, with nothing switched.
source "$(dirname "$0")/lib.sh"
source "$ROOT/scripts/lib/pgbouncer.sh"
trap 'pgb_stop_all; it_cleanup' EXIT

SETUP_SOURCE_SQL="
CREATE TABLE audit_log (at timestamptz NOT NULL DEFAULT now(), who text, amount numeric(12,2), note text);
ALTER TABLE audit_log REPLICA IDENTITY FULL;
INSERT INTO audit_log (at, who, amount, note)
  SELECT timestamptz '2024-01-01' + g * interval '1 second', 'seed', g / 100.0, repeat('x', g % 40)
    FROM generate_series(1, 200000) g;
CREATE TABLE tags (tag text, n integer, seen date);
ALTER TABLE tags REPLICA IDENTITY FULL;
INSERT INTO tags SELECT 't' || g, 0, date '2024-01-01' FROM generate_series(1, 100) g;
INSERT INTO tags SELECT 't' || g, 0, date '2024-01-01' FROM generate_series(1, 20) g;"
setup_cutover_pair 1

cat >"$WORK/keyless.sql" <<'EOF'
\set t random(1, 100)
BEGIN;
INSERT INTO audit_log (who, amount, note) VALUES ('load', :t * 1.25, NULL);
UPDATE tags SET n = n + 1, seen = current_date WHERE tag = 't' || :t;
WITH gone AS (DELETE FROM tags WHERE tag = 't' || (:t % 7) RETURNING *)
  INSERT INTO tags SELECT tag, n + 1, seen FROM gone;
COMMIT;
EOF

log "load through pgbouncer: 200 tx/s appending audit_log, updating, deleting and re-inserting tags"
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$BNC_PORT" -U postgres -n -c 4 -j 2 -R 200 -T 900 \
  -f "$WORK/keyless.sql" app >"$WORK/load.log" 2>&1 &
LOAD_PID=$!; BACKGROUND+=("$LOAD_PID")
sleep 4

# gate_detail RUN -> the parity gate's journal detail.
gate_detail() {
  pgc_psql TGT -c "SELECT detail FROM switchyard.switch_journal WHERE run_id = $1 AND step = 'parity gate'"
}
check_gate() {
  local detail
  detail=$(gate_detail "$1")
  log "run $1 gate: $detail"
  case "$detail" in
    *"compared whole"*) fail "run $1: the gate compared a table whole with writes frozen" ;;
  esac
  local proven=${detail#*proven by the stream\'s row log (no key):}
  [ "$proven" != "$detail" ] || fail "run $1: no table was proven by the stream's log"
  for table in public.audit_log public.tags; do
    [[ " $proven " == *" $table "* ]] || fail "run $1: $table was not proven by the stream's log"
  done
}
last_run() { pgc_psql TGT -c "SELECT max(run_id) FROM switchyard.switch_runs"; }

# The cutover is held for a second after each source read of its proof
# (a failpoint), so that the stream writes a good many rows of each kind
# between the source's snapshot and the target's: the proof must account
# for every one of them.
log "cutover, held 1 s inside each proof"
SWITCHYARD_FAILPOINT="keyless_proof:source_read=stop" "$SY" -c "$WORK/cfg.yaml" cutover \
  >"$WORK/cutover.log" 2>&1 &
pid=$!; BACKGROUND+=("$pid")
holds=0
while state=$(ps -o stat= -p "$pid" 2>/dev/null) && [ -n "$state" ]; do
  if [[ "$state" == T* ]]; then
    sleep 1; kill -CONT "$pid"; holds=$((holds + 1))
  fi
  sleep 0.1
done
wait "$pid" || { cat "$WORK/cutover.log"; fail "cutover"; }
[ "$holds" -ge 2 ] || fail "the proof was held $holds times"
grep -q "port=$TGT_PORT" "$BNC_DATABASES" || fail "router not switched"
check_gate "$(last_run)"
# proof_counts TABLE -> "ADDED REMOVED", from the cutover's log.
proof_counts() {
  sed -n "s/.*$1: equal at source position .* by the \([0-9]*\) rows the stream added and \([0-9]*\) it removed since/\1 \2/p" \
    "$WORK/cutover.log" | tail -1
}
read -r added removed <<<"$(proof_counts public.tags)"
[ "${removed:-0}" -gt 50 ] && [ "${added:-0}" -gt 50 ] || fail "tags was proven over $added added and $removed removed rows; the hold was meant to make many"
read -r added _ <<<"$(proof_counts public.audit_log)"
[ "${added:-0}" -gt 50 ] || fail "audit_log was proven over $added added rows"
log "ok: proven across the holds: tags $(proof_counts public.tags) (added removed), audit_log $(proof_counts public.audit_log)"
sleep 4

log "failback"
"$SY" -c "$WORK/cfg.yaml" failback >"$WORK/failback.log" 2>&1 || { cat "$WORK/failback.log"; fail "failback"; }
grep -q "port=$SRC_PORT" "$BNC_DATABASES" || fail "router not switched back"
check_gate "$(last_run)"
sleep 2

grep -Eqi "error|abort" "$WORK/load.log" && { grep -Ei "error|abort" "$WORK/load.log" | head -5 >&2; fail "the load saw failed transactions"; }
log "ok: cutover and failback proved both keyless tables without comparing them frozen, 0 failed transactions"

log "a row removed from the target by hand is found, and the cutover refused"
kill -TERM "$LOAD_PID"; wait "$LOAD_PID" 2>/dev/null || true
wait_parity 60 public.audit_log public.tags
# (The replica is fenced after the failback: this session opts out.)
pgc_psql TGT -c "BEGIN READ WRITE; DELETE FROM audit_log WHERE ctid = (SELECT ctid FROM audit_log WHERE who = 'seed' LIMIT 1); COMMIT"
rc=0; "$SY" -c "$WORK/cfg.yaml" cutover >"$WORK/refused.log" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "cutover succeeded over a damaged keyless table"
grep -q "audit_log" "$WORK/refused.log" || { tail -5 "$WORK/refused.log"; fail "the refusal does not name audit_log"; }
grep -q "port=$SRC_PORT" "$BNC_DATABASES" || fail "router moved on a refused cutover"
[ "$(fenced SRC)" = off ] || fail "the source was left fenced"
log "ok: refused (exit $rc): $(tail -n 1 "$WORK/refused.log")"
log "PASS"
