#!/usr/bin/env bash
# Fault test, bounded (about 5 minutes), traffic only to 127.0.0.1: a throwaway PostgreSQL primary with a synchronous
# standby (as `scripts/cluster.sh up --standby` runs it), 2 silo processes and the API. Scenario 1 drives HTTP load
# (top-ups, inference charges, 60 sessions at a 5 s interval) and kill -9s, in the middle, the silo that meters the most
# sessions (the test asks every silo's gauge: placement decides where they are, the test does not assume it);
# scenario 2 restarts PostgreSQL in the middle; scenario 3 kill -9s the primary (every process of it) and promotes the
# standby with `scripts/cluster.sh failover`. After each: every acknowledged operation is in the ledger exactly once,
# nothing unacknowledged is partial, every session's total equals the metering formula, sessions are charged again
# within two intervals, and reconcile is clean. Scenario 4, the restore drill: the base backup taken at the start and
# the WAL archive restored into a new server up to an instant recorded during scenario 3's load, before the kill: every
# operation acknowledged before it is there, nothing sent after it, balances = the ledger, reconcile clean.
# Scenario 5 restarts both silos with metering shards (Qubrid:Metering:Mode=Shards) and repeats scenario 1.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh
work=$(mktemp -d /tmp/qubrid-fault.XXXXXX)
chmod 755 "$work"
export QUBRID_DATA_DIR=$work/data QUBRID_PG_PORT=$(pg_free_port)
export ASPNETCORE_URLS="http://127.0.0.1:$(pg_free_port)"
export QUBRID_SILO_PORT_BASE=$(pg_free_port 10) QUBRID_GATEWAY_PORT_BASE=$(pg_free_port 10) QUBRID_HTTP_PORT_BASE=$(pg_free_port 10)
# A short charge interval, quick failure detection, and no rate limit in the way of the load.
export Qubrid__Metering__ChargeInterval=00:00:05 Qubrid__Metering__MinimumRunway=00:01:00
export Qubrid__Membership__ProbeTimeout=00:00:01 Qubrid__Membership__NumMissedProbesLimit=2
export Qubrid__Api__RequestsPerSecondPerKey=1000000 Qubrid__Api__BurstPerKey=1000000
export QUBRID_STANDBY=1 QUBRID_PG_STANDBY_PORT=$(pg_free_port)
mkdir -p "$QUBRID_DATA_DIR"; chmod 755 "$QUBRID_DATA_DIR"
source scripts/lib/system.sh
trap 'stop_all >/dev/null 2>&1; rm -rf "$work"' EXIT

system_prepare > "$work/prepare.log"
base_backup=$(ha_backup 2>>"$work/prepare.log")
start_silo 1; start_silo 2; start_api
wait_ready
admin=$(sed -n 's/^admin_key=//p' "$QUBRID_DATA_DIR/secrets")
driver=(dotnet tests/Qubrid.FaultDriver/bin/Release/net10.0/Qubrid.FaultDriver.dll)
reconcile() { dotnet src/Silo/bin/Release/net10.0/Qubrid.Silo.dll reconcile; }
now() { date +%s.%N; }
# Waits (bounded) until the driver has finished its setup and started the load.
wait_load_started() { for _ in $(seq 1 120); do grep -q '^setup:' "$1" && return 0; sleep 0.5; done; echo "driver setup did not finish" >&2; return 1; }

# The running sessions silo N meters now, from its own gauge (qubrid_sessions_running; with metering shards, the
# running sessions of the wallets active on it).
sessions_on_silo() {
  curl -fsS "http://127.0.0.1:$((QUBRID_HTTP_PORT_BASE + $1))/metrics" 2>/dev/null \
    | sed -nE 's/^qubrid_sessions_running(\{[^}]*\})? ([0-9]+).*/\2/p' | head -1
}

# Drives HTTP load into $work/$1 for $2 seconds and, after 15 s, kill -9s the silo that meters the most running sessions
# (asked of every silo's own gauge just before; placement decides where they are, so the test chooses its victim
# instead of assuming one). Then every acknowledged operation must be there once, every session charged again within
# two intervals of the kill, and reconcile must be clean. Sets $victim to the killed silo's number.
kill_silo_under_load() {
  local out="$work/$1" seconds=$2 load on_victim=0 kill_at n count
  "${driver[@]}" load --url "${ASPNETCORE_URLS}" --admin-key "$admin" --seconds "$seconds" --wallets 20 --sessions 60 --workers 16 --out "$out" > "$out.log" 2>&1 &
  load=$!
  wait_load_started "$out.log"
  sleep 15
  victim=0
  for n in 1 2; do
    count=$(sessions_on_silo "$n"); count=${count:-0}
    echo "   silo $n meters $count running sessions"
    if [ "$count" -gt "$on_victim" ]; then victim=$n; on_victim=$count; fi
  done
  if [ "$victim" = 0 ]; then
    echo "   neither silo's gauge counts a running session: the load did not start its sessions" >&2
    victim=2
  fi
  kill_at=$(now)
  kill -9 "$(cat "$run/silo$victim.pid")"; rm -f "$run/silo$victim.pid"
  echo "   silo $victim killed (SIGKILL) at $kill_at"
  wait $load || result=1
  cat "$out.log"
  "${driver[@]}" verify --db "$ConnectionStrings__Qubrid" --out "$out" --interval 5 --kill-at "$kill_at" --sessions-on-killed-silo "$on_victim" || result=1
  reconcile || result=1
}

