# PostgreSQL that heals itself: three etcd members and two (or three) PostgreSQL nodes under Patroni, for the systems
# that scripts/lib/system.sh starts with --ha (or QUBRID_HA=1). Sourced by system.sh; relies on its $data, $logs, $run
# and $db_password.
#
# Everything lives under $data/ha: ports (the ports chosen on the first start, kept for every later one), etcd<N>/ (a
# member's data), node<N>/ (patroni.yml, data/ = PGDATA, log/ = PostgreSQL's own log files, pgpass) and run/ (pid files:
# etcd<N>.pid, patroni<N>.pid, supervise<N>.pid). Logs: $logs/etcd<N>.log and $logs/patroni<N>.log. Every process runs as
# the unprivileged 'postgres' user. Patroni keeps the leader key in etcd (it expires `ttl` seconds after its last renewal; renewed every
# `loop_wait`); when the primary stops renewing it (dead, hung, or its Patroni gone) the synchronous standby takes the
# key and promotes itself; the old primary, once its Patroni runs again, sees the key is not its own, rewinds its data
# (pg_rewind) and follows the new primary as a standby. synchronous_mode_strict keeps `synchronous_standby_names` set
# even with no standby, so a commit is acknowledged only once two nodes have it, and a primary that lost the key
# cannot acknowledge anything: its commits wait for a standby that now follows someone else.
#
# A small supervisor (as systemd's Restart=always would) restarts a node's Patroni QUBRID_HA_RESTART_DELAY seconds
# (default 5) after it exits; the restarted Patroni demotes its PostgreSQL if another node holds the key meanwhile.

pat_dir=$data/ha
pat_run=$pat_dir/run
# Failover timing (docs/operations.md, "Failover time"): the leader key expires `ttl` s after the primary's last renewal;
# Patroni wakes every `loop_wait` s; a DCS or PostgreSQL call is retried for `retry_timeout` s before the primary demotes
# itself. Patroni needs loop_wait + 2 x retry_timeout <= ttl.
pat_ttl=${QUBRID_HA_TTL:-10}
pat_loop_wait=${QUBRID_HA_LOOP_WAIT:-2}
pat_retry_timeout=${QUBRID_HA_RETRY_TIMEOUT:-4}
pat_nodes=${QUBRID_HA_NODES:-2}
PATRONI_PYTHON=/usr/bin/python3 # Debian's python, which has python3-etcd (another python3 may come first on PATH)

patroni_enabled() { [ "${QUBRID_HA:-}" = 1 ] || [ -f "$pat_dir/ports" ]; }

patroni_ensure_installed() {
  if [ -x /usr/bin/patroni ] && [ -x /usr/bin/etcd ] && [ -x /usr/bin/etcdctl ] && "$PATRONI_PYTHON" -c 'import etcd' 2>/dev/null; then return 0; fi
  if [ "$(id -u)" != 0 ]; then
    echo "Patroni and etcd are not installed: run 'sudo apt-get install -y patroni etcd-server etcd-client python3-etcd'." >&2
    return 1
  fi
  echo "Installing Patroni and etcd (Debian packages patroni, etcd-server, etcd-client, python3-etcd)..." >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq patroni etcd-server etcd-client python3-etcd >&2
}

# Runs a command as the server user, replacing this process (so that a pid recorded for it is the command's own).
pat_exec_as() {
  if [ "$(id -u)" = 0 ]; then exec setpriv --reuid=postgres --regid=postgres --init-groups "$@"; else exec "$@"; fi
}

# Distinct free ports for every listener, chosen once and kept in $pat_dir/ports.
pat_allocate_ports() {
  [ -f "$pat_dir/ports" ] && return 0
  local taken=" " name p i
  {
    for name in $(for i in 1 2 3; do echo "etcd_client_$i etcd_peer_$i"; done) $(for i in $(seq 1 "$pat_nodes"); do echo "pg_$i rest_$i"; done); do
      for _ in $(seq 1 20); do p=$(pg_free_port); case $taken in *" $p "*) continue ;; esac; break; done
      taken="$taken$p "
      echo "pat_port_$name=$p"
    done
    echo "pat_node_count=$pat_nodes"
  } > "$pat_dir/ports.tmp"
  mv "$pat_dir/ports.tmp" "$pat_dir/ports"
}

