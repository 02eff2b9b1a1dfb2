# PostgreSQL helpers shared by the start and test commands. Source it; do not run it.
# The server refuses to run as root, so as root every server command runs as the 'postgres' user.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

pg_ensure_installed() {
  if [ -x "$PG_BIN/initdb" ]; then return 0; fi
  if [ "$(id -u)" != 0 ]; then
    echo "PostgreSQL 15 is not installed: run 'sudo apt-get install -y postgresql' and try again." >&2
    return 1
  fi
  echo "Installing PostgreSQL 15 (Debian package 'postgresql')..." >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
}

# Runs a command as the unprivileged server user when we are root.
pg_as() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_owner_dir() { # mkdir + hand the folder to the server user
  mkdir -p "$1"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$1"; fi
  chmod 700 "$1"
}

pg_port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pg_free_port [COUNT]: the first of COUNT (default 1) consecutive free loopback ports, below Linux's ephemeral range
# (32768-60999 by default, where an outgoing connection's source port can take a listening port between the check and the
# bind). Callers that add an offset to the port (a silo's base port + its number) ask for the whole block.
# Each port is also reserved machine-wide (a directory under $QUBRID_PORT_RESERVATIONS naming the calling script's pid)
# until that process ends, so that two test runs on one machine, or one run's successive systems, never draw the same
# port between the check and the bind. A reservation whose process is gone is taken over.
QUBRID_PORT_RESERVATIONS=${QUBRID_PORT_RESERVATIONS:-/tmp/qubrid-port-reservations}
pg_reserve_port() { # pg_reserve_port PORT OWNER_PID: 0 if now ours
  local dir=$QUBRID_PORT_RESERVATIONS/$1 owner
  # One lock for every reservation (flock: released when this subshell ends), so that a port is checked and taken, or a
  # dead owner's port taken over, by one caller at a time.
  (
    flock -w 10 9 || exit 1
    if [ -d "$dir" ]; then
      owner=$(cat "$dir/owner" 2>/dev/null || true)
      if [ -n "$owner" ] && kill -0 "$owner" 2>/dev/null; then exit 1; fi
    fi
    mkdir -p "$dir" && echo "$2" > "$dir/owner"
  ) 9>"$QUBRID_PORT_RESERVATIONS/.lock"
}
pg_free_port() {
  local count=${1:-1} p i ok
  mkdir -p "$QUBRID_PORT_RESERVATIONS" 2>/dev/null; chmod 1777 "$QUBRID_PORT_RESERVATIONS" 2>/dev/null || true
  for _ in $(seq 1 100); do
    p=$(( 20000 + RANDOM % (12000 - count) ))
    ok=1
    for (( i = 0; i < count; i++ )); do
      if pg_port_in_use $(( p + i )) || ! pg_reserve_port $(( p + i )) "$$"; then ok=0; break; fi
    done
    if [ "$ok" = 1 ]; then echo "$p"; return 0; fi
    # Give back what this attempt reserved.
    for (( i = i - 1; i >= 0; i-- )); do rm -rf "${QUBRID_PORT_RESERVATIONS:?}/$(( p + i ))"; done
  done
  echo "no $count free consecutive ports found" >&2; return 1
}

# pg_init DATADIR AUTH [PWFILE]: creates a cluster whose superuser is 'postgres'.
pg_init() {
  local data=$1 auth=$2 pwfile=${3:-}
  pg_owner_dir "$data"
  if [ -n "$pwfile" ]; then
    pg_as "$PG_BIN/initdb" -D "$data" -U postgres -A "$auth" --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 >/dev/null
  else
    pg_as "$PG_BIN/initdb" -D "$data" -U postgres -A "$auth" -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
}

# pg_start DATADIR PORT LOGFILE [extra -c settings...]: listens on 127.0.0.1 only; waits until ready.
pg_start() {
  local data=$1 port=$2 log=$3; shift 3
  local opts="-p $port -k $data -c listen_addresses=127.0.0.1 -c max_connections=400 $*"
  touch "$log"
  if [ "$(id -u)" = 0 ]; then chown postgres "$log"; fi
  pg_as "$PG_BIN/pg_ctl" -D "$data" -l "$log" -o "$opts" -w -t 60 start >/dev/null
}

pg_stop() {
  local data=$1
  [ -f "$data/postmaster.pid" ] || return 0
  pg_as "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

ensure_curl() {
  command -v curl >/dev/null 2>&1 && return 0
  if [ "$(id -u)" != 0 ]; then echo "curl is missing: run 'sudo apt-get install -y curl'." >&2; return 1; fi
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >&2
}