result=0
echo "== scenario 1: kill -9 a silo under load"
kill_silo_under_load s1 45

echo "== scenario 2: restart PostgreSQL under load"
start_silo "$victim"
wait_ready
"${driver[@]}" load --url "${ASPNETCORE_URLS}" --admin-key "$admin" --seconds 40 --wallets 20 --sessions 60 --workers 16 --out "$work/s2" > "$work/s2.log" 2>&1 &
load=$!
wait_load_started "$work/s2.log"
sleep 12
outage_from=$(now)
pg_stop "$QUBRID_DATA_DIR/pg"
echo "   PostgreSQL stopped at $outage_from"
sleep 6
pg_start "$QUBRID_DATA_DIR/pg" "$QUBRID_PG_PORT" "$logs/postgres.log"
outage_to=$(now)
echo "   PostgreSQL back at $outage_to"
wait $load || result=1
cat "$work/s2.log"
"${driver[@]}" verify --db "$ConnectionStrings__Qubrid" --out "$work/s2" --interval 5 --outage-from "$outage_from" --outage-to "$outage_to" || result=1
reconcile || result=1

echo "== scenario 3: kill -9 the PostgreSQL primary, promote the standby, under load"
"${driver[@]}" load --url "${ASPNETCORE_URLS}" --admin-key "$admin" --seconds 30 --wallets 20 --sessions 60 --workers 16 --out "$work/s3" > "$work/s3.log" 2>&1 &
load=$!
wait_load_started "$work/s3.log"
sleep 6
drill_at=$(now) # the restore drill's instant (scenario 4)
sleep 4
primary_pid=$(head -1 "$QUBRID_DATA_DIR/$(primary_node)/postmaster.pid")
primary_processes="$primary_pid $(ps -o pid= --ppid "$primary_pid" | xargs)"
failover_at=$(now)
kill -9 $primary_processes # the whole server at once, as when its machine dies
echo "   PostgreSQL primary killed (SIGKILL, pids $primary_processes) at $failover_at"
bash scripts/cluster.sh failover
promoted_at=$(now)
echo "   standby promoted at $promoted_at"
wait $load || result=1
cat "$work/s3.log"
"${driver[@]}" verify --db "$ConnectionStrings__Qubrid" --out "$work/s3" --interval 5 --failover-at "$failover_at" --promoted-at "$promoted_at" || result=1
reconcile || result=1

echo "== scenario 4: restore drill (base backup + WAL archive, up to an instant of scenario 3's load)"
drill_started=$(now)
drill_time=$(date -u -d "@$drill_at" '+%Y-%m-%d %H:%M:%S.%N+00')
drill_port=$(pg_free_port)
ha_restore "$base_backup" "$drill_time" restore-drill "$drill_port" || result=1
drill_db="Host=127.0.0.1;Port=$drill_port;Database=qubrid;Username=qubrid;Password=$db_password"
echo "restore: the base backup and the WAL archive replayed up to $drill_time in $(awk -v a="$(now)" -v b="$drill_started" 'BEGIN { printf "%.1f", a - b }') s"
"${driver[@]}" verify-restore --db "$drill_db" --outs "$work/s1,$work/s2,$work/s3" --at "$drill_at" || result=1
ConnectionStrings__Qubrid="$drill_db" reconcile || result=1
pg_stop "$QUBRID_DATA_DIR/restore-drill"

echo "== scenario 5: kill -9 a silo under load, metering shards (Qubrid:Metering:Mode=Shards)"
# Both silos come back in Shards mode: the sessions that scenarios 1–3 left running are taken over by the shards from
# their per-session reminders, and the new sessions are metered by the shards only. Then as scenario 1.
for n in 1 2; do
  pid=$(cat "$run/silo$n.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  rm -f "$run/silo$n.pid"
done
export Qubrid__Metering__Mode=Shards
start_silo 1; start_silo 2
wait_ready
# With shards the gauge counts the running sessions of the wallets active on the silo.
kill_silo_under_load s5 40

if [ $result = 0 ]; then echo "fault test: OK"; else echo "fault test: FAILED"; tail -n 40 "$logs"/silo*.log "$logs/api.log"; fi
exit $result