pat_load_ports() { source "$pat_dir/ports"; pat_nodes=$pat_node_count; }
pat_var() { local v="pat_port_$1"; echo "${!v}"; }
pat_etcd_hosts() { echo "127.0.0.1:$pat_port_etcd_client_1,127.0.0.1:$pat_port_etcd_client_2,127.0.0.1:$pat_port_etcd_client_3"; }
pat_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

pat_start_etcd() {
  local i=$1 cluster=""
  pat_alive "$pat_run/etcd$i.pid" && return 0
  for j in 1 2 3; do cluster="$cluster${cluster:+,}etcd$j=http://127.0.0.1:$(pat_var "etcd_peer_$j")"; done
  local state=new; [ -d "$pat_dir/etcd$i/member" ] && state=existing
  pg_owner_dir "$pat_dir/etcd$i"
  touch "$logs/etcd$i.log"; [ "$(id -u)" = 0 ] && chown postgres "$logs/etcd$i.log"
  (pat_exec_as /usr/bin/etcd --name "etcd$i" --data-dir "$pat_dir/etcd$i" \
     --listen-client-urls "http://127.0.0.1:$(pat_var "etcd_client_$i")" --advertise-client-urls "http://127.0.0.1:$(pat_var "etcd_client_$i")" \
     --listen-peer-urls "http://127.0.0.1:$(pat_var "etcd_peer_$i")" --initial-advertise-peer-urls "http://127.0.0.1:$(pat_var "etcd_peer_$i")" \
     --initial-cluster "$cluster" --initial-cluster-state "$state" --initial-cluster-token qubrid-etcd \
     --enable-v2=true ) >> "$logs/etcd$i.log" 2>&1 &
  echo $! > "$pat_run/etcd$i.pid"
  disown $! 2>/dev/null || true # no "Killed" job report when a test kills it
}

# Writes node N's patroni.yml (every start: the ports and passwords are those of this data folder).
pat_write_config() {
  local i=$1 dir=$pat_dir/node$i
  pg_owner_dir "$dir"; pg_owner_dir "$dir/log"
  local yml; yml=$(cat <<YML
# Written by scripts/lib/patroni.sh; rewritten on every start.
scope: qubrid
name: pg$i
log:
  level: INFO
restapi:
  listen: 127.0.0.1:$(pat_var "rest_$i")
  connect_address: 127.0.0.1:$(pat_var "rest_$i")
# etcd's v2 API, not etcd3: Patroni 3.0.2 (Debian 12's) with etcd3 renews an expired leader lease by writing the
# leader key unconditionally, so a primary that hung past ttl overwrites the key its standby took meanwhile and takes
# the primary role back (seen in this project's fault test; fixed upstream in Patroni 3.0.3, patroni/patroni#2689).
# With v2 the renewal is a compare-and-swap on the key's value: the resumed node finds another leader and demotes.
etcd:
  hosts: $(pat_etcd_hosts)
bootstrap:
  dcs:
    ttl: $pat_ttl
    loop_wait: $pat_loop_wait
    retry_timeout: $pat_retry_timeout
    maximum_lag_on_failover: 0
    # Fail over at once when the primary's PostgreSQL crashes, rather than restarting it in place for up to 300 s.
    primary_start_timeout: 0
    synchronous_mode: true
    synchronous_mode_strict: true
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        max_connections: 400
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 256MB
        synchronous_commit: "on"
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - data-checksums
postgresql:
  listen: 127.0.0.1:$(pat_var "pg_$i")
  connect_address: 127.0.0.1:$(pat_var "pg_$i")
  data_dir: $dir/data
  bin_dir: $PG_BIN
  pgpass: $dir/pgpass
  authentication:
    superuser:
      username: postgres
      password: "$db_password"
    replication:
      username: replicator
      password: "$db_password"
    rewind:
      username: rewinder
      password: "$db_password"
  pg_hba:
    - local all all trust
    - host replication replicator 127.0.0.1/32 scram-sha-256
    - host all all 127.0.0.1/32 scram-sha-256
  parameters:
    unix_socket_directories: "$dir"
    password_encryption: scram-sha-256
    logging_collector: "on"
    log_directory: "$dir/log"
    log_filename: postgresql-%a.log
    log_truncate_on_rotation: "on"
    cluster_name: qubrid_pg$i
tags:
  nofailover: false
  noloadbalance: false
  clonefrom: false
YML
)
  (umask 077; echo "$yml" > "$dir/patroni.yml")
  [ "$(id -u)" = 0 ] && chown postgres "$dir/patroni.yml"
  return 0
}

