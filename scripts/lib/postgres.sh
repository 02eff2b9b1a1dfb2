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

# A free port below Linux's ephemeral range (32768-60999 by default), where an outgoing connection's source port can
# take a listening port between the check and the bind (a silo's gateway failing with "address already in use").
pg_free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$(( 20000 + RANDOM % 12000 ))
    if ! pg_port_in_use "$p"; then echo "$p"; return 0; fi
  done
  echo "no free port found" >&2; return 1
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
