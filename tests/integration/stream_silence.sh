# A replication connection that goes silent without closing (a firewall
# dropping its state, a VM migrated; here the source's walsender stopped
# with SIGSTOP, so TCP still answers) must be noticed within
# stream.receive_timeout, logged, and reconnected; once the source answers
# again the stream resumes and loses nothing.
source "$(dirname "$0")/lib.sh"

pgc_start SRC
pgc_start TGT
pgc_psql SRC -c "CREATE TABLE notes (id int PRIMARY KEY, body text)"
cfg=$WORK/sy.yaml
write_config "$cfg" "stream: { receive_timeout: 4s, reconnect_max: 1s }"
"$SY" -c "$cfg" init 2>>"$WORK/replicate.log"
start_replicate "$cfg" "$WORK/replicate.log"
wait_streaming "$cfg"
pgc_psql SRC -c "INSERT INTO notes VALUES (1, 'before')"
wait_parity 60 public.notes

walsender=$(pgc_psql SRC -c "SELECT pid FROM pg_stat_replication LIMIT 1")
[ -n "$walsender" ] || fail "no walsender"
log "stopping the walsender ($walsender) with SIGSTOP"
pgc_as_owner kill -STOP "$walsender"
BACKGROUND+=("$walsender")  # never left stopped: cleanup kills it
detected=""
for _ in $(seq 1 150); do
  if grep -q "nothing received on the replication connection" "$WORK/replicate.log"; then detected=yes; break; fi
  sleep 0.1
done
[ -n "$detected" ] || { tail -5 "$WORK/replicate.log"; fail "a silent connection was not detected within 15 s (receive_timeout 4 s)"; }
log "ok: $(grep -m1 -o 'source: nothing received.*' "$WORK/replicate.log")"
kill -0 "$REPLICATE_PID" || fail "replicate exited instead of reconnecting"

pgc_psql SRC -c "INSERT INTO notes VALUES (2, 'while silent')"
pgc_as_owner kill -CONT "$walsender"
log "walsender resumed; the stream must reconnect and catch up"
pgc_psql SRC -c "INSERT INTO notes VALUES (3, 'after')"
wait_parity 60 public.notes || { tail -8 "$WORK/replicate.log"; fail "the stream did not resume"; }
"$SY" -c "$cfg" verify --once >"$WORK/verify.log" 2>&1 || fail "verify"
log "PASS"