# Node N's Patroni under a supervisor that restarts it when it exits (until $pat_dir/stopping exists).
pat_start_patroni() {
  local i=$1
  pat_alive "$pat_run/supervise$i.pid" && return 0
  pat_write_config "$i"
  touch "$logs/patroni$i.log"; [ "$(id -u)" = 0 ] && chown postgres "$logs/patroni$i.log"
  (
    trap '' HUP
    while [ ! -f "$pat_dir/stopping" ]; do
      (cd "$pat_dir/node$i" && pat_exec_as "$PATRONI_PYTHON" /usr/bin/patroni "$pat_dir/node$i/patroni.yml") >> "$logs/patroni$i.log" 2>&1 &
      echo $! > "$pat_run/patroni$i.pid"
      code=0; wait $! || code=$?
      [ -f "$pat_dir/stopping" ] && break
      echo "$(date -u '+%F %T') supervisor: Patroni exited ($code); restarting it in ${QUBRID_HA_RESTART_DELAY:-5} s" >> "$logs/patroni$i.log"
      sleep "${QUBRID_HA_RESTART_DELAY:-5}"
    done
  ) >> "$logs/patroni$i.log" 2>&1 &
  echo $! > "$pat_run/supervise$i.pid"
}

# curl a node's REST API: pat_rest N PATH
pat_rest() { curl -sS --max-time 2 "http://127.0.0.1:$(pat_var "rest_$1")$2" 2>/dev/null; }

# Prints "NAME ROLE STATE PORT LAG TIMELINE" for every member, from the first node whose REST API answers.
pat_members() {
  local i json
  for i in $(seq 1 "$pat_nodes"); do
    json=$(pat_rest "$i" /cluster) && [ -n "$json" ] && break
  done
  [ -n "${json:-}" ] || return 1
  echo "$json" | "$PATRONI_PYTHON" -c '
import json, sys
for m in json.load(sys.stdin).get("members", []):
    print(m["name"], m.get("role", "?"), m.get("state", "?"), m.get("port", "?"), m.get("lag", 0), m.get("timeline", "?"))'
}

# The leader's node number (pgN -> N), or nothing.
pat_leader() { pat_members 2>/dev/null | awk '$2 == "leader" && $3 == "running" { sub("pg", "", $1); print $1; exit }'; }
pat_leader_port() { local l; l=$(pat_leader); [ -n "$l" ] && pat_var "pg_$l"; }

# Waits (bounded) until a leader runs and, with two nodes or more, a synchronous standby streams from it.
pat_wait_healthy() {
  local limit=${1:-180} members
  for _ in $(seq 1 "$limit"); do
    members=$(pat_members 2>/dev/null || true)
    if echo "$members" | grep -q ' leader running ' \
       && { [ "$pat_nodes" -lt 2 ] || echo "$members" | grep -Eq ' sync_standby (running|streaming) '; }; then
      return 0
    fi
    sleep 1
  done
  echo "Patroni has no leader with a synchronous standby after $limit s:" >&2
  echo "$members" >&2
  tail -n 15 "$logs"/patroni*.log >&2
  return 1
}

