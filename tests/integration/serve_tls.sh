# serve over HTTPS (service.tls_cert / tls_key):
#  - only one of the two, a certificate that cannot be read, or a key that
#    is not the certificate's: refused in one line (exit 2) before anything
#    starts;
#  - with both, /healthz, /api/v1/status and the events stream answer over
#    TLS; a client speaking plain HTTP or offering only TLS 1.1 gets nothing,
#    and the service keeps answering; SIGTERM stops it cleanly.
source "$(dirname "$0")/lib.sh"

pgc_start SRC
pgc_start TGT
pgc_psql SRC -c "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' FROM generate_series(1, 100) g"
PORT=$(pgc_free_port)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -days 2 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1 || fail "openssl req"
openssl genrsa -out "$WORK/other.pem" 2048 >/dev/null 2>&1 || fail "openssl genrsa"
listen="listen: \"127.0.0.1:$PORT\""

write_config "$WORK/half.yaml" "service: { $listen, tls_cert: $WORK/cert.pem }"
expect_failure 2 "service: give both tls_cert and tls_key" -- "$SY" -c "$WORK/half.yaml" serve
write_config "$WORK/nocert.yaml" "service: { $listen, tls_cert: $WORK/none.pem, tls_key: $WORK/key.pem }"
expect_failure 2 "service.tls_cert: cannot use $WORK/none.pem" -- "$SY" -c "$WORK/nocert.yaml" serve
write_config "$WORK/wrongkey.yaml" "service: { $listen, tls_cert: $WORK/cert.pem, tls_key: $WORK/other.pem }"
expect_failure 2 "service.tls_key: cannot use $WORK/other.pem" -- "$SY" -c "$WORK/wrongkey.yaml" serve
[ "$(pgc_psql SRC -c "SELECT count(*) FROM pg_replication_slots")" = 0 ] || fail "a refused serve created a slot"

write_config "$WORK/sy.yaml" "service: { $listen, tls_cert: $WORK/cert.pem, tls_key: $WORK/key.pem }"
"$SY" -c "$WORK/sy.yaml" serve >"$WORK/serve.out" 2>"$WORK/serve.log" &
SERVE_PID=$!; BACKGROUND+=("$SERVE_PID")
URL=https://127.0.0.1:$PORT
code() { curl -s --cacert "$WORK/cert.pem" -o "$WORK/body" -w '%{http_code}' "$@"; }
for _ in $(seq 1 300); do [ "$(code "$URL/readyz")" = 200 ] && break; sleep 0.2; done
[ "$(code "$URL/readyz")" = 200 ] || { cat "$WORK/serve.log"; fail "/readyz over TLS: $(cat "$WORK/body")"; }
grep -q "listening on https://127.0.0.1:$PORT" "$WORK/serve.log" || fail "the log does not say https"
[ "$(code "$URL/api/v1/status")" = 200 ] || fail "/api/v1/status over TLS"
timeout 3 curl -s -N --cacert "$WORK/cert.pem" "$URL/api/v1/events" >"$WORK/events" || true
grep -q "^event: sample$" "$WORK/events" || fail "no events over TLS"
log "ok: readyz, status and events over TLS"

rc=0; curl -s -m 5 -o /dev/null "http://127.0.0.1:$PORT/healthz" || rc=$?
[ "$rc" != 0 ] || fail "plain HTTP was answered on the TLS port"
rc=0; curl -s -m 5 --cacert "$WORK/cert.pem" --tls-max 1.1 -o /dev/null "$URL/healthz" || rc=$?
[ "$rc" != 0 ] || fail "a TLS 1.1 client was served"
[ "$(code "$URL/healthz")" = 200 ] || fail "the service stopped answering after bad clients"
log "ok: plain HTTP (curl exit $rc) and TLS 1.1 get nothing; still answering"

kill -TERM "$SERVE_PID"
rc=0; wait "$SERVE_PID" || rc=$?
[ "$rc" = 0 ] || { tail -5 "$WORK/serve.log"; fail "serve exited $rc on SIGTERM"; }
log "PASS"
