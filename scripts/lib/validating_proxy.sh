# A validating proxy between the test command's clients (the curl walk-through, the generated TypeScript client) and the
# API: Stoplight Prism (tests/openapi-client, exact version in its package-lock.json) checks every request and answer
# against the running system's /openapi/v1.json, so an answer that breaks the document fails the test command.
#   validating_proxy_start BASE_URL LOG   starts it on a free port; sets VALIDATING_PROXY_URL (BASE_URL itself if it did
#                                         not start, so the clients still run and validating_proxy_check fails)
#   validating_proxy_check                stops it and reads LOG: prints the exchanges and violations, fails on any violation
# Needs OPENAPI_CLIENT_WORK (where tests/openapi-client/run.sh installs its npm packages) like run.sh.

validating_proxy_free_port() {
  if declare -F pg_free_port >/dev/null; then pg_free_port; else python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; fi
}

validating_proxy_start() { # validating_proxy_start BASE_URL LOG
  local base=$1 port
  VALIDATING_PROXY_LOG=$2 VALIDATING_PROXY_URL=$base VALIDATING_PROXY_PID=""
  port=$(validating_proxy_free_port) || return 1
  bash "$(dirname "${BASH_SOURCE[0]}")/../../tests/openapi-client/run.sh" proxy "$base" "$port" > "$VALIDATING_PROXY_LOG" 2>&1 &
  VALIDATING_PROXY_PID=$!
  local _
  for _ in $(seq 1 240); do # npm ci on a fresh folder, then Prism's start: bounded, 2 minutes
    grep -qs 'Prism is listening' "$VALIDATING_PROXY_LOG" && { VALIDATING_PROXY_URL="http://127.0.0.1:$port"; return 0; }
    kill -0 "$VALIDATING_PROXY_PID" 2>/dev/null || break
    sleep 0.5
  done
  echo "The validating proxy did not start:" >&2; tail -n 20 "$VALIDATING_PROXY_LOG" >&2
  return 1
}

validating_proxy_stop() {
  if [ -n "${VALIDATING_PROXY_PID:-}" ] && kill -0 "$VALIDATING_PROXY_PID" 2>/dev/null; then
    kill -TERM "$VALIDATING_PROXY_PID" 2>/dev/null || true
    wait "$VALIDATING_PROXY_PID" 2>/dev/null || true
  fi
  VALIDATING_PROXY_PID=""
}

validating_proxy_check() {
  local log=${VALIDATING_PROXY_LOG:?validating_proxy_start first}
  local started=0
  grep -q 'Prism is listening' "$log" 2>/dev/null && started=1
  validating_proxy_stop
  if [ "$started" != 1 ]; then echo "The validating proxy never ran, so no answer was checked:"; tail -n 20 "$log"; return 1; fi
  # Prism logs one "Request received" per exchange; with --errors each request or answer that breaks the document is
  # answered with its problem (422 request / 500 answer, details in the sl-violations header) and logged as an error.
  local exchanges violations warnings
  exchanges=$(grep -c 'Request received' "$log" || true)
  violations=$(grep -cE '✖ +error' "$log" || true)
  warnings=$(grep -cE '⚠ +warning' "$log" || true)
  grep -E '✖ +error|⚠ +warning' "$log" | sed 's/^/  /' || true
  echo "openapi: validating proxy (Stoplight Prism $(sed -n 's/^prism \([^ ]*\) .*/\1/p' "$log")): $exchanges exchanges, $violations violations, $warnings warnings"
  [ "$exchanges" -gt 0 ] || { echo "No exchange went through the validating proxy."; return 1; }
  [ "$violations" = 0 ]
}