# Starts etcd and Patroni (creating everything on the first start) and waits until the cluster is healthy.
patroni_up() {
  patroni_ensure_installed
  mkdir -p "$pat_dir" "$pat_run"; chmod 755 "$pat_dir"
  rm -f "$pat_dir/stopping"
  pat_allocate_ports; pat_load_ports
  local i
  for i in 1 2 3; do pat_start_etcd "$i"; done
  for _ in $(seq 1 60); do
    ETCDCTL_API=3 etcdctl --endpoints "$(pat_etcd_hosts)" --dial-timeout 1s endpoint health >/dev/null 2>&1 && break
    sleep 1
  done
  # The first node bootstraps (initdb); the others are cloned from it with pg_basebackup once it leads.
  pat_start_patroni 1
  if [ "$pat_nodes" -gt 1 ]; then
    for _ in $(seq 1 120); do [ -n "$(pat_leader)" ] && break; sleep 1; done
    for i in $(seq 2 "$pat_nodes"); do pat_start_patroni "$i"; done
  fi
  pat_wait_healthy 180
}

# The connection string of every process: every node, and Npgsql uses whichever is the primary.
patroni_connection_string() {
  local hosts="" i
  for i in $(seq 1 "$pat_nodes"); do hosts="$hosts${hosts:+,}127.0.0.1:$(pat_var "pg_$i")"; done
  echo "Host=$hosts;Target Session Attributes=primary;Host Recheck Seconds=2;Database=qubrid;Username=qubrid;Password=$db_password"
}

# Stops every Patroni (each stops its PostgreSQL) and then etcd. Bounded.
patroni_stop_all() {
  [ -d "$pat_run" ] || return 0
  touch "$pat_dir/stopping"
  local f pid
  for f in "$pat_run"/patroni*.pid; do if [ -f "$f" ]; then kill "$(cat "$f")" 2>/dev/null || true; fi; done
  for f in "$pat_run"/patroni*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
  # A PostgreSQL whose Patroni died without stopping it.
  for f in "$pat_dir"/node*/data; do if [ -d "$f" ]; then pg_stop "$f" || true; fi; done
  for f in "$pat_run"/supervise*.pid "$pat_run"/etcd*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f"); kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
  return 0
}

# One line per PostgreSQL node (name, role, port, postmaster pid, replication lag), then the etcd members.
patroni_status() {
  pat_load_ports
  local members name role state port lag tl pid i
  members=$(pat_members 2>/dev/null || true)
  for i in $(seq 1 "$pat_nodes"); do
    name=pg$i; port=$(pat_var "pg_$i")
    pid=$(head -1 "$pat_dir/node$i/data/postmaster.pid" 2>/dev/null || echo -)
    read -r _ role state _ lag tl <<<"$(echo "$members" | awk -v n="$name" '$1 == n' )" || true
    case ${role:-} in
      leader) role=primary ;;
      sync_standby) role="standby (synchronous)" ;;
      replica) role=standby ;;
      *) role="down"; state=${state:-not in the cluster}; lag=- ;;
    esac
    printf 'postgres %s  %-22s port %s  pid %s  lag %s bytes  %s  timeline %s\n' "$name" "$role" "$port" "$pid" "${lag:--}" "${state:-?}" "${tl:-?}"
    role=""; state=""; lag=""; tl=""
  done
  local line
  for i in 1 2 3; do
    # "endpoint, id, version, db size, is leader, is learner, raft term, raft index, ..."
    line=$(ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$(pat_var "etcd_client_$i")" --dial-timeout 1s --command-timeout 2s endpoint status -w simple 2>/dev/null || true)
    if [ -z "$line" ]; then
      printf 'etcd etcd%s  127.0.0.1:%s  down  pid %s\n' "$i" "$(pat_var "etcd_client_$i")" "$(pat_alive "$pat_run/etcd$i.pid" && cat "$pat_run/etcd$i.pid" || echo -)"
    else
      echo "$line" | awk -F', ' -v n="etcd$i" -v pid="$(cat "$pat_run/etcd$i.pid" 2>/dev/null || echo -)" \
        '{ printf "etcd %s  %s  %s  pid %s  raft term %s index %s\n", n, $1, ($5 == "true" ? "leader" : "follower"), pid, $7, $8 }'
    fi
  done
}

# patronictl against this cluster (switchover, list, ...): patroni_ctl ARGS...
patroni_ctl() { pat_load_ports; (pat_exec_as "$PATRONI_PYTHON" /usr/bin/patronictl -c "$pat_dir/node1/patroni.yml" "$@"); }
