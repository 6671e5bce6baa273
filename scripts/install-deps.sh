#!/usr/bin/env bash
# Installs every Debian 12 package that switchyard's build, tests, benchmarks
# and demo need. Idempotent: does nothing when all are present. Uses sudo
# when not run as root.
set -euo pipefail

PACKAGES=(
  # build
  g++ cmake ninja-build pkg-config
  libpq-dev unixodbc-dev libboost1.81-dev libboost-json1.81-dev libxxhash-dev
  libyaml-cpp-dev libspdlog-dev libcli11-dev catch2 prometheus-cpp-dev libsystemd-dev libssl-dev openssl
  # the Debian package (cpack: dpkg-shlibdeps) and its systemd unit's check
  dpkg-dev systemd
  # servers and tools for the tests, the demo and the benchmarks
  postgresql-15 postgresql-client-15 pgbouncer pgcopydb
  # ODBC legacy sources: MariaDB and its driver, SQLite's driver
  mariadb-server odbc-mariadb libsqliteodbc sqlite3
  # serve's tests talk HTTP, lint /metrics with promtool, and drive the
  # dashboard in headless Chromium
  curl prometheus chromium chromium-driver python3-selenium
  # load for the ODBC tests (sysbench) and the peer of the ODBC snapshot benchmark
  sysbench pgloader
  # formatting check; fuzzing (clang's libFuzzer)
  clang-format clang libclang-rt-14-dev
)

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep "install ok installed" >/dev/null \
    || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=()
[ "$(id -u)" = 0 ] || SUDO=(sudo)
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
# The postgresql package starts a system cluster on port 5432; switchyard's
# tests never use it, they start their own clusters on free ports.
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
