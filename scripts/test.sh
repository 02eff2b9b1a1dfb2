#!/usr/bin/env bash
# Runs every test: starts a throwaway PostgreSQL on a free port, runs the suite, removes the server.
# Prints the totals as one line "N passed, N failed" and exits non-zero when anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh

pg_ensure_installed
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

# With the console logger at normal verbosity, dotnet test closes each test run with
# "Total tests: T" / "Passed: P" / "Failed: F" lines; sum them over every test project.
passed=$({ grep -hE '^\s+Passed:\s+[0-9]+\s*$' "$work/test.log" || true; } | awk '{ s += $2 } END { print s+0 }')
failed=$({ grep -hE '^\s+Failed:\s+[0-9]+\s*$' "$work/test.log" || true; } | awk '{ s += $2 } END { print s+0 }')
if [ "$status" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi
echo "$passed passed, $failed failed"
exit "$status"
