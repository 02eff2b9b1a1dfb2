#!/usr/bin/env bash
# Fault test of the --ha mode, bounded (about 7 minutes), traffic only to 127.0.0.1: three etcd members and two
# PostgreSQL nodes under Patroni (as `scripts/cluster.sh up --ha` runs them), 2 silo processes and the API, with HTTP
# load (top-ups, inference charges, 60 sessions at a 5 s interval) during each fault, and no promotion command:
#   1. kill -9 the primary's postmaster;
#   2. SIGSTOP every process of the primary node (its Patroni, postmaster and backends) for ttl + 5 s, then SIGCONT; a
#      client that held a connection to it sends an INSERT while it is stopped and must get an error, never "INSERT 0 1",
#      and the row must not be on any node afterwards (no split brain);
#   3. kill -9 the primary node's Patroni (its supervisor restarts it after QUBRID_HA_RESTART_DELAY, here ttl + 5 s, so
#      that the leader key expires first and the failover path is what is tested);
#   4. kill -9 one etcd member (the raft leader): nothing fails over, nothing stops; then it is started again.
# After each: every acknowledged operation is in the ledger exactly once, nothing unacknowledged is partial, every
# session's total equals the metering formula, reconcile is clean, the time from the fault to the first acknowledged
# write is printed (verify's "writes acknowledged again"), and the old primary rejoins as the synchronous standby by
# itself (pg_rewind) so that the next scenario fails over again.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh
work=$(mktemp -d /tmp/qubrid-fault-ha.XXXXXX)
chmod 755 "$work"
export QUBRID_DATA_DIR=$work/data QUBRID_HA=1
export ASPNETCORE_URLS="http://127.0.0.1:$(pg_free_port)"
export QUBRID_SILO_PORT_BASE=$(pg_free_port 10) QUBRID_GATEWAY_PORT_BASE=$(pg_free_port 10) QUBRID_HTTP_PORT_BASE=$(pg_free_port 10)
export Qubrid__Metering__ChargeInterval=00:00:05 Qubrid__Metering__MinimumRunway=00:01:00
export Qubrid__Membership__ProbeTimeout=00:00:01 Qubrid__Membership__NumMissedProbesLimit=2
export Qubrid__Api__RequestsPerSecondPerKey=1000000 Qubrid__Api__BurstPerKey=1000000
mkdir -p "$QUBRID_DATA_DIR"; chmod 755 "$QUBRID_DATA_DIR"
source scripts/lib/system.sh
export QUBRID_HA_RESTART_DELAY=$((pat_ttl + 5))
stopped_pids=""
cleanup() {
  [ -n "$stopped_pids" ] && kill -CONT $stopped_pids 2>/dev/null
  stop_all >/dev/null 2>&1; rm -rf "$work"
}
trap cleanup EXIT

started=$(date +%s)
system_prepare > "$work/prepare.log"
start_silo 1; start_silo 2; start_api
wait_ready
echo "system up in $(( $(date +%s) - started )) s (Patroni ttl $pat_ttl s, loop_wait $pat_loop_wait s, retry_timeout $pat_retry_timeout s)"
patroni_status | grep '^postgres'
admin=$(sed -n 's/^admin_key=//p' "$QUBRID_DATA_DIR/secrets")
driver=(dotnet tests/Qubrid.FaultDriver/bin/Release/net10.0/Qubrid.FaultDriver.dll)
reconcile() { dotnet src/Silo/bin/Release/net10.0/Qubrid.Silo.dll reconcile; }
now() { date +%s.%N; }
plus() { awk -v t="$1" -v s="$2" 'BEGIN { printf "%.3f", t + s }'; }
since() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.1f", a - b }'; }
wait_load_started() { for _ in $(seq 1 120); do grep -q '^setup:' "$1" && return 0; sleep 0.5; done; echo "driver setup did not finish" >&2; return 1; }
superuser_sql() { PGOPTIONS='-c client_min_messages=warning' PGPASSWORD=$db_password "$PG_BIN/psql" -h 127.0.0.1 -p "$1" -U postgres -d postgres -X -v ON_ERROR_STOP=1 -qtAc "$2"; }

# The leader as node N's REST API sees it (the other nodes' APIs answer while the primary's is stopped or dead).
leader_seen_by_others() {
  local i json
  for i in $(seq 1 "$pat_nodes"); do
    [ "$i" = "$1" ] && continue
    json=$(pat_rest "$i" /cluster) || continue
    echo "$json" | "$PATRONI_PYTHON" -c '
import json, sys
for m in json.load(sys.stdin).get("members", []):
    if m.get("role") == "leader" and m.get("state") == "running": print(m["name"][2:])' && return 0
  done
}

