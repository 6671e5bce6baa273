# Throwaway MariaDB servers on loopback, for tests, benchmarks and the demo.
# Source this file (after pgcluster.sh, for pgc_free_port); it defines
# functions only.
#
#   mdb_start NAME [my.cnf lines...]   -> sets NAME_PORT, NAME_DIR, NAME_SOCKET
#   mdb_sql NAME [mariadb args...]      -> the client as root, database "shop"
#   mdb_stop_all                        -> stops every server started here
#
# Servers live in temp dirs on free ports below the ephemeral range. Under
# root, the server runs as the `mysql` system user. MariaDB's root has no
# password and is reached through the server's socket, in a directory only
# its owner can enter; tests create their own users for TCP connections.

MDB_SERVERS=()

mdb_as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u mysql -- "$@"
  else
    "$@"
  fi
}

mdb_start() {
  local name=$1; shift
  local dir port attempt
  dir=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-$name.XXXXXX")
  [ "$(id -u)" = 0 ] && chown mysql: "$dir"
  {
    echo "[mariadbd]"
    echo "datadir = $dir/data"
    echo "socket = $dir/mysqld.sock"
    echo "pid-file = $dir/mysqld.pid"
    echo "log-error = $dir/server.log"
    echo "bind-address = 127.0.0.1"
    echo "skip-name-resolve"
    echo "innodb_buffer_pool_size = 256M"
    echo "innodb_flush_log_at_trx_commit = 2"
    echo "character-set-server = utf8mb4"
    echo "collation-server = utf8mb4_general_ci"
    for line in "$@"; do echo "$line"; done
  } >"$dir/my.cnf"
  [ "$(id -u)" = 0 ] && chown mysql: "$dir/my.cnf"
  mdb_as_owner mariadb-install-db --defaults-file="$dir/my.cnf" --auth-root-authentication-method=normal \
    --skip-test-db >"$dir/install.log" 2>&1 || { cat "$dir/install.log" >&2; return 1; }
  for attempt in 1 2 3 4 5; do
    port=$(pgc_free_port)
    mdb_as_owner mariadbd --defaults-file="$dir/my.cnf" --port="$port" >/dev/null 2>&1 &
    local _
    for _ in $(seq 1 100); do
      [ -S "$dir/mysqld.sock" ] && break
      grep -q "Do you already have another server running" "$dir/server.log" 2>/dev/null && break
      sleep 0.1
    done
    [ -S "$dir/mysqld.sock" ] && break
    if [ "$attempt" = 5 ]; then
      cat "$dir/server.log" >&2
      return 1
    fi
  done
  printf -v "${name}_PORT" '%s' "$port"
  printf -v "${name}_DIR" '%s' "$dir"
  printf -v "${name}_SOCKET" '%s' "$dir/mysqld.sock"
  MDB_SERVERS+=("$dir")
  mdb_sql "$name" --database= -e "CREATE DATABASE shop CHARACTER SET utf8mb4"
}

mdb_sql() {
  local name=$1; shift
  local socket_var="${name}_SOCKET"
  mariadb --socket="${!socket_var}" -uroot --database=shop --batch --skip-column-names "$@"
}

mdb_stop_all() {
  local dir
  for dir in "${MDB_SERVERS[@]}"; do
    [ -f "$dir/mysqld.pid" ] && kill -9 "$(cat "$dir/mysqld.pid")" 2>/dev/null || true
    rm -rf "$dir"
  done
  MDB_SERVERS=()
}
