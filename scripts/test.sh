#!/usr/bin/env bash
# Runs every test: starts a throwaway PostgreSQL on a free port, runs the suite, removes the server.
# Prints the totals as one line "N passed, N failed" and exits non-zero when anything failed.
#
#   scripts/test.sh                      every test: .NET suites, then the end-to-end checks on real processes
#   scripts/test.sh --fast               the fast loop: unit, property and grain tests (no API host, browser, real
#                                        processes; the simulation with 100 seeds a mode instead of 3,000)
#   scripts/test.sh --filter EXPR        a part of the .NET suites (any `dotnet test` arguments; no end-to-end checks)
#   scripts/test.sh --repeat N [...]     the same N times in a row, each on its own fresh PostgreSQL; every run's log is
#                                        kept, and each failure is reported with its run, its seeds and its log
set -euo pipefail
cd "$(dirname "$0")/.."

repeat=1 fast=0 args=()
while [ $# -gt 0 ]; do
  case $1 in
    --repeat) repeat=${2:?--repeat needs a count}; shift 2 ;;
    --repeat=*) repeat=${1#--repeat=}; shift ;;
    --fast) fast=1; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
case $repeat in ''|*[!0-9]*|0) echo "--repeat takes a positive count, not '$repeat'" >&2; exit 2 ;; esac

if [ "$repeat" -gt 1 ]; then
  runs=${QUBRID_TEST_RUNS_DIR:-$(mktemp -d /tmp/qubrid-test-runs.XXXXXX)}
  mkdir -p "$runs"
  echo "$repeat runs; logs under $runs" >&2
  one=() ; [ "$fast" = 1 ] && one+=(--fast)
  total_failed_runs=0
  for k in $(seq 1 "$repeat"); do
    t0=$SECONDS
    rc=0
    QUBRID_TEST_KEEP_LOGS="$runs/run-$k" bash scripts/test.sh "${one[@]}" "${args[@]}" > "$runs/run-$k.log" 2>&1 || rc=$?
    summary=$(tail -n 1 "$runs/run-$k.log")
    echo "run $k/$repeat: $summary in $((SECONDS - t0)) s (exit $rc), log $runs/run-$k.log"
    if [ "$rc" != 0 ]; then
      total_failed_runs=$((total_failed_runs + 1))
      # The failed tests (dotnet test's "  Failed Name [time]" lines and the end-to-end checks'), then every seed
      # the run printed (the simulation's failing seeds, the fuzzer's seed) so that each can be replayed.
      grep -aE '^\s+Failed [^:]' "$runs/run-$k.log" | sed 's/^ */    failed: /' || true
      grep -aoiE '(seed [0-9]+[^;,]*|QUBRID_[A-Z_]*SEED=[0-9]+)' "$runs/run-$k.log" | sort -u | sed 's/^/    seed: /' || true
      echo "    logs: $runs/run-$k.log and $runs/run-$k/"
    fi
  done
  echo "$((repeat - total_failed_runs)) of $repeat runs passed, $total_failed_runs failed"
  [ "$total_failed_runs" = 0 ]
  exit