# Polls (bounded, until DEADLINE as epoch seconds) for a leader other than OLD; sets promoted_at when one appears.
watch_promotion() {
  local old=$1 deadline=$2 l
  while awk -v n="$(now)" -v d="$deadline" 'BEGIN { exit !(n < d) }'; do
    l=$(leader_seen_by_others "$old")
    if [ -n "$l" ] && [ "$l" != "$old" ]; then promoted_at=$(now); new_leader=$l; return 0; fi
    sleep 0.2
  done
  return 1
}

# Waits (bounded) until node N is the synchronous standby again; prints how long it took since FROM.
wait_rejoined() {
  local n=$1 from=$2
  for _ in $(seq 1 180); do
    if pat_members 2>/dev/null | grep -Eq "^pg$n sync_standby (running|streaming) "; then
      echo "   pg$n is the synchronous standby again (seen $(since "$from") s after the fault, after the load and its checks)"
      return 0
    fi
    sleep 1
  done
  echo "   FAIL pg$n did not rejoin as the synchronous standby within 180 s" >&2
  pat_members >&2 || true; tail -n 20 "$logs/patroni$n.log" >&2
  return 1
}

# A client holding a connection to the primary: psql reading statements from a fifo.
probe_open() {
  superuser_sql "$1" "CREATE TABLE IF NOT EXISTS qubrid_ha_probe (id text PRIMARY KEY)" >/dev/null
  rm -f "$work/probe.in"; mkfifo "$work/probe.in"
  PGPASSWORD=$db_password "$PG_BIN/psql" -h 127.0.0.1 -p "$1" -U postgres -d postgres -X < "$work/probe.in" > "$work/probe.out" 2>&1 &
  probe_pid=$!
  exec 7> "$work/probe.in"
  echo "SELECT 'probe connected';" >&7
  for _ in $(seq 1 50); do grep -q 'probe connected' "$work/probe.out" && return 0; sleep 0.1; done
  echo "the probe client did not connect" >&2; return 1
}
probe_write() { probe_id=$1; echo "INSERT INTO qubrid_ha_probe VALUES ('$1');" >&7; }
# The probe's INSERT must end in an error (never acknowledged), and its row must be on no node once the old primary rejoined.
probe_check() {
  exec 7>&-
  for _ in $(seq 1 120); do kill -0 "$probe_pid" 2>/dev/null || break; sleep 0.5; done
  kill "$probe_pid" 2>/dev/null || true; wait "$probe_pid" 2>/dev/null || true
  local answer; answer=$(grep -v 'probe connected\|^-\|^ *?column\|^(1 row)\|^$' "$work/probe.out" | tr '\n' ' ')
  if grep -q '^INSERT 0 1' "$work/probe.out"; then
    echo "   FAIL split brain: the old primary acknowledged an INSERT after the failover"; result=1
  else
    echo "   the client holding a connection to the old primary got: ${answer:-no answer (connection closed)}"
  fi
  local i found=""
  for i in $(seq 1 "$pat_nodes"); do
    [ "$(superuser_sql "$(pat_var "pg_$i")" "SELECT count(*) FROM qubrid_ha_probe WHERE id = '$probe_id'" 2>/dev/null)" = 0 ] || found="$found pg$i"
  done
  if [ -n "$found" ]; then echo "   FAIL split brain: the probe row is on$found"; result=1
  else echo "   no split brain: the probe row is on no node"; fi
}

# ha_scenario NAME FAULT: load for 40 s; after 12 s FAULT runs (it may use $leader, $fault_at); then the checks.
ha_scenario() {
  local name=$1 fault=$2 load expect_failover=${3:-yes}
  "${driver[@]}" load --url "${ASPNETCORE_URLS}" --admin-key "$admin" --seconds 40 --wallets 20 --sessions 60 --workers 16 --out "$work/$name" > "$work/$name.log" 2>&1 &
  load=$!
  wait_load_started "$work/$name.log"
  sleep 12
  leader=$(pat_leader); promoted_at=""; new_leader=""
  echo "   primary: pg$leader"
  fault_at=$(now)
  $fault
  if [ "$expect_failover" = yes ]; then
    if [ -z "$promoted_at" ]; then watch_promotion "$leader" "$(plus "$fault_at" 60)" || true; fi
    if [ -n "$promoted_at" ]; then echo "   pg$new_leader promoted by Patroni $(awk -v a="$promoted_at" -v b="$fault_at" 'BEGIN { printf "%.1f", a - b }') s after the fault"
    else echo "   FAIL no promotion within 60 s"; result=1; fi
  fi
  [ -n "${after_fault:-}" ] && $after_fault
  wait $load || result=1
  cat "$work/$name.log"
  if [ "$expect_failover" = yes ]; then
    "${driver[@]}" verify --db "$ConnectionStrings__Qubrid" --out "$work/$name" --interval 5 --fault-at "$fault_at" || result=1
    wait_rejoined "$leader" "$fault_at" || result=1
  else
    "${driver[@]}" verify --db "$ConnectionStrings__Qubrid" --out "$work/$name" --interval 5 --fault-at "$fault_at" || result=1
  fi
  reconcile || result=1
  after_fault=""
}

