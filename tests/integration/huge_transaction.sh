# One huge source transaction must not cost memory in proportion to its
# size. A 500k-row UPDATE, then one transaction deleting 100k rows and
# inserting 100k: the replicator's peak RSS may grow by a bounded amount
# only (it held every changed key until the commit before: ~100 bytes a
# key), the table's changed keys (an integer key) become a few key ranges
# instead of 500k keys, and both sides end equal. A 60k-row transaction on a
# table keyed by text, whose keys form no ranges, marks it whole instead.
source "$(dirname "$0")/lib.sh"

pgc_start SRC
pgc_start TGT
pgc_psql SRC -c "CREATE TABLE ledger (id int PRIMARY KEY, amount bigint NOT NULL, memo text)"
pgc_psql SRC -c "INSERT INTO ledger SELECT g, g, 'entry ' || g FROM generate_series(1, 500000) g"
pgc_psql SRC -c "CREATE TABLE codes (code text PRIMARY KEY, uses bigint NOT NULL)"
pgc_psql SRC -c "INSERT INTO codes SELECT md5(g::text), 0 FROM generate_series(1, 60000) g"
cfg=$WORK/sy.yaml
write_config "$cfg"
"$SY" -c "$cfg" init 2>>"$WORK/replicate.log"
start_replicate "$cfg" "$WORK/replicate.log"
wait_streaming "$cfg"
wait_parity 120 public.ledger public.codes
"$SY" -c "$cfg" verify --once >"$WORK/verify.log" 2>&1 || fail "first verify"

peak_kb() { awk '/^VmHWM/ { print $2 }' "/proc/$REPLICATE_PID/status"; }
base=$(peak_kb)
log "replicate's peak RSS before: $((base / 1024)) MB"
# A sample of replicate's memory every second, to say when and where it
# grew if the bound is broken (anonymous or file pages, huge pages, threads).
(
  while [ -r "/proc/$REPLICATE_PID/smaps_rollup" ]; do
    printf '%s %s\n' "$(date +%T)" "$(awk '/^(Rss|Anonymous|AnonHugePages|Shared_Clean|Private_Clean):/ { printf "%s%s ", $1, $2 }' "/proc/$REPLICATE_PID/smaps_rollup") threads:$(ls "/proc/$REPLICATE_PID/task" | wc -l)"
    sleep 1
  done
) >"$WORK/memory.log" 2>/dev/null &
BACKGROUND+=($!)

pgc_psql SRC -c "UPDATE ledger SET amount = amount + 1"
pgc_psql SRC <<'SQL'
BEGIN;
DELETE FROM ledger WHERE id <= 100000;
INSERT INTO ledger SELECT g, -g, 'moved ' || g FROM generate_series(500001, 600000) g;
COMMIT;
SQL
pgc_psql SRC -c "UPDATE codes SET uses = uses + 1"
wait_parity 600 public.ledger public.codes || { tail -5 "$WORK/replicate.log"; fail "the huge transactions did not arrive"; }
peak=$(peak_kb)
growth=$(( (peak - base) / 1024 ))
log "replicate's peak RSS after: $((peak / 1024)) MB (+$growth MB)"
# marks TABLE -> "whole keys ranges": whole-table marks, keys and ranges listed.
marks() {
  pgc_psql TGT -c "SELECT count(*) FILTER (WHERE keys = '{}' AND key_ranges = '{}') || ' ' || coalesce(sum(array_length(keys, 1)), 0) || ' ' || coalesce(sum(array_length(key_ranges, 1)), 0) FROM switchyard.dirty_keys WHERE table_name = '$1'"
}
read -r whole keys ranges <<<"$(marks ledger)"
[ "$whole" = 0 ] || fail "ledger is marked whole after a 500k-row transaction; its key is an integer"
[ $((keys + ranges)) -le 100 ] || fail "ledger's marks list $keys keys and $ranges ranges"
read -r codes_whole codes_keys _ <<<"$(marks codes)"
[ "$codes_whole" = 1 ] || fail "codes is not marked whole after a 60k-row transaction ($codes_keys keys listed)"
[ "$codes_keys" -le 50000 ] || fail "$codes_keys keys of codes marked one by one"
if sanitized_build; then
  log "sanitizer build: RSS bound not checked"
else
  if [ "$growth" -ge 64 ]; then
    echo "--- replicate's memory (kB) each second; transparent huge pages: $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)" >&2
    cat "$WORK/memory.log" >&2
    fail "replicate's peak RSS grew by $growth MB for one transaction"
  fi
fi
"$SY" -c "$cfg" verify --once >>"$WORK/verify.log" 2>&1 || fail "verify after the huge transactions"
log "ok: peak RSS +$growth MB, ledger marked by $ranges ranges and $keys keys, codes whole, verify clean"
log "PASS"
