#!/usr/bin/env bash
# Several silos on one machine: `scripts/cluster.sh up 3` starts PostgreSQL (as start.sh does), 3 silo
# processes with distinct ports and the API, in the background; `scripts/cluster.sh add` starts one more
# silo; `scripts/cluster.sh kill N` kills silo N with SIGKILL (a crash); `scripts/cluster.sh down` stops
# exactly what `up` and `add` started. Silos join and leave through the PostgreSQL membership table.
# With `--standby` (or QUBRID_STANDBY=1) PostgreSQL runs as a primary and a synchronous standby (scripts/lib/replication.sh):
# `failover` promotes the standby (the silos and the API follow by themselves), `standby` makes a new standby,
# `backup` takes a base backup, `restore TIME [PORT]` restores it with the WAL archive into a new server up to TIME.
# With `--ha` (or QUBRID_HA=1) three etcd members and two PostgreSQL nodes run under Patroni (scripts/lib/patroni.sh),
# which promotes the synchronous standby by itself; `status` shows the nodes, `switchover [NODE]` hands the primary
# over on purpose, `failover` forces a promotion (patronictl), `patronictl ARGS` runs any other patronictl command.
# With `--apis K` (`up 3 --apis 2`) K API processes run behind HAProxy on the API's address (scripts/lib/haproxy.sh).
# `upgrade REF` builds the commit REF in its own folder and replaces the silos one at a time, then the API processes
# (scripts/lib/upgrade.sh): under load, with --apis 2, clients see at most retryable 503s.
set -euo pipefail
args=()
apis=0
while [ $# -gt 0 ]; do
  case "$1" in
    --standby) export QUBRID_STANDBY=1 ;;
    --ha) export QUBRID_HA=1 ;;
    --apis) apis=${2:?--apis needs a count}; shift ;;
    *) args+=("$1") ;;
  esac
  shift
done
set -- "${args[@]+"${args[@]}"}"
source "$(dirname "$0")/lib/system.sh"

count_silos() { ls "$run"/silo*.pid 2>/dev/null | wc -l; }

