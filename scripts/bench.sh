#!/usr/bin/env bash
# Runs the whole benchmark suite in about 20 minutes and writes docs/benchmarks.md and docs/benchmarks.png.
# Starts a throwaway PostgreSQL 15 on a free loopback port with the default durability (fsync and
# synchronous_commit on), runs bench/Qubrid.Bench in Release against it, then removes the server.
# The full run: micro-benchmarks, both naive baselines (pooled, and prepared statements on one connection per caller),
# the system (cluster client, HTTP, group commit off), the in-memory upper bound, scaling out (1, 2 and 3 silo
# processes of src/Silo's Release build on free ports in 20000–31999, one PostgreSQL, under ~4 minutes), TLS reads
# and metering. QUBRID_BENCH_ONLY=baseline,prepared,system,inmemory,scaling,... runs some of them (a partial report).
# QUBRID_BENCH_QUICK=1 gives a short development run (2 s per workload, 10k sessions only; about 3 minutes).
# QUBRID_BENCH_CALLERS=32,128 picks the caller counts; QUBRID_BENCH_METERING="sessions:interval:run:wallets[:mode[:flags]];..."
# the metering scenarios (docs/metering-scale.md). QUBRID_BENCH_ONLY=metering-failover (never in the full run; ~6 minutes
# a scenario) meters sessions on 2 silo processes and kills one with SIGKILL; QUBRID_BENCH_FAILOVER="sessions:interval:wallets:mode;...".
# `scripts/bench.sh replication` (about 2 minutes) runs only the synchronous-replication comparison: the server gets a
# streaming standby, and debits/s with and without synchronous_standby_names = '*' go into docs/benchmarks.md; then the
# same debits on the --ha shape (Patroni, scripts/lib/patroni.sh) against one PostgreSQL, 32 callers (about 3 more minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh

pg_ensure_installed
work=$(mktemp -d /tmp/qubrid-bench.XXXXXX)
chmod 755 "$work"
port=$(pg_free_port)
# Silo processes the benchmark starts (scaling) write their pid here; the benchmark kills them itself, this is in case it dies first.
kill_silos() { local f; for f in "$work"/pids/*.pid; do if [ -f "$f" ]; then kill -9 "$(cat "$f")" 2>/dev/null || true; rm -f "$f"; fi; done; return 0; }
cleanup() { kill_silos; pg_stop "$work/pg"; rm -rf "$work"; }
trap cleanup EXIT
pg_init "$work/pg" trust
# pg_stat_statements and WAL timing only record where the server spends its time; durability stays at the defaults.
pg_start "$work/pg" "$port" "$work/pg.log" -c shared_preload_libraries=pg_stat_statements -c track_wal_io_timing=on
if [ "${1:-}" = replication ]; then
  # A standby made from the running server, streaming over a replication slot; ReplicationBench switches
  # synchronous_standby_names between '' and '*' with a reload.
  standby_port=$(pg_free_port)
  pg_owner_dir "$work/standby"
  pg_as "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$port" -U postgres -D "$work/standby" -R -X stream -C -S bench_standby -c fast \
    2> >(grep -v "skipping special file" >&2)
  echo "cluster_name = 'bench_standby'" | pg_as tee -a "$work/standby/postgresql.auto.conf" >/dev/null
  pg_start "$work/standby" "$standby_port" "$work/standby.log"
  cleanup() { kill_silos; pg_stop "$work/pg"; pg_stop "$work/standby"; rm -rf "$work"; }
  export QUBRID_BENCH_PG_STANDBY=1
  echo "benchmark standby on 127.0.0.1:$standby_port" >&2
  # The --ha shape (scripts/lib/patroni.sh: three etcd members, two PostgreSQL nodes under Patroni), for --ha vs one PostgreSQL.
  data=$work/ha-system logs=$work/ha-system/logs run=$work/ha-system/run
  mkdir -p "$logs" "$run"; chmod 755 "$data"
  db_password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  source scripts/lib/patroni.sh
  cleanup() { kill_silos; patroni_stop_all; pg_stop "$work/pg"; pg_stop "$work/standby"; rm -rf "$work"; }
  patroni_up >&2
  export QUBRID_BENCH_PG_HA="$(patroni_connection_string | sed 's/Database=qubrid;Username=qubrid/Database=postgres;Username=postgres/')"
  echo "benchmark --ha cluster: $(patroni_connection_string | sed 's/;Target.*//')" >&2
fi
export QUBRID_BENCH_PG="Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres"
export QUBRID_BENCH_PG_VERSION="$("$PG_BIN/postgres" --version)"
export QUBRID_BENCH_PG_PID="$(head -1 "$work/pg/postmaster.pid")" # to attribute CPU to the server
mkdir -p "$work/pids"
export QUBRID_BENCH_PIDS_DIR="$work/pids"
# The silo processes of the scaling part: src/Silo as the bench's build leaves it (a project reference, built in Release).
export QUBRID_BENCH_SILO_DLL="$PWD/src/Silo/bin/Release/net10.0/Qubrid.Silo.dll"
echo "benchmark PostgreSQL on 127.0.0.1:$port ($QUBRID_BENCH_PG_VERSION)" >&2

started=$(date +%s)
dotnet build bench/Qubrid.Bench -c Release -v quiet -nologo
# The run is bounded by itself (fixed windows); the timeout only guards against a hang.
if [ "${1:-}" = replication ]; then
  timeout -k 30s 10m dotnet bench/Qubrid.Bench/bin/Release/net10.0/Qubrid.Bench.dll replication docs
else
  timeout -k 30s 35m dotnet bench/Qubrid.Bench/bin/Release/net10.0/Qubrid.Bench.dll docs
fi
echo "bench.sh finished in $(( $(date +%s) - started )) s" >&2
