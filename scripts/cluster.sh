#!/usr/bin/env bash
# Several silos on one machine: `scripts/cluster.sh up 3` starts PostgreSQL (as start.sh does), 3 silo
# processes with distinct ports and the API, in the background; `scripts/cluster.sh add` starts one more
# silo; `scripts/cluster.sh kill N` kills silo N with SIGKILL (a crash); `scripts/cluster.sh down` stops
# exactly what `up` and `add` started. Silos join and leave through the PostgreSQL membership table.
set -euo pipefail
source "$(dirname "$0")/lib/system.sh"

count_silos() { ls "$run"/silo*.pid 2>/dev/null | wc -l; }

case "${1:-}" in
  up)
    n=${2:-2}
    system_prepare
    echo "Starting $n silos and the API ..."
    for i in $(seq 1 "$n"); do start_silo "$i"; done
    start_api
    wait_ready
    echo "Cluster up: $n silos, API on ${api_urls%%;*}/ (admin key in $data/secrets). Stop with: scripts/cluster.sh down"
    ;;
  add)
    next=$(( $(ls "$run"/silo*.pid 2>/dev/null | sed 's/.*silo\([0-9]*\)\.pid/\1/' | sort -n | tail -1) + 1 ))
    source <(sed -n 's/^db_password=/db_password=/p' "$data/secrets")
    export ConnectionStrings__Qubrid="Host=127.0.0.1;Port=$pg_port;Database=qubrid;Username=qubrid;Password=$db_password"
    tls_settings
    start_silo "$next"
    ;;
  kill)
    pidfile="$run/silo${2:?which silo}.pid"
    kill -9 "$(cat "$pidfile")" && rm -f "$pidfile" && echo "silo $2 killed (SIGKILL)"
    ;;
  down)
    stop_all
    echo "stopped"
    ;;
  status)
    for pidfile in "$run"/*.pid; do
      [ -f "$pidfile" ] || continue
      printf '%s pid %s %s\n' "$(basename "$pidfile" .pid)" "$(cat "$pidfile")" "$(kill -0 "$(cat "$pidfile")" 2>/dev/null && echo running || echo gone)"
    done
    ;;
  *)
    echo "usage: scripts/cluster.sh up [N] | add | kill N | down | status" >&2; exit 2 ;;
esac