case "${1:-}" in
  up)
    n=${2:-2}
    system_prepare
    echo "Starting $n silos and the API ..."
    for i in $(seq 1 "$n"); do start_silo "$i"; done
    if [ "$apis" -gt 0 ]; then
      [ "$apis" -lt "$haproxy_slots" ] || { echo "--apis must be less than QUBRID_API_SLOTS ($haproxy_slots), to leave a slot for upgrades" >&2; exit 2; }
      haproxy_start
      for i in $(seq 1 "$apis"); do start_api "$i"; done
    else
      start_api
    fi
    wait_ready
    echo "Cluster up: $n silos, API on ${api_urls%%;*}/ (admin key in $data/secrets). Stop with: scripts/cluster.sh down"
    ;;
  add)
    next=$(( $(ls "$run"/silo*.pid 2>/dev/null | sed 's/.*silo\([0-9]*\)\.pid/\1/' | sort -n | tail -1) + 1 ))
    db_password=$(sed -n 's/^db_password=//p' "$data/secrets")
    export_connection_string
    tls_settings
    start_silo "$next"
    ;;
  upgrade)
    ref=${2:?usage: scripts/cluster.sh upgrade REF}
    db_password=$(sed -n 's/^db_password=//p' "$data/secrets")
    export_connection_string
    export Qubrid__BootstrapAdminKey=$(sed -n 's/^admin_key=//p' "$data/secrets") DOTNET_ENVIRONMENT=${DOTNET_ENVIRONMENT:-Production}
    tls_settings
    dir=$(upgrade_build "$ref")
    echo "Rolling the cluster to $ref ($dir) ..."
    upgrade_roll "$dir"
    ;;
  kill)
    pidfile="$run/silo${2:?which silo}.pid"
    kill -9 "$(cat "$pidfile")" && rm -f "$pidfile" && echo "silo $2 killed (SIGKILL)"
    ;;
  down)
    stop_all
    echo "stopped"
    ;;
  failover)
    db_password=$(sed -n 's/^db_password=//p' "$data/secrets")
    if patroni_enabled; then
      # Patroni promotes by itself; this forces it now (to the synchronous standby, or to NODE).
      pat_load_ports
      leader=$(pat_leader)
      candidate=${2:-$(pat_members | awk '$2 == "sync_standby" { print $1; exit }')}
      [ -n "$candidate" ] || { echo "No synchronous standby to promote." >&2; exit 1; }
      patroni_ctl failover ${leader:+--leader "pg$leader"} --candidate "$candidate" --force
    else
      ha_failover
    fi
    ;;
  switchover)
    patroni_enabled || { echo "switchover needs the --ha mode (Patroni)." >&2; exit 1; }
    pat_load_ports
    leader=$(pat_leader)
    [ -n "$leader" ] || { echo "No leader: see scripts/cluster.sh status." >&2; exit 1; }
    candidate=${2:-$(pat_members | awk '$2 == "sync_standby" { print $1; exit }')}
    patroni_ctl switchover --leader "pg$leader" ${candidate:+--candidate "$candidate"} --force
    ;;
  patronictl)
    shift; patroni_ctl "$@"
    ;;
  standby)
    db_password=$(sed -n 's/^db_password=//p' "$data/secrets")
    ha_start_standby
    echo "standby streaming synchronously: $data/$(standby_node) on port $(node_port "$(standby_node)")"
    ;;
  backup)
    db_password=$(sed -n 's/^db_password=//p' "$data/secrets")
    ha_backup
    ;;
  restore)
    db_password=$(sed -n 's/^db_password=//p' "$data/secrets")
    target=${2:?usage: scripts/cluster.sh restore 'YYYY-MM-DD HH:MM:SS+00' [PORT]}
    port=${3:-$(pg_free_port)}
    backup=$(ls -d "$data"/backups/base-* 2>/dev/null | sort | tail -1)
    [ -n "$backup" ] || { echo "No base backup in $data/backups: run scripts/cluster.sh backup first." >&2; exit 1; }
    name=restore-$(date -u +%Y%m%dT%H%M%SZ)
    ha_restore "$backup" "$target" "$name" "$port"
    echo "Restored $backup up to $target into $data/$name, listening on 127.0.0.1:$port. Check it with:"
    echo "  ConnectionStrings__Qubrid='Host=127.0.0.1;Port=$port;Database=qubrid;Username=qubrid;Password=...' dotnet src/Silo/bin/Release/net10.0/Qubrid.Silo.dll reconcile"
    echo "Stop it with: scripts/cluster.sh down (or pg_ctl -D $data/$name stop)"
    ;;
  status)
    for pidfile in "$run"/*.pid; do
      [ -f "$pidfile" ] || continue
      printf '%s pid %s %s\n' "$(basename "$pidfile" .pid)" "$(cat "$pidfile")" "$(kill -0 "$(cat "$pidfile")" 2>/dev/null && echo running || echo gone)"
    done
    if patroni_enabled; then
      patroni_status
    elif ha_enabled; then
      for node in "$(primary_node)" "$(standby_node)"; do
        [ -d "$data/$node" ] || continue
        role=primary; [ -f "$data/$node/standby.signal" ] && role=standby
        printf 'postgres %s (%s) port %s %s\n' "$node" "$role" "$(node_port "$node")" "$(node_running "$node" && echo running || echo stopped)"
      done
    fi
    ;;
  *)
    echo "usage: scripts/cluster.sh up [N] [--standby | --ha] [--apis K] | upgrade REF | add | kill N | down | status | failover [NODE] | switchover [NODE] | patronictl ARGS | standby | backup | restore TIME [PORT]" >&2; exit 2 ;;
esac
