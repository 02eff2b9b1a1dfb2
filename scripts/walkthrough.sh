#!/usr/bin/env bash
# The README's curl walk-through, as a script that checks each answer. Run it against a started system:
#   scripts/walkthrough.sh [base url] [admin key]    (defaults: http://127.0.0.1:5080 and the key in .data/secrets)
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${1:-${QUBRID_URL:-http://127.0.0.1:5080}}
ADMIN=${2:-${QUBRID_ADMIN_KEY:-$(sed -n 's/^admin_key=//p' "${QUBRID_DATA_DIR:-.data}/secrets" 2>/dev/null)}}
[ -n "$ADMIN" ] || { echo "No admin key: pass it as the second argument or set QUBRID_ADMIN_KEY." >&2; exit 2; }
USER_ID="walk-$(date +%s)-$RANDOM"
SESSION_ID="gpu-$USER_ID"

step() { echo; echo "== $*"; }
# call METHOD PATH KEY EXPECTED_STATUS [JSON BODY] [IDEMPOTENCY KEY] — prints the body, fails on another status.
call() {
  local method=$1 path=$2 key=$3 expected=$4 body=${5:-} idem=${6:-}
  local args=(-sS -o /tmp/qubrid-walk.$$ -w '%{http_code}' -X "$method" -H "Authorization: Bearer $key")
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' -d "$body")
  [ -n "$idem" ] && args+=(-H "Idempotency-Key: $idem")
  local status; status=$(curl "${args[@]}" "$BASE$path")
  cat /tmp/qubrid-walk.$$; echo
  if [ "$status" != "$expected" ]; then echo "FAILED: $method $path answered $status, expected $expected" >&2; rm -f /tmp/qubrid-walk.$$; exit 1; fi
}
json() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" /tmp/qubrid-walk.$$; }

step "1. Create API keys (admin): one for the user, one for the orchestrator"
call POST /v1/api-keys "$ADMIN" 201 "{\"role\":\"user\",\"userId\":\"$USER_ID\"}"; USER_KEY=$(json key)
call POST /v1/api-keys "$ADMIN" 201 '{"role":"orchestrator"}'; ORCH_KEY=$(json key)

step "2. Create the wallet (admin): the sign-up bonus is granted once"
call PUT "/v1/wallets/$USER_ID" "$ADMIN" 201

step "3. Top up 25 USD with the sandbox test card (user)"
call POST "/v1/wallets/$USER_ID/topups" "$USER_KEY" 201 '{"amount":25,"paymentToken":"tok_visa"}' "topup-$USER_ID"
step "   ... the same request again is answered with the first result, nothing new is added"
call POST "/v1/wallets/$USER_ID/topups" "$USER_KEY" 201 '{"amount":25,"paymentToken":"tok_visa"}' "topup-$USER_ID"

step "4. Start a GPU session on an A100 (orchestrator), let it run, stop it"
call POST /v1/sessions "$ORCH_KEY" 201 "{\"sessionId\":\"$SESSION_ID\",\"userId\":\"$USER_ID\",\"instanceType\":\"A100\"}"
sleep 3
call POST "/v1/sessions/$SESSION_ID/stop" "$ORCH_KEY" 200

step "5. Read the balance and the ledger (user)"
call GET "/v1/wallets/$USER_ID" "$USER_KEY" 200
call GET "/v1/wallets/$USER_ID/ledger?limit=10" "$USER_KEY" 200
grep -q '"kind":"session_charge"' /tmp/qubrid-walk.$$ && grep -q '"kind":"topup"' /tmp/qubrid-walk.$$ && grep -q '"kind":"grant"' /tmp/qubrid-walk.$$ \
  || { echo "FAILED: the ledger lacks the grant, top-up or session charge" >&2; exit 1; }
rm -f /tmp/qubrid-walk.$$
echo; echo "walk-through OK"
