# Exactly-once under crashes: pgbench plus a mixed-type writer run for more
# than 60 s while `replicate` is SIGKILLed at random moments (once during the
# initial copy, three times while streaming) and its connections are cut on
# both sides. Afterwards every table on the target equals the source, by a
# digest computed by the servers themselves.
source "$(dirname "$0")/lib.sh"
LOAD_SECONDS=${LOAD_SECONDS:-75}

start_mixed_workload_clusters
cfg=$WORK/sy.yaml
write_config "$cfg" "stream: { status_interval: 5s }" \
  "tables: { include: [\"public.*\", \"Other Schema.*\"] }"
mapfile -t TABLES < <(source_tables)
rlog=$WORK/replicate.log

restart() {
  start_replicate "$cfg" "$rlog"
  log "replicate running as $REPLICATE_PID"
}
crash() {
  kill -9 "$REPLICATE_PID" 2>/dev/null || fail "replicate had already died: $(tail -3 "$rlog")"
  wait "$REPLICATE_PID" 2>/dev/null || true
  log "SIGKILL sent to $REPLICATE_PID"
}

log "kill -9 during the initial copy"
restart
sleep 0.7
crash
restart

log "load for ${LOAD_SECONDS}s: pgbench (TPC-B-like) + mixed types writer"
start_mixed_load "$LOAD_SECONDS" 400

# Each kill while streaming, as said above: on a loaded machine the copy
# a kill restarted can take longer than the pause.
for round in 1 2 3; do
  wait_streaming "$cfg"
  sleep $(( 6 + RANDOM % 10 )).$(( RANDOM % 10 ))
  crash
  sleep 0.$(( RANDOM % 10 ))
  restart
done
wait_streaming "$cfg"
sleep 4
log "cut the walsender connection on the source"
pgc_psql SRC -c "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE active" >/dev/null
sleep 4
log "cut the apply connection on the target"
pgc_psql TGT -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'switchyard-target'" >/dev/null

wait "$BENCH_PID" || { cat "$WORK/pgbench.log"; fail "pgbench failed"; }
wait "$TYPES_PID" || { cat "$WORK/types-load.log"; fail "types writer failed"; }
kill -0 "$REPLICATE_PID" 2>/dev/null || { tail -20 "$rlog"; fail "replicate did not survive the connection cuts"; }
grep -q "reconnecting" "$rlog" || fail "no reconnect logged"
log "load done: $(grep -h 'number of transactions actually processed' "$WORK/pgbench.log" "$WORK/types-load.log" | tr '\n' ' ')"

wait_parity 240 "${TABLES[@]}"
log "parity on ${#TABLES[@]} tables: $(for t in "${TABLES[@]}"; do printf '%s=%s ' "$t" "$(table_digest TGT "$t" | cut -d' ' -f1)"; done)"

# The lag reported every 5 s, as plain JSON numbers (not 9.2308E-2).
status=$("$SY" -c "$cfg" status --json)
echo "$status" | grep -Eq '"lag_milliseconds":[0-9]+[,}]' || fail "status --json: no lag in milliseconds: $status"
echo "$status" | grep -Eq ':-?[0-9.]+[eE][-+]?[0-9]' && fail "status --json: a number in exponent form: $status"

kill -TERM "$REPLICATE_PID"
rc=0; wait "$REPLICATE_PID" || rc=$?
[ "$rc" = 0 ] || { tail -20 "$rlog"; fail "replicate exited $rc on SIGTERM"; }
echo "crash_restart: passed"
