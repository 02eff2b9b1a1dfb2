#!/usr/bin/env bash
# Webhook delivery across a real crash (about 2 minutes; needs python3 for the receiver): a throwaway PostgreSQL,
# 3 silo processes and the API; a user endpoint pointing at a local receiver that verifies every signature; events
# committed to the outbox 25 per second; the silo holding the endpoint's connection to the receiver is killed with
# SIGKILL mid-stream. Passes when every event arrived, in order, correctly signed; prints repeats and how long
# delivery paused. Not part of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh
work=$(mktemp -d /tmp/qubrid-webhook-crash.XXXXXX)
chmod 755 "$work"
export QUBRID_DATA_DIR=$work/data QUBRID_PG_PORT=$(pg_free_port)
export ASPNETCORE_URLS="http://127.0.0.1:$(pg_free_port)"
export QUBRID_SILO_PORT_BASE=$(pg_free_port 10) QUBRID_GATEWAY_PORT_BASE=$(pg_free_port 10) QUBRID_HTTP_PORT_BASE=$(pg_free_port 10)
# The receiver is on loopback (allow-listed here only); a dead silo's endpoints move on at the next 5 s keep-alive tick.
export Qubrid__Webhooks__AllowedHosts__0=127.0.0.1 Qubrid__Webhooks__KeepAlivePeriod=00:00:05
mkdir -p "$QUBRID_DATA_DIR"; chmod 755 "$QUBRID_DATA_DIR"
source scripts/lib/system.sh
receiver_port=$(pg_free_port)
trap 'if [ -n "${receiver:-}" ]; then kill "$receiver" 2>/dev/null || true; fi; stop_all >/dev/null 2>&1; rm -rf "$work"' EXIT

system_prepare > "$work/prepare.log"
start_silo 1; start_silo 2; start_silo 3; start_api
wait_ready
python3 scripts/lib/webhook_receiver.py "$receiver_port" "$work" & receiver=$!
api=${ASPNETCORE_URLS}
admin=$(sed -n 's/^admin_key=//p' "$QUBRID_DATA_DIR/secrets")
db_password=$(sed -n 's/^db_password=//p' "$QUBRID_DATA_DIR/secrets")
psql_q() { PGPASSWORD=$db_password "$PG_BIN/psql" -h 127.0.0.1 -p "$QUBRID_PG_PORT" -U qubrid -d qubrid -qAt "$@"; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

curl -fsS -X PUT "$api/v1/wallets/crash" -H "Authorization: Bearer $admin" > /dev/null
user_key=$(curl -fsS -X POST "$api/v1/api-keys" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d '{"role":"user","userId":"crash"}' | json '["key"]')
curl -fsS -X POST "$api/v1/webhooks" -H "Authorization: Bearer $user_key" -H 'Content-Type: application/json' \
  -d "{\"url\":\"http://127.0.0.1:$receiver_port/hook\",\"events\":[\"topup_failed\"]}" | json '["secret"]' > "$work/secret"

# Events straight into the outbox, one transaction each under the event lock, as every writer does.
total=400
(for i in $(seq 1 $total); do
  psql_q -c "BEGIN; SELECT pg_advisory_xact_lock(81770001); INSERT INTO qubrid_events (at, kind, wallet_id, reason, balance, data)
             VALUES (clock_timestamp(), 'topup_failed', 'crash', 'declined', 0, jsonb_build_object('paymentId', 'pay_crash_$i', 'amount', 10)); COMMIT;" > /dev/null
  sleep 0.04
done) & generator=$!

for _ in $(seq 1 100); do [ -s "$work/received.log" ] && [ "$(wc -l < "$work/received.log")" -ge 60 ] && break; sleep 0.1; done
# The silo delivering is the one with connections to the receiver.
victim_pid=$(for _ in $(seq 1 40); do ss -tnpH state all "( dport = :$receiver_port )" 2>/dev/null | grep -o 'pid=[0-9]*'; sleep 0.05; done \
  | sort | uniq -c | sort -rn | head -1 | grep -o '[0-9]*$' || true)
victim=$(grep -l "^${victim_pid:-none}\$" "$QUBRID_DATA_DIR"/run/silo*.pid 2>/dev/null | sed 's/.*silo\([0-9]*\)\.pid/\1/' || true)
[ -n "$victim" ] || { echo "could not tell which silo delivers" >&2; exit 1; }
killed_at=$(date +%s.%N)
kill -9 "$victim_pid"; rm -f "$QUBRID_DATA_DIR/run/silo$victim.pid"
echo "kill: silo $victim (pid $victim_pid) killed with SIGKILL after $(wc -l < "$work/received.log") deliveries"
wait "$generator"
for _ in $(seq 1 600); do [ "$(sort -u "$work/received.log" | cut -d' ' -f1 | sort -u | wc -l)" -ge $total ] && break; sleep 0.1; done
psql_q -c "SELECT id, extract(epoch FROM at) FROM qubrid_events WHERE wallet_id = 'crash' ORDER BY id" > "$work/events"

python3 - "$work" "$killed_at" <<'PY'
import sys
work, kill = sys.argv[1], float(sys.argv[2])
at = {int(a): float(b) for a, b in (l.strip().split('|') for l in open(f'{work}/events'))}
rows = [l.split() for l in open(f'{work}/received.log')]
first, order = {}, []
for eid, ok, t in rows:
    i = int(eid[4:])
    if i not in first: first[i] = float(t); order.append(i)
ids = sorted(at)
missing = sorted(set(ids) - set(first))
bad = sum(1 for r in rows if r[1] != 'ok')
after = [first[i] for i in first if first[i] >= kill]
print(f"webhooks: {len(ids)} events, {len(rows)} requests, {len(rows) - len(order)} repeats, {len(missing)} missing, "
      f"in order: {order == ids}, bad signatures: {bad}")
print(f"webhooks: first delivery after the kill +{min(after) - kill:.1f} s; "
      f"max commit-to-delivery lag of events committed after it {max(first[i] - at[i] for i in ids if at[i] >= kill):.1f} s")
sys.exit(0 if not missing and order == ids and bad == 0 else 1)
PY