kill_postmaster() {
  local pid; pid=$(head -1 "$pat_dir/node$leader/data/postmaster.pid")
  kill -9 "$pid"
  echo "   pg$leader's postmaster killed (SIGKILL, pid $pid)"
}

hang_node() {
  local patroni pm pids
  probe_open "$(pat_var "pg_$leader")"
  patroni=$(cat "$pat_run/patroni$leader.pid"); pm=$(head -1 "$pat_dir/node$leader/data/postmaster.pid")
  pids="$patroni $(ps -o pid= --ppid "$patroni" | xargs) $pm $(ps -o pid= --ppid "$pm" | xargs)"
  fault_at=$(now)
  kill -STOP $pids; stopped_pids=$pids
  echo "   pg$leader hung: SIGSTOP to its Patroni, postmaster and backends ($(echo $pids | wc -w) processes) for $((pat_ttl + 5)) s"
  probe_write "hung-$RANDOM$RANDOM"
  watch_promotion "$leader" "$(plus "$fault_at" $((pat_ttl + 5)))" || true
  while awk -v n="$(now)" -v d="$fault_at" -v s=$((pat_ttl + 5)) 'BEGIN { exit !(n < d + s) }'; do sleep 0.2; done
  kill -CONT $pids; stopped_pids=""
  echo "   pg$leader resumed (SIGCONT) $(since "$fault_at") s after the SIGSTOP"
}

kill_patroni() {
  local pid; pid=$(cat "$pat_run/patroni$leader.pid")
  probe_open "$(pat_var "pg_$leader")"
  kill -9 "$pid"
  echo "   pg$leader's Patroni killed (SIGKILL, pid $pid); its PostgreSQL runs on without it; the supervisor restarts Patroni in $QUBRID_HA_RESTART_DELAY s"
  watch_promotion "$leader" "$(plus "$fault_at" 60)" || true
  probe_write "orphan-$RANDOM$RANDOM"
}

etcd_victim=""
kill_etcd() {
  local i
  for i in 1 2 3; do
    ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$(pat_var "etcd_client_$i")" --dial-timeout 1s endpoint status -w simple 2>/dev/null \
      | awk -F', ' '{ exit !($5 == "true") }' && etcd_victim=$i && break
  done
  etcd_victim=${etcd_victim:-1}
  kill -9 "$(cat "$pat_run/etcd$etcd_victim.pid")"
  echo "   etcd$etcd_victim (the raft leader) killed (SIGKILL)"
}
after_etcd() {
  local seen changed=0
  for _ in $(seq 1 40); do
    seen=$(pat_leader)
    if [ -n "$seen" ] && [ "$seen" != "$leader" ]; then changed=1; fi
    sleep 0.5
  done
  if [ "$changed" = 1 ]; then echo "   FAIL the primary changed after an etcd member was killed"; result=1
  else echo "   the primary stayed pg$leader for 20 s with two etcd members"; fi
  pat_start_etcd "$etcd_victim"
  echo "   etcd$etcd_victim started again"
}

result=0
echo "== HA scenario 1: kill -9 the primary's postmaster under load"
ha_scenario ha1 kill_postmaster
echo "== HA scenario 2: hang the primary node (SIGSTOP > ttl, then SIGCONT) under load"
ha_scenario ha2 hang_node
probe_check
echo "== HA scenario 3: kill -9 the primary node's Patroni under load"
ha_scenario ha3 kill_patroni
probe_check
echo "== HA scenario 4: kill -9 one etcd member under load"
after_fault=after_etcd
ha_scenario ha4 kill_etcd no
patroni_status

echo "fault-test-ha took $(( $(date +%s) - started )) s"
if [ $result = 0 ]; then echo "fault test (HA): OK"; else echo "fault test (HA): FAILED"; tail -n 30 "$logs"/patroni*.log "$logs"/silo*.log "$logs/api.log"; fi
exit $result
