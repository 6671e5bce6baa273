# Throwaway PostgreSQL 15 clusters on loopback, for tests, benchmarks and
# the demo. Source this file; it defines functions only.
#
#   pgc_start NAME [postgresql.conf lines...]   -> sets NAME_PORT, NAME_DIR
#   pgc_psql NAME [psql args...]                 -> psql as postgres to db "app"
#   pgc_stop_all                                 -> stops every cluster started here
#
# Clusters live in temp dirs on free ports. Under root, the server runs as
# the `postgres` system user (initdb refuses root). Host connections are
# trusted except for the role `secured`, which needs its password, so tests
# can exercise authentication failures.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PGC_CLUSTERS=()

pgc_as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# Ports are drawn below the kernel's ephemeral range: a port in that range
# can be the local end of any client connection at the moment a server tries
# to bind it.
pgc_free_port() {
  local port low=32768 span
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  span=$(( low - 10000 ))
  [ "$span" -ge 1000 ] || span=20000
  for _ in $(seq 1 200); do
    port=$(( 10000 + RANDOM % span ))
    if ! (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "no free port found" >&2
  return 1
}

pgc_start() {
  local name=$1; shift
  local dir port attempt
  dir=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-$name.XXXXXX")
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  pgc_as_owner "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$dir'"
    echo "wal_level = logical"
    echo "max_replication_slots = 10"
    echo "max_wal_senders = 10"
    echo "shared_buffers = 256MB"
    echo "fsync = off"
    echo "full_page_writes = off"
    echo "max_wal_size = 4GB"
    echo "logging_collector = off"
    echo "log_min_messages = warning"
    for line in "$@"; do echo "$line"; done
  } >>"$dir/data/postgresql.conf"
  {
    echo "host all secured 127.0.0.1/32 scram-sha-256"
    echo "host all all 127.0.0.1/32 trust"
    echo "host replication secured 127.0.0.1/32 scram-sha-256"
    echo "host replication all 127.0.0.1/32 trust"
  } >"$dir/data/pg_hba.conf.new"
  cat "$dir/data/pg_hba.conf" >>"$dir/data/pg_hba.conf.new"
  mv "$dir/data/pg_hba.conf.new" "$dir/data/pg_hba.conf"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir/data/pg_hba.conf"
  # A free port can be taken by someone else before the server binds it
  # (tests run two at a time): then try another.
  for attempt in 1 2 3 4 5; do
    port=$(pgc_free_port)
    pgc_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "-p $port" -w -t 60 \
      start >/dev/null && break
    if [ "$attempt" = 5 ] || ! grep -q "Address already in use" "$dir/server.log"; then
      cat "$dir/server.log" >&2
      return 1
    fi
  done
  "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAtX \
    -c "CREATE DATABASE app" >/dev/null
  printf -v "${name}_PORT" '%s' "$port"
  printf -v "${name}_DIR" '%s' "$dir"
  PGC_CLUSTERS+=("$dir")
}

pgc_psql() {
  local name=$1; shift
  local port_var="${name}_PORT"
  "$PG_BIN/psql" -h 127.0.0.1 -p "${!port_var}" -U postgres -d app -qAtX -v ON_ERROR_STOP=1 "$@"
}

pgc_conninfo() {
  local name=$1
  local port_var="${name}_PORT"
  echo "host=127.0.0.1 port=${!port_var} dbname=app user=postgres"
}

pgc_stop_all() {
  local dir
  for dir in "${PGC_CLUSTERS[@]}"; do
    pgc_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
  done
  PGC_CLUSTERS=()
}
