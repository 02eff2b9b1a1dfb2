# The pieces of a running Qubrid system on one machine, shared by start.sh and cluster.sh. Source it.
# Everything it starts is recorded as a pid file under $run, so that stopping stops exactly that.
source "$(dirname "${BASH_SOURCE[0]}")/postgres.sh"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
data=${QUBRID_DATA_DIR:-$root/.data}
pg_port=${QUBRID_PG_PORT:-55432}
api_urls=${ASPNETCORE_URLS:-http://127.0.0.1:5080}
run=$data/run
logs=$data/logs
source "$(dirname "${BASH_SOURCE[0]}")/replication.sh"
source "$(dirname "${BASH_SOURCE[0]}")/patroni.sh"
source "$(dirname "${BASH_SOURCE[0]}")/haproxy.sh"
source "$(dirname "${BASH_SOURCE[0]}")/upgrade.sh"
# The folder whose build the processes run (scripts/cluster.sh upgrade points it at another release's build).
bin_root=${QUBRID_BIN_ROOT:-$( [ -f "$data/bin-root" ] && cat "$data/bin-root" || echo "$root")}

# Installs what is missing, creates and starts PostgreSQL (once), the role and database, builds, exports the settings.
system_prepare() {
  mkdir -p "$run" "$logs"
  pg_ensure_installed
  ensure_curl
  if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$data"; then
    echo "The 'postgres' user cannot reach $data (a parent folder is not searchable)." >&2
    echo "Move the checkout under a searchable folder or set QUBRID_DATA_DIR to one." >&2
    return 1
  fi
  if [ ! -f "$data/secrets" ]; then
    (umask 077
     { echo "db_password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
       echo "admin_key=qbk_admin_$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"; } > "$data/secrets")
  fi
  db_password=$(sed -n 's/^db_password=//p' "$data/secrets")
  admin_key=${Qubrid__BootstrapAdminKey:-$(sed -n 's/^admin_key=//p' "$data/secrets")}
  if patroni_enabled; then
    if ha_enabled; then echo "$data has a hand-run standby (--standby): --ha needs another data folder." >&2; return 1; fi
    patroni_up
    system_create_database "$(pat_leader_port)"
  else
    system_prepare_postgres
  fi
  export_connection_string
  export Qubrid__BootstrapAdminKey=$admin_key
  export DOTNET_ENVIRONMENT=${DOTNET_ENVIRONMENT:-Production}
  echo "Building ..."
  (cd "$root" && dotnet build -c Release -v quiet -nologo Qubrid.Orleans.sln >/dev/null)
  tls_settings create
  # The processes run the build just made, whatever release `scripts/cluster.sh upgrade` last rolled to.
  bin_root=${QUBRID_BIN_ROOT:-$root}; rm -f "$data/bin-root"
}

# One PostgreSQL, or a hand-run primary and synchronous standby (replication.sh).
system_prepare_postgres() {
  # With a standby (QUBRID_STANDBY=1, or once a data folder has one) the primary may be either folder (see replication.sh).
  local primary=pg
  ha_enabled && primary=$(primary_node)
  local primary_port; primary_port=$(node_port "$primary")
  if [ ! -f "$data/$primary/PG_VERSION" ]; then
    if [ "$primary" != pg ]; then echo "$data/pg-primary names $data/$primary as the primary, but it does not exist." >&2; return 1; fi
    echo "Creating the PostgreSQL cluster in $data/pg ..."
    local pwfile; pwfile=$(mktemp); echo "$db_password" > "$pwfile"
    [ "$(id -u)" = 0 ] && chown postgres "$pwfile"
    pg_init "$data/pg" scram-sha-256 "$pwfile"
    rm -f "$pwfile"
  fi
  ha_enabled && ha_prepare_primary
  if [ ! -f "$data/$primary/postmaster.pid" ]; then
    if pg_port_in_use "$primary_port"; then echo "Port $primary_port is taken by another program: set QUBRID_PG_PORT to a free one." >&2; return 1; fi
    pg_start "$data/$primary" "$primary_port" "$logs/postgres.log"
  fi
  system_create_database "$primary_port"
  if ha_enabled; then ha_start_standby; fi
}

# The role and database 'qubrid' on the primary at PORT, unless they exist.
system_create_database() {
  local psql=("$PG_BIN/psql" -h 127.0.0.1 -p "$1" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtAc)
  [ -n "$(PGPASSWORD=$db_password "${psql[@]}" "SELECT 1 FROM pg_roles WHERE rolname = 'qubrid'")" ] \
    || PGPASSWORD=$db_password "${psql[@]}" "CREATE ROLE qubrid LOGIN PASSWORD '$db_password'"
  [ -n "$(PGPASSWORD=$db_password "${psql[@]}" "SELECT 1 FROM pg_database WHERE datname = 'qubrid'")" ] \
    || PGPASSWORD=$db_password "${psql[@]}" "CREATE DATABASE qubrid OWNER qubrid"
}

# ConnectionStrings__Qubrid for the silos, the API and reconcile: one server, or the primary of two.
export_connection_string() {
  if patroni_enabled; then
    pat_load_ports
    export ConnectionStrings__Qubrid="$(patroni_connection_string)"
  elif ha_enabled; then
    export ConnectionStrings__Qubrid="$(ha_connection_string)"
  else
    export ConnectionStrings__Qubrid="Host=127.0.0.1;Port=$pg_port;Database=qubrid;Username=qubrid;Password=$db_password"
  fi
}

# Cluster TLS (Qubrid:Tls): silo to silo and API to gateway over mutual TLS with certificates from one CA.
# By default a local CA and one certificate are created once in $data/tls (kept across restarts); bring your own
# by setting Qubrid__Tls__CertificatePath, Qubrid__Tls__KeyPath (PEM) or Qubrid__Tls__CertificatePassword (.pfx)
# and Qubrid__Tls__CaPath; Qubrid__Tls__Enabled=false turns TLS off. `tls_settings create` may create the files.
tls_settings() {
  [ "${Qubrid__Tls__Enabled:-}" = false ] && return 0
  [ -n "${Qubrid__Tls__CertificatePath:-}" ] && return 0
  if [ "${1:-}" = create ] && [ ! -f "$data/tls/node.key" ]; then
    (cd "$root" && dotnet src/Silo/bin/Release/net10.0/Qubrid.Silo.dll tls create "$data/tls")
  fi
  export Qubrid__Tls__CertificatePath=$data/tls/node.crt Qubrid__Tls__KeyPath=$data/tls/node.key Qubrid__Tls__CaPath=$data/tls/ca.crt
}

# start_silo N: silo N listens on QUBRID_SILO_PORT_BASE+N (silo, default 11110+N), QUBRID_GATEWAY_PORT_BASE+N
# (gateway, default 29999+N) and QUBRID_HTTP_PORT_BASE+N (health and metrics, default 8080+N).
# The silo applies the migrations (under an advisory lock) before it joins the cluster.
start_silo() {
  local n=$1
  local silo_port=$(( ${QUBRID_SILO_PORT_BASE:-11110} + n )) gateway_port=$(( ${QUBRID_GATEWAY_PORT_BASE:-29999} + n )) http_port=$(( ${QUBRID_HTTP_PORT_BASE:-8080} + n ))
  (cd "$root" && exec env -u ASPNETCORE_URLS Qubrid__Silo__SiloPort=$silo_port Qubrid__Silo__GatewayPort=$gateway_port Qubrid__Silo__HttpPort=$http_port \
     dotnet "$bin_root/src/Silo/bin/Release/net10.0/Qubrid.Silo.dll") >> "$logs/silo$n.log" 2>&1 &
  echo $! > "$run/silo$n.pid"
  echo "  silo $n: pid $!, silo port $silo_port, gateway $gateway_port, http://127.0.0.1:$http_port/metrics"
}

# start_api: the API on $api_urls. start_api N: API process N behind the load balancer (scripts/lib/haproxy.sh), on its
# slot's port, serving for Qubrid:Api:DrainDelay (3 s unless set) after SIGTERM so that HAProxy takes it out first.
start_api() {
  if [ -n "${1:-}" ]; then
    local n=$1
    (cd "$root" && exec env ASPNETCORE_URLS="http://127.0.0.1:$(api_slot_port "$n")" Qubrid__Api__DrainDelay="${Qubrid__Api__DrainDelay:-00:00:03}" \
       dotnet "$bin_root/src/Api/bin/Release/net10.0/Qubrid.Api.dll") >> "$logs/api$n.log" 2>&1 &
    echo $! > "$run/api$n.pid"
    echo "  API $n: pid $!, http://127.0.0.1:$(api_slot_port "$n")/ (behind ${api_urls%%;*})"
    return 0
  fi
  (cd "$root" && exec env ASPNETCORE_URLS="$api_urls" dotnet "$bin_root/src/Api/bin/Release/net10.0/Qubrid.Api.dll") > "$logs/api.log" 2>&1 &
  echo $! > "$run/api.pid"
}

# Waits until the system answers as a user sees it: the API ready (database and at least one silo), the billing
# page at / (its HTML, scripts and styles), and the API reference at /scalar. Fails if a started process died.
# The processes themselves wait for each other (PostgreSQL, the schema, a live silo) with back-off, in any order.
wait_ready() {
  local base="${api_urls%%;*}" waited=0 limit=${QUBRID_READY_TIMEOUT:-300}
  while [ "$waited" -lt "$limit" ]; do
    if curl -fsS --max-time 5 "$base/health/ready" >/dev/null 2>&1 \
       && curl -fsS --max-time 5 "$base/" 2>/dev/null | grep -q 'data-testid="navbar-balance"' \
       && curl -fsS --max-time 5 -o /dev/null "$base/js/app.js" 2>/dev/null && curl -fsS --max-time 5 -o /dev/null "$base/css/app.css" 2>/dev/null \
       && curl -fsSL --max-time 5 -o /dev/null "$base/scalar" 2>/dev/null; then
      return 0
    fi
    for pidfile in "$run"/*.pid; do
      [ -f "$pidfile" ] || continue
      kill -0 "$(cat "$pidfile")" 2>/dev/null && continue
      local name; name=$(basename "$pidfile" .pid)
      echo "The $name process stopped; see $logs/$name.log:" >&2; tail -20 "$logs/$name.log" >&2; return 1
    done
    # Say what is missing now and then, so a slow first start does not look hung.
    if [ $((waited % 15)) = 14 ]; then
      echo "  waiting for the system ($waited s): $(curl -sS --max-time 5 "$base/health/ready" 2>&1 | head -c 160)" >&2
    fi
    sleep 1; waited=$((waited + 1))
  done
  echo "Not ready after $limit s; see $logs/." >&2; return 1
}

# Stops every process this system started (pid files), then PostgreSQL: the primary, the standby, restored copies.
stop_all() {
  for pidfile in "$run"/api*.pid "$run"/silo*.pid "$run"/haproxy.pid; do
    [ -f "$pidfile" ] || continue
    local pid; pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
  patroni_stop_all
  local dir
  for dir in "$data"/pg "$data"/pg2 "$data"/restore-*; do if [ -d "$dir" ]; then pg_stop "$dir" || true; fi; done
  return 0
}
