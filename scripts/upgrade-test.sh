#!/usr/bin/env bash
# Rolling-upgrade test, bounded (8–14 minutes on 2 cores, 4–6 of them the previous release's build), traffic only to 127.0.0.1: a throwaway
# PostgreSQL, 2 silos and 2 API processes behind HAProxy (as `scripts/cluster.sh up 2 --apis 2` runs them), all on the
# previous release (.ci/previous-release, built in its own git worktree under the test's temporary folder). Under the fault
# test's HTTP load (top-ups, inference charges, 60 sessions charged every 5 s) the cluster is rolled to this commit with
# scripts/lib/upgrade.sh (each silo replaced by a new one, then SIGTERM: it drains; then each API process) and back to the
# previous release. Then: every acknowledged operation is in the ledger exactly once, nothing is doubled, every session's
# total equals the metering formula and no session went more than two intervals (+1 s of tick jitter) without a charge, every 5xx was a 503
# problem+json with Retry-After, every request got an answer, reconcile is clean, and every top-up's webhook event reached
# an admin endpoint (a local receiver checking signatures) with each wallet's events in order. Then the previous release's own
# walk-through (scripts/walkthrough.sh of that commit) runs against the rolled-back cluster: the previous code on this
# commit's schema; and finalize-upgrade must refuse, naming the previous release's silos that still run. With QUBRID_UPGRADE_SCHEMA_ROLL=1 (not in CI: about 4 minutes more) a second roll, under load, goes
# from the previous release to a release that changes the schema (this commit plus a test migration adding a column the
# previous code ignores) and back, with the same checks.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh
work=$(mktemp -d /tmp/qubrid-upgrade.XXXXXX)
chmod 755 "$work"
export QUBRID_DATA_DIR=$work/data QUBRID_PG_PORT=$(pg_free_port)
export ASPNETCORE_URLS="http://127.0.0.1:$(pg_free_port)"
export QUBRID_SILO_PORT_BASE=$(pg_free_port 10) QUBRID_GATEWAY_PORT_BASE=$(pg_free_port 10) QUBRID_HTTP_PORT_BASE=$(pg_free_port 10) QUBRID_API_PORT_BASE=$(pg_free_port 10)
export Qubrid__Metering__ChargeInterval=00:00:05 Qubrid__Metering__MinimumRunway=00:01:00
# The silos' own failure detection (3 missed probes of 2 s): nothing is killed here, and with the fault test's 2 × 1 s a
# silo joining on a busy machine was declared dead before it had started (it then stops itself, failing the roll).
export Qubrid__Api__RequestsPerSecondPerKey=1000000 Qubrid__Api__BurstPerKey=1000000
# Webhooks go to the test's receiver on loopback (allow-listed here only).
export Qubrid__Webhooks__AllowedHosts__0=127.0.0.1
mkdir -p "$QUBRID_DATA_DIR"; chmod 755 "$QUBRID_DATA_DIR"
source scripts/lib/system.sh
previous=$(cat .ci/previous-release)
previous_dir="" schema_dir=""
cleanup() {
  if [ -n "${receiver:-}" ]; then kill "$receiver" 2>/dev/null || true; fi
  stop_all >/dev/null 2>&1
  if [ "${result:-1}" != 0 ] && [ -d "$logs" ]; then # keep the processes' logs of a failed run
    kept=$(mktemp -d /tmp/qubrid-upgrade-logs.XXXXXX); cp -r "$logs"/. "$kept"/; echo "logs kept in $kept"
  fi
  [ -n "$previous_dir" ] && upgrade_remove_build "$previous_dir"
  [ -n "$schema_dir" ] && upgrade_remove_build "$schema_dir"
  rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
since() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.1f", a - b }'; }

t=$(now)
system_prepare > "$work/prepare.log"
haproxy_ensure_installed
previous_dir=$(upgrade_build "$previous")
echo "built this commit and the previous release ${previous:0:12} in $(since "$t") s"

# The cluster on the previous release.
bin_root=$previous_dir
start_silo 1 >/dev/null; start_silo 2 >/dev/null
haproxy_start >/dev/null
start_api 1 >/dev/null; start_api 2 >/dev/null
wait_ready
admin=$(sed -n 's/^admin_key=//p' "$QUBRID_DATA_DIR/secrets")
driver=(dotnet tests/Qubrid.FaultDriver/bin/Release/net10.0/Qubrid.FaultDriver.dll)
reconcile() { dotnet src/Silo/bin/Release/net10.0/Qubrid.Silo.dll reconcile; }

# Webhooks delivering through the rolls: an admin endpoint for every top-up's event, at a receiver that checks signatures.
receiver_port=$(pg_free_port)
python3 scripts/lib/webhook_receiver.py "$receiver_port" "$work" & receiver=$!
curl -fsS -X POST "$ASPNETCORE_URLS/v1/webhooks" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d "{\"url\":\"http://127.0.0.1:$receiver_port/hook\",\"events\":[\"topup_succeeded\"]}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])' > "$work/secret"
psql_q() { PGPASSWORD=$db_password "$PG_BIN/psql" -h 127.0.0.1 -p "$QUBRID_PG_PORT" -U qubrid -d qubrid -qAt "$@"; }
# check_webhooks: every top-up event committed so far reached the receiver (waits up to 3 minutes), correctly signed, and
# each wallet's events arrived in their order (first deliveries; a repeat is allowed: delivery is at least once).
check_webhooks() {
  local total
  total=$(psql_q -c "SELECT count(*) FROM qubrid_events WHERE kind = 'topup_succeeded'")
  for _ in $(seq 1 360); do
    [ -s "$work/received.log" ] && [ "$(cut -d' ' -f1 "$work/received.log" | sort -u | wc -l)" -ge "$total" ] && break; sleep 0.5
  done
  psql_q -c "SELECT id, wallet_id FROM qubrid_events WHERE kind = 'topup_succeeded' ORDER BY id" > "$work/events"
  python3 - "$work" <<'PY'
import sys
work = sys.argv[1]
wallet = {int(i): w for i, w in (l.strip().split('|') for l in open(f'{work}/events') if l.strip())}
rows = [l.split() for l in open(f'{work}/received.log')] if wallet else []
first = []
for eid, ok, t in rows:
    i = int(eid[4:])
    if i not in first: first.append(i)
seen = set(first)
missing = sorted(set(wallet) - seen)
out_of_order = 0
last = {}
for i in first:
    w = wallet.get(i)
    if w is None: continue
    if last.get(w, -1) > i: out_of_order += 1
    last[w] = i
bad = sum(1 for r in rows if r[1] != 'ok')
print(f"webhooks: {len(wallet)} top-up events over {len(set(wallet.values()))} wallets, {len(rows)} deliveries, "
      f"{len(rows) - len(first)} repeats, {len(missing)} missing, {out_of_order} out of order within a wallet, {bad} bad signatures")
sys.exit(0 if wallet and not missing and out_of_order == 0 and bad == 0 else 1)
PY
}

result=0
# roll_under_load NAME FROM_DIR TO_DIR: load, roll FROM -> TO -> FROM, stop the load, verify, reconcile.
roll_under_load() {
  local name=$1 there=$2 back=$3 load roll_started roll_seconds
  rm -f "$work/stop-$name"
  "${driver[@]}" load --url "$ASPNETCORE_URLS" --admin-key "$admin" --seconds 400 --stop-file "$work/stop-$name" --wallets 20 --sessions 60 --workers 16 --out "$work/$name" > "$work/$name.log" 2>&1 &
  load=$!
  for _ in $(seq 1 240); do grep -q '^setup:' "$work/$name.log" && break; sleep 0.5; done
  grep -q '^setup:' "$work/$name.log" || { echo "driver setup did not finish"; cat "$work/$name.log"; return 1; }
  sleep 12 # sessions charged a few times before the roll
  roll_started=$(now)
  echo " there:"
  upgrade_roll "$there" || result=1
  sleep 12 # charged a few times on the new build
  echo " and back:"
  upgrade_roll "$back" || result=1
  roll_seconds=$(since "$roll_started")
  sleep 12
  touch "$work/stop-$name"
  wait $load || result=1
  cat "$work/$name.log"
  echo "rolls: both ways in $roll_seconds s (12 s of load between them included)"
  # Which silos caught up on sessions whose reminder changed silo (ReminderHandoverService, this release's silos only).
  grep -h "Reminder handover" "$logs"/silo*.log | sed 's/^ */  /' || echo "  no reminder handover logged"
  # Two intervals between a session's charges, plus 1 s for the reminder ticks' own jitter on a busy machine. The one
  # exception, reported on its own line: the drain of a previous-release silo, whose part of the reminder ring may go to
  # another previous-release silo; neither catches up, so a tick due during the handover is lost and the session waits
  # two intervals plus the handover (bound: three intervals + 1 s; see README "Releases and rolling upgrades").
  "${driver[@]}" verify --db "$ConnectionStrings__Qubrid" --out "$work/$name" --interval 5 --max-gap 11 --upgrade yes \
    --events "$QUBRID_DATA_DIR/upgrade-events.log" --previous-release "$previous" --max-gap-previous-drain 16 || result=1
  reconcile || result=1
  check_webhooks || result=1
}

echo "== rolling upgrade under load: previous release -> this commit -> previous release"
roll_under_load u "$root" "$previous_dir"

echo "== the previous release's walk-through against this commit's schema (the cluster runs the previous release)"
bash "$previous_dir/scripts/walkthrough.sh" "$ASPNETCORE_URLS" "$admin" > "$work/walkthrough.log" 2>&1 \
  && echo "walk-through of ${previous:0:12}: OK" || { echo "walk-through of ${previous:0:12}: FAILED"; tail -20 "$work/walkthrough.log"; result=1; }

echo "== finalize-upgrade while silos of the previous release run: refused, naming them"
if finalize=$(dotnet src/Silo/bin/Release/net10.0/Qubrid.Silo.dll finalize-upgrade 2>&1); then
  echo "finalize-upgrade: NOT refused: $finalize"; result=1
elif echo "$finalize" | grep -q "refused"; then
  echo "finalize-upgrade: $(echo "$finalize" | grep -o 'refused.*' | cut -c1-160)"
else
  echo "finalize-upgrade: failed otherwise: $finalize"; result=1
fi

if [ "${QUBRID_UPGRADE_SCHEMA_ROLL:-}" = 1 ]; then
  echo "== rolling upgrade across a schema change: previous release -> this commit + a migration adding a column -> previous"
  schema_dir=$QUBRID_DATA_DIR/releases/schema-change
  git worktree add --detach "$schema_dir" HEAD >/dev/null 2>&1
  git diff HEAD > "$work/uncommitted.diff" # uncommitted changes too, when run from a work tree
  [ -s "$work/uncommitted.diff" ] && (cd "$schema_dir" && git apply "$work/uncommitted.diff")
  last=$(ls "$schema_dir"/src/Grains/Storage/Migrations/*.sql | sed 's|.*/\([0-9]*\)_.*|\1|' | sort -n | tail -1)
  cat > "$schema_dir/src/Grains/Storage/Migrations/$(printf '%04d' $((10#$last + 1)))_upgrade_test_column.sql" <<'SQL'
-- A test migration (scripts/upgrade-test.sh): a column the previous release does not know and ignores.
ALTER TABLE qubrid_wallets ADD COLUMN IF NOT EXISTS upgrade_test_note text;
SQL
  (cd "$schema_dir" && dotnet build -c Release -v quiet -nologo src/Silo/Qubrid.Silo.csproj >/dev/null && dotnet build -c Release -v quiet -nologo src/Api/Qubrid.Api.csproj >/dev/null)
  roll_under_load s "$schema_dir" "$previous_dir"
  [ -n "$(PGPASSWORD=$db_password "$PG_BIN/psql" -h 127.0.0.1 -p "$QUBRID_PG_PORT" -U qubrid -d qubrid -qtAc "SELECT 1 FROM information_schema.columns WHERE table_name = 'qubrid_wallets' AND column_name = 'upgrade_test_note'" 2>/dev/null)" ] \
    && echo "schema: the test column exists; the previous release ran on it" || { echo "schema: the test migration did not run"; result=1; }
fi

if [ $result = 0 ]; then echo "upgrade test: OK"; else echo "upgrade test: FAILED"; tail -n 30 "$logs"/silo*.log "$logs"/api*.log "$logs/haproxy.log"; fi
exit $result
