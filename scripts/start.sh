#!/usr/bin/env bash
# Starts the whole system on this machine: PostgreSQL under .data/ (created on first run, installing
# the Debian package when missing), the schema migrations, one silo and the API on
# http://127.0.0.1:5080. Ctrl-C stops what it started. `scripts/start.sh stop` stops a running one.
# Data survives a restart.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
source scripts/lib/postgres.sh

data=${QUBRID_DATA_DIR:-$root/.data}
pg_port=${QUBRID_PG_PORT:-55432}
api_urls=${ASPNETCORE_URLS:-http://127.0.0.1:5080}
run=$data/run
mkdir -p "$run" "$data/logs"

stop_all() {
  for name in api silo; do
    if [ -f "$run/$name.pid" ]; then
      kill "$(cat "$run/$name.pid")" 2>/dev/null || true
      for _ in $(seq 1 60); do kill -0 "$(cat "$run/$name.pid")" 2>/dev/null || break; sleep 0.5; done
      rm -f "$run/$name.pid"
    fi
  done
  pg_stop "$data/pg"
}

if [ "${1:-}" = stop ]; then stop_all; echo "stopped"; exit 0; fi

pg_ensure_installed
ensure_curl
if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$data"; then
  echo "The 'postgres' user cannot reach $data (a parent folder is not searchable)." >&2
  echo "Move the checkout under a searchable folder or set QUBRID_DATA_DIR to one." >&2
  exit 1
fi

if [ ! -f "$data/secrets" ]; then
  umask 077
  { echo "db_password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
    echo "admin_key=qbk_admin_$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"; } > "$data/secrets"
  umask 022
fi
db_password=$(sed -n 's/^db_password=//p' "$data/secrets")
admin_key=${Qubrid__BootstrapAdminKey:-$(sed -n 's/^admin_key=//p' "$data/secrets")}

if [ ! -f "$data/pg/PG_VERSION" ]; then
  echo "Creating the PostgreSQL cluster in $data/pg ..."
  pwfile=$(mktemp); echo "$db_password" > "$pwfile"
  [ "$(id -u)" = 0 ] && chown postgres "$pwfile"
  pg_init "$data/pg" scram-sha-256 "$pwfile"
  rm -f "$pwfile"
fi
if pg_port_in_use "$pg_port" && [ ! -f "$data/pg/postmaster.pid" ]; then
  echo "Port $pg_port is taken by another program: set QUBRID_PG_PORT to a free one." >&2; exit 1
fi
[ -f "$data/pg/postmaster.pid" ] || pg_start "$data/pg" "$pg_port" "$data/logs/postgres.log"
trap 'echo; echo "stopping..."; stop_all' EXIT
trap 'exit 130' INT TERM

export PGPASSWORD=$db_password
psql_admin() { "$PG_BIN/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtAc "$1"; }
if [ -z "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname = 'qubrid'")" ]; then
  psql_admin "CREATE ROLE qubrid LOGIN PASSWORD '$db_password'"
fi
if [ -z "$(psql_admin "SELECT 1 FROM pg_database WHERE datname = 'qubrid'")" ]; then
  psql_admin "CREATE DATABASE qubrid OWNER qubrid"
fi
unset PGPASSWORD

export ConnectionStrings__Qubrid="Host=127.0.0.1;Port=$pg_port;Database=qubrid;Username=qubrid;Password=$db_password"
export Qubrid__BootstrapAdminKey=$admin_key
export DOTNET_ENVIRONMENT=${DOTNET_ENVIRONMENT:-Production}

echo "Building ..."
dotnet build -c Release -v quiet -nologo Qubrid.Orleans.sln >/dev/null

# The silo applies the migrations before it joins the cluster.
dotnet src/Silo/bin/Release/net10.0/Qubrid.Silo.dll > "$data/logs/silo.log" 2>&1 &
echo $! > "$run/silo.pid"
ASPNETCORE_URLS=$api_urls dotnet src/Api/bin/Release/net10.0/Qubrid.Api.dll > "$data/logs/api.log" 2>&1 &
echo $! > "$run/api.pid"

ready_url="${api_urls%%;*}/health/ready"
for _ in $(seq 1 120); do
  if curl -fsS "$ready_url" >/dev/null 2>&1; then break; fi
  for name in silo api; do
    kill -0 "$(cat "$run/$name.pid")" 2>/dev/null || { echo "The $name stopped; see $data/logs/$name.log:" >&2; tail -20 "$data/logs/$name.log" >&2; exit 1; }
  done
  sleep 1
done
cat <<MSG
Qubrid is running.
  API and billing page: ${api_urls%%;*}/
  PostgreSQL:           127.0.0.1:$pg_port, database qubrid (password in $data/secrets)
  admin API key:        $admin_key
  logs:                 $data/logs/
Press Ctrl-C to stop (or run scripts/start.sh stop from another terminal).
MSG
wait -n "$(cat "$run/silo.pid")" "$(cat "$run/api.pid")" || true
echo "A process ended; see $data/logs/." >&2
