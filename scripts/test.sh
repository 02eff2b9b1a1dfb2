#!/usr/bin/env bash
# Runs every test: starts a throwaway PostgreSQL on a free port, runs the suite, removes the server.
# Prints the totals as one line "N passed, N failed" and exits non-zero when anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh

pg_ensure_installed
ensure_curl
# The browser tests (tests/Qubrid.Tests/Browser) drive Debian's Chromium through Microsoft.Playwright.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "Installing Chromium for the browser tests ..." >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
  else
    echo "The browser tests need /usr/bin/chromium: run 'sudo apt-get install -y chromium' and try again." >&2
    exit 1
  fi
fi
[ $# -gt 0 ] && export QUBRID_SKIP_WALKTHROUGH=1 # a filtered run is not the whole suite
work=$(mktemp -d /tmp/qubrid-test.XXXXXX)
chmod 755 "$work"
port=$(pg_free_port)
cleanup() { pg_stop "$work/pg"; rm -rf "$work"; }
trap cleanup EXIT
pg_init "$work/pg" trust
pg_start "$work/pg" "$port" "$work/pg.log"
export QUBRID_TEST_PG="Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres"
echo "test PostgreSQL on 127.0.0.1:$port" >&2

status=0
dotnet test Qubrid.Orleans.sln -c Release --logger "console;verbosity=normal" "$@" 2>&1 | tee "$work/test.log" || status=$?

# End-to-end checks with real processes, each counted as one test: the README's start command with its curl
# walk-through and the browser tests against it (what a newcomer opens), the same against `scripts/cluster.sh up 2`,
# the processes started in the wrong order from another folder, and the fault test (kill -9 a silo, restart
# PostgreSQL, under load). Skipped on filtered runs.
e2e_passed=0; e2e_failed=0
run_e2e() { # run_e2e NAME COMMAND...
  local name=$1; shift
  echo "== $name" >&2
  local t0=$SECONDS
  if "$@" > "$work/$name.log" 2>&1; then
    e2e_passed=$((e2e_passed + 1)); echo "  Passed $name [$((SECONDS - t0)) s]"
  else
    e2e_failed=$((e2e_failed + 1)); echo "  Failed $name [$((SECONDS - t0)) s]:"; tail -n 40 "$work/$name.log"
  fi
  grep -E '^(operations|sessions|kill|database outage|reconcile|load|started|ready):' "$work/$name.log" | sed 's/^/    /' || true
}
# Each system under test gets its own data folder and free ports, exported for the scripts it runs.
use_fresh_system() { # use_fresh_system NAME
  export QUBRID_DATA_DIR="$work/$1" QUBRID_PG_PORT=$(pg_free_port) ASPNETCORE_URLS="http://127.0.0.1:$(pg_free_port)"
  export QUBRID_SILO_PORT_BASE=$(pg_free_port) QUBRID_GATEWAY_PORT_BASE=$(pg_free_port) QUBRID_HTTP_PORT_BASE=$(pg_free_port)
  mkdir -p "$QUBRID_DATA_DIR"; chmod 755 "$QUBRID_DATA_DIR"
}
# The browser tests of the EndToEnd category, driving the running system at $ASPNETCORE_URLS with its admin key.
browser_e2e() {
  QUBRID_E2E_BASE_URL="$ASPNETCORE_URLS" QUBRID_E2E_ADMIN_KEY=$(sed -n 's/^admin_key=//p' "$QUBRID_DATA_DIR/secrets") \
    dotnet test tests/Qubrid.Tests/Qubrid.Tests.csproj -c Release --no-build --filter "Category=EndToEnd" --logger "console;verbosity=normal"
}
start_command() { # scripts/start.sh as the README says, then the walk-through and the browser tests against it
  use_fresh_system system
  bash scripts/start.sh > "$work/start.log" 2>&1 &
  local start_pid=$! t0=$SECONDS
  for _ in $(seq 1 400); do grep -q "Qubrid is running" "$work/start.log" && break; kill -0 $start_pid 2>/dev/null || break; sleep 1; done
  if grep -q "Qubrid is running" "$work/start.log"; then
    echo "    started: scripts/start.sh ready (/, /health/ready, /scalar) in $((SECONDS - t0)) s, build included"
    run_e2e walkthrough bash scripts/walkthrough.sh "$ASPNETCORE_URLS"
    run_e2e browser-on-start-command browser_e2e
  else
    e2e_failed=$((e2e_failed + 1)); echo "  Failed start-command: not running"; tail -n 30 "$work/start.log"
  fi
  kill -TERM $start_pid 2>/dev/null || true
  wait $start_pid 2>/dev/null || true
  bash scripts/start.sh stop >/dev/null 2>&1 || true
}
cluster_smoke() ( # scripts/cluster.sh up 2, the walk-through and the browser tests against it, scripts/cluster.sh down
  use_fresh_system cluster
  local ok=1
  bash scripts/cluster.sh up 2 && bash scripts/walkthrough.sh "$ASPNETCORE_URLS" && browser_e2e && ok=0
  bash scripts/cluster.sh status || true
  bash scripts/cluster.sh down || true
  [ $ok = 0 ] || tail -n 30 "$QUBRID_DATA_DIR"/logs/*.log
  return $ok
)
start_in_any_order() ( # the built processes from other folders, in the worst order: API, silo, then PostgreSQL
  use_fresh_system order
  source scripts/lib/system.sh
  system_prepare || return 1 # PostgreSQL up, role and database created, built, settings exported ...
  pg_stop "$data/pg"         # ... then down again: the API and the silo start first
  local t0=$SECONDS ok=1
  (cd / && exec dotnet "$root/src/Api/bin/Release/net10.0/Qubrid.Api.dll") > "$logs/api.log" 2>&1 & echo $! > "$run/api.pid"
  (cd /tmp && exec env -u ASPNETCORE_URLS Qubrid__Silo__SiloPort=$((QUBRID_SILO_PORT_BASE + 1)) Qubrid__Silo__GatewayPort=$((QUBRID_GATEWAY_PORT_BASE + 1)) \
     Qubrid__Silo__HttpPort=$((QUBRID_HTTP_PORT_BASE + 1)) dotnet "$root/src/Silo/bin/Release/net10.0/Qubrid.Silo.dll") > "$logs/silo1.log" 2>&1 &
  echo $! > "$run/silo1.pid"
  for _ in $(seq 1 60); do
    grep -q "Waiting for the cluster: PostgreSQL is not reachable" "$logs/api.log" && grep -q "Waiting for PostgreSQL" "$logs/silo1.log" && break
    sleep 1
  done
  if grep -q "Waiting for the cluster: PostgreSQL is not reachable" "$logs/api.log" && grep -q "Waiting for PostgreSQL" "$logs/silo1.log"; then
    pg_start "$data/pg" "$pg_port" "$logs/postgres.log"
    wait_ready && echo "ready: $((SECONDS - t0)) s after the API started, with PostgreSQL last" && ok=0
  else
    echo "The API or the silo did not say it waits for PostgreSQL:"; tail -n 20 "$logs/api.log" "$logs/silo1.log"
  fi
  stop_all
  return $ok
)
if [ "$status" = 0 ] && [ "${QUBRID_SKIP_WALKTHROUGH:-}" != 1 ]; then
  start_command
  run_e2e cluster-up-2 cluster_smoke
  run_e2e start-in-any-order start_in_any_order
  run_e2e fault-test bash scripts/fault-test.sh
fi

# With the console logger at normal verbosity, dotnet test closes each test run with
# "Total tests: T" / "Passed: P" / "Failed: F" lines; sum them over every test project.
passed=$({ grep -hE '^\s+Passed:\s+[0-9]+\s*$' "$work/test.log" || true; } | awk '{ s += $2 } END { print s+0 }')
failed=$({ grep -hE '^\s+Failed:\s+[0-9]+\s*$' "$work/test.log" || true; } | awk '{ s += $2 } END { print s+0 }')
passed=$((passed + e2e_passed)); failed=$((failed + e2e_failed))
[ "$e2e_failed" = 0 ] || status=1
if [ "$status" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi
echo "$passed passed, $failed failed"
exit "$status"
