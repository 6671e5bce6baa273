# Throwaway pgbouncers on loopback, in front of clusters from pgcluster.sh.
# Source this file after pgcluster.sh; it defines functions only.
#
#   pgb_start NAME CLUSTER [pgbouncer.ini lines...]
#       -> a pgbouncer on a free port, transaction pooling, whose database
#          "app" points at CLUSTER's "app"; sets NAME_PORT, NAME_DIR and
#          NAME_DATABASES (the %include-d file that holds the [databases]
#          entries, the file switchyard's router rewrites)
#   pgb_admin NAME "SHOW DATABASES"   -> runs a command on the admin console
#   pgb_stop_all
#
# Under root pgbouncer runs as the `postgres` system user (it refuses root).
# Clients and the admin user "pgbouncer" are trusted.

PGB_BOUNCERS=()

pgb_start() {
  local name=$1 cluster=$2; shift 2
  local dir port attempt up cluster_port_var="${cluster}_PORT"
  dir=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-$name.XXXXXX")
  echo "app = host=127.0.0.1 port=${!cluster_port_var} dbname=app" >"$dir/databases.ini"
  echo '"postgres" ""' >"$dir/userlist.txt"
  echo '"pgbouncer" ""' >>"$dir/userlist.txt"
  # pgbouncer -d returns 0 before it binds its port, so a port taken in the
  # meantime shows only as a pgbouncer that never answers: try another.
  for attempt in 1 2 3 4 5; do
    port=$(pgc_free_port)
    pgb_write_ini "$dir" "$port" "$@"
    : >"$dir/pgbouncer.log"
    [ "$(id -u)" = 0 ] && chown -R postgres: "$dir"
    pgc_as_owner pgbouncer -d "$dir/pgbouncer.ini" >/dev/null 2>&1 ||
      { cat "$dir/pgbouncer.log" >&2; return 1; }
    up=0
    for _ in $(seq 1 50); do
      if PGCONNECT_TIMEOUT=2 "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U pgbouncer -d pgbouncer -qAtX -c "SHOW VERSION" \
        >/dev/null 2>&1; then
        up=1
        break
      fi
      grep -q "Address already in use" "$dir/pgbouncer.log" 2>/dev/null && break
      sleep 0.1
    done
    [ "$up" = 1 ] && break
    local pid
    pid=$(cat "$dir/pgbouncer.pid" 2>/dev/null) && kill "$pid" 2>/dev/null
    for _ in $(seq 1 20); do
      [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if [ "$attempt" = 5 ]; then
      echo "pgbouncer $name did not come up on port $port:" >&2
      cat "$dir/pgbouncer.log" >&2
      return 1
    fi
    sleep 0.2
  done
  printf -v "${name}_PORT" '%s' "$port"
  printf -v "${name}_DIR" '%s' "$dir"
  printf -v "${name}_DATABASES" '%s' "$dir/databases.ini"
  PGB_BOUNCERS+=("$dir")
}

# pgb_write_ini DIR PORT [extra lines...]: the pgbouncer.ini for pgb_start.
pgb_write_ini() {
  local dir=$1 port=$2; shift 2
  {
    echo "[databases]"
    echo "%include $dir/databases.ini"
    echo "[pgbouncer]"
    echo "listen_addr = 127.0.0.1"
    echo "listen_port = $port"
    echo "unix_socket_dir = $dir"
    echo "auth_type = trust"
    echo "auth_file = $dir/userlist.txt"
    echo "admin_users = pgbouncer"
    echo "pool_mode = transaction"
    echo "max_client_conn = 200"
    echo "default_pool_size = 20"
    echo "logfile = $dir/pgbouncer.log"
    echo "pidfile = $dir/pgbouncer.pid"
    # After a PAUSE closes a server connection that was still logging in,
    # pgbouncer waits server_login_retry (15 s by default) before opening
    # any new one: every client would wait that long after RESUME.
    echo "server_login_retry = 0.1"
    for line in "$@"; do echo "$line"; done
  } >"$dir/pgbouncer.ini"
}

pgb_admin() {
  local name=$1; shift
  local port_var="${name}_PORT"
  "$PG_BIN/psql" -h 127.0.0.1 -p "${!port_var}" -U pgbouncer -d pgbouncer -qAtX "$@"
}

pgb_stop_all() {
  local dir
  for dir in "${PGB_BOUNCERS[@]}"; do
    [ -f "$dir/pgbouncer.pid" ] && kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null
    rm -rf "$dir"
  done
  PGB_BOUNCERS=()
}