fi

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
# A filtered or fast run is not the whole suite: no end-to-end checks on real processes.
if [ ${#args[@]} -gt 0 ] || [ "$fast" = 1 ]; then export QUBRID_SKIP_WALKTHROUGH=1; fi
if [ "$fast" = 1 ]; then
  # Unit and property tests (Qubrid.Core.Tests) and the grain tests on in-process clusters; not the API hosts, the
  # browser, the TLS cluster or the deployment files. The simulation runs a short window of seeds in both modes.
  export QUBRID_SIM_SEEDS=${QUBRID_SIM_SEEDS:-100}
  fast_filter="FullyQualifiedName!~Qubrid.Tests.Api.&FullyQualifiedName!~Qubrid.Tests.Browser.&FullyQualifiedName!~Qubrid.Tests.Cluster.&FullyQualifiedName!~Qubrid.Tests.Deployment."
  # A --filter given with --fast narrows the fast set further.
  rest=() user_filter=""
  for ((i = 0; i < ${#args[@]}; i++)); do
    if [ "${args[i]}" = --filter ]; then user_filter=${args[i + 1]:-}; i=$((i + 1)); else rest+=("${args[i]}"); fi
  done
  args=(--filter "${fast_filter}${user_filter:+&($user_filter)}" "${rest[@]}")
fi
work=$(mktemp -d /tmp/qubrid-test.XXXXXX)
chmod 755 "$work"
port=$(pg_free_port)
cleanup() {
  if declare -F validating_proxy_stop >/dev/null; then validating_proxy_stop; fi
  pg_stop "$work/pg"
  # scripts/test.sh --repeat keeps each run's logs (the suite's and each end-to-end check's).
  if [ -n "${QUBRID_TEST_KEEP_LOGS:-}" ]; then mkdir -p "$QUBRID_TEST_KEEP_LOGS"; cp "$work"/*.log "$QUBRID_TEST_KEEP_LOGS/" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
pg_init "$work/pg" trust
pg_start "$work/pg" "$port" "$work/pg.log" -c max_connections=800 # many in-process silos and API hosts at once, each with its pools (400 ran out)
export QUBRID_TEST_PG="Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres"
echo "test PostgreSQL on 127.0.0.1:$port" >&2

status=0
dotnet test Qubrid.Orleans.sln -c Release --logger "console;verbosity=normal" "${args[@]}" 2>&1 | tee "$work/test.log" || status=$?

# End-to-end checks with real processes, each counted as one test: the README's start command with its curl
# walk-through, the OpenAPI checks and the browser tests against it (what a newcomer opens), the same against `scripts/cluster.sh up 2`,
# the processes started in the wrong order from another folder, and the fault test (kill -9 a silo, restart
# PostgreSQL, kill -9 the PostgreSQL primary and promote its standby, a point-in-time restore drill, kill -9 a silo with
# metering shards, under load), and the --ha fault test (Patroni: kill -9 the primary's postmaster, hang the primary
# node, kill -9 its Patroni, kill -9 an etcd member, under load, no promotion command), and the upgrade test (the previous
# release's cluster rolled to this commit and back under load, webhooks delivering).
# Skipped on filtered runs.
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
  grep -E '^(operations|sessions|kill|database outage|failover|restore|reconcile|load|started|ready|openapi|webhooks|upgrade|pauses|rolls|walk-through of [0-9a-f]*|finalize-upgrade):' "$work/$name.log" | sed 's/^/    /' || true
}
# Each system under test gets its own data folder and free ports, exported for the scripts it runs.
use_fresh_system() { # use_fresh_system NAME
  export QUBRID_DATA_DIR="$work/$1" QUBRID_PG_PORT=$(pg_free_port) ASPNETCORE_URLS="http://127.0.0.1:$(pg_free_port)"
  export QUBRID_SILO_PORT_BASE=$(pg_free_port 10) QUBRID_GATEWAY_PORT_BASE=$(pg_free_port 10) QUBRID_HTTP_PORT_BASE=$(pg_free_port 10)
  mkdir -p "$QUBRID_DATA_DIR"; chmod 755 "$QUBRID_DATA_DIR"
}
# The browser tests of the EndToEnd category, driving the running system at $ASPNETCORE_URLS with its admin key.
browser_e2e() {
  QUBRID_E2E_BASE_URL="$ASPNETCORE_URLS" QUBRID_E2E_ADMIN_KEY=$(sed -n 's/^admin_key=//p' "$QUBRID_DATA_DIR/secrets") \
    dotnet test tests/Qubrid.Tests/Qubrid.Tests.csproj -c Release --no-build --filter "Category=EndToEnd" --logger "console;verbosity=normal"
}
# The OpenAPI document with tools nobody here wrote (tests/openapi-client, exact npm versions installed once under $work):
# Redocly's linter at 0 errors and 0 warnings, and a client generated by openapi-typescript + openapi-fetch running the walk-through.
export OPENAPI_CLIENT_WORK="$work/openapi-client"
openapi_client_walkthrough() { # through the validating proxy when it runs (start_command)
  bash tests/openapi-client/run.sh walkthrough "$ASPNETCORE_URLS" "$(sed -n 's/^admin_key=//p' "$QUBRID_DATA_DIR/secrets")" "${VALIDATING_PROXY_URL:-$ASPNETCORE_URLS}"
}
source scripts/lib/validating_proxy.sh
# scripts/start.sh as the README says, then the walk-through, the OpenAPI checks and the browser tests against it; the
# two walk-throughs go through a validating proxy (Stoplight Prism, scripts/lib/validating_proxy.sh) that fails the
# run on any request or answer that breaks /openapi/v1.json.
start_command() {
  use_fresh_system system
  bash scripts/start.sh > "$work/start.log" 2>&1 &
  local start_pid=$! t0=$SECONDS
  for _ in $(seq 1 400); do grep -q "Qubrid is running" "$work/start.log" && break; kill -0 $start_pid 2>/dev/null || break; sleep 1; done
  if grep -q "Qubrid is running" "$work/start.log"; then
    echo "    started: scripts/start.sh ready (/, /health/ready, /scalar) in $((SECONDS - t0)) s, build included"
    validating_proxy_start "$ASPNETCORE_URLS" "$work/validating-proxy.log" || true
    run_e2e walkthrough bash scripts/walkthrough.sh "$VALIDATING_PROXY_URL" "$(sed -n 's/^admin_key=//p' "$QUBRID_DATA_DIR/secrets")"
    run_e2e openapi-lint bash tests/openapi-client/run.sh lint "$ASPNETCORE_URLS"
    run_e2e openapi-client-walkthrough openapi_client_walkthrough
    run_e2e openapi-validating-proxy validating_proxy_check
    run_e2e browser-on-start-command browser_e2e
  else
    e2e_failed=$((e2e_failed + 1)); echo "  Failed start-command: not running"; tail -n 30 "$work/start.log"
  fi
  validating_proxy_stop
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
  run_e2e fault-test-ha bash scripts/fault-test-ha.sh
  run_e2e upgrade-test bash scripts/upgrade-test.sh
fi

# With the console logger at normal verbosity, dotnet test closes each test run with
# "Total tests: T" / "Passed: P" / "Failed: F" lines; sum them over every test project.
passed=$({ grep -ahE '^\s+Passed:\s+[0-9]+\s*$' "$work/test.log" || true; } | awk '{ s += $2 } END { print s+0 }')
failed=$({ grep -ahE '^\s+Failed:\s+[0-9]+\s*$' "$work/test.log" || true; } | awk '{ s += $2 } END { print s+0 }')
passed=$((passed + e2e_passed)); failed=$((failed + e2e_failed))
[ "$e2e_failed" = 0 ] || status=1
if [ "$status" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi
echo "$passed passed, $failed failed"
exit "$status"
