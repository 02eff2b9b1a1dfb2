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
# walk-through, and the fault test (kill -9 a silo, restart PostgreSQL, under load). Skipped on filtered runs.
e2e_passed=0; e2e_failed=0
run_e2e() { # run_e2e NAME COMMAND...
  local name=$1; shift
  echo "== $name" >&2
  if "$@" > "$work/$name.log" 2>&1; then
    e2e_passed=$((e2e_passed + 1)); echo "  Passed $name"
  else
    e2e_failed=$((e2e_failed + 1)); echo "  Failed $name:"; tail -n 40 "$work/$name.log"
  fi
  grep -E '^(operations|sessions|kill|database outage|reconcile|load):' "$work/$name.log" | sed 's/^/    /' || true
}
walkthrough() {
  local api_port; api_port=$(pg_free_port)
  export QUBRID_DATA_DIR="$work/system" QUBRID_PG_PORT=$(pg_free_port) ASPNETCORE_URLS="http://127.0.0.1:$api_port"
  export QUBRID_SILO_PORT_BASE=$(pg_free_port) QUBRID_GATEWAY_PORT_BASE=$(pg_free_port) QUBRID_HTTP_PORT_BASE=$(pg_free_port)
  mkdir -p "$QUBRID_DATA_DIR"; chmod 755 "$QUBRID_DATA_DIR"
  bash scripts/start.sh > "$work/start.log" 2>&1 &
  local start_pid=$! ok=1
  for _ in $(seq 1 180); do grep -q "Qubrid is running" "$work/start.log" && break; kill -0 $start_pid 2>/dev/null || break; sleep 1; done
  grep -q "Qubrid is running" "$work/start.log" && bash scripts/walkthrough.sh "$ASPNETCORE_URLS" && ok=0
  kill -TERM $start_pid 2>/dev/null || true
  wait $start_pid 2>/dev/null || true
  bash scripts/start.sh stop >/dev/null 2>&1 || true
  [ $ok = 0 ] || tail -n 30 "$work/start.log"
  return $ok
}
if [ "$status" = 0 ] && [ "${QUBRID_SKIP_WALKTHROUGH:-}" != 1 ]; then
  run_e2e walkthrough walkthrough
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
