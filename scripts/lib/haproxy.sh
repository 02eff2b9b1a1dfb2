# Several API processes behind HAProxy (Debian's haproxy 2.6), sourced by system.sh. The load balancer listens where a single
# API would ($api_urls, default http://127.0.0.1:5080); API process N listens on QUBRID_API_PORT_BASE+N (default 5180+N) in
# one of $haproxy_slots fixed slots, so that one process can be replaced by a new one in another slot while clients keep
# one address (`scripts/cluster.sh upgrade`). HAProxy asks each slot's /health/ready twice a second: a process that is
# stopping answers 503 there at once and keeps serving for Qubrid:Api:DrainDelay, so it is taken out before it stops
# listening; a request that still meets a closed connection is retried on another process (every write carries an
# Idempotency-Key). HAProxy also gives what it refuses itself (bad header bytes, a URI too long, no process up), and what
# an API process's HTTP server refuses before the app with an empty body, a problem+json body with a code.

haproxy_slots=${QUBRID_API_SLOTS:-4}
api_port_base=${QUBRID_API_PORT_BASE:-5180}

haproxy_enabled() { [ -f "$data/haproxy.cfg" ]; }

haproxy_ensure_installed() {
  command -v haproxy >/dev/null 2>&1 && return 0
  if [ "$(id -u)" != 0 ]; then echo "haproxy is missing: run 'sudo apt-get install -y haproxy'." >&2; return 1; fi
  echo "Installing haproxy ..." >&2
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >&2
}

api_slot_port() { echo $(( api_port_base + $1 )); }

# A problem+json body (one line, single-quote free) for HAProxy's `string` argument.
haproxy_problem() { # status code title detail
  printf '{"type":"https://qubrid.ai/problems/%s","title":"%s","status":%s,"code":"%s","detail":"%s"}' "$2" "$3" "$1" "$2" "$4"
}

# Writes $data/haproxy.cfg: the front on $api_urls' host:port, one backend with $haproxy_slots slots.
haproxy_write_config() {
  local front="${api_urls%%;*}" n servers=()
  for n in $(seq 1 "$haproxy_slots"); do servers+=("api$n=127.0.0.1:$(api_slot_port "$n")"); done
  haproxy_config "${front#http://}" "${servers[@]}" > "$data/haproxy.cfg"
  haproxy -c -q -f "$data/haproxy.cfg"
}

# haproxy_config BIND NAME=HOST:PORT...: the configuration (also the one in docker-compose.yml: `haproxy_config :5080
# api=api:8080 api2=api2:8080`).
haproxy_config() {
  local front=$1 server; shift
  {
    echo "# Written by scripts/lib/haproxy.sh (haproxy_config)."
    echo "global"
    echo "  log stdout format raw local0 notice"
    echo "  maxconn 1024"
    # Buffers larger than what Kestrel accepts (request line 8 KB, headers 32 KB): an oversized request then reaches
    # Kestrel, whose empty-body 414/431 becomes problem+json below. HAProxy 2.6's own parse-time 400 (beyond 64 KB)
    # keeps its built-in HTML body: its early errors do not use http-error or errorfile.
    echo "  tune.bufsize 65536"
    echo "defaults"
    echo "  mode http"
    echo "  log global"
    echo "  timeout connect 1s"
    echo "  timeout client 60s"
    echo "  timeout server 60s"
    echo "  timeout http-request 10s"
    echo "  timeout http-keep-alive 10s"
    # A connection refused or closed without an answer (a process that just stopped) is retried on another process.
    echo "  retries 3"
    echo "  option redispatch 1"
    echo "  retry-on conn-failure empty-response junk-response"
    # A check may wait on the cluster (/health/ready asks for a live silo): a slow answer is not a down process.
    echo "  timeout check 3s"
    echo "  http-error status 400 content-type application/problem+json string '$(haproxy_problem 400 invalid_request 'Bad request' 'The request could not be read (malformed request line or header).')'"
    echo "  http-error status 408 content-type application/problem+json string '$(haproxy_problem 408 request_timeout 'Request timeout' 'The request did not arrive in time.')'"
    echo "  http-error status 413 content-type application/problem+json string '$(haproxy_problem 413 payload_too_large 'Request too large' 'The request line or headers are too large.')'"
    echo "  http-error status 500 content-type application/problem+json string '$(haproxy_problem 500 internal_error 'Internal error' 'The load balancer failed; retry with the same Idempotency-Key.')'"
    echo "  http-error status 502 content-type application/problem+json string '$(haproxy_problem 502 bad_gateway 'Bad gateway' 'The API process gave no valid answer; retry with the same Idempotency-Key.')'"
    echo "  http-error status 503 content-type application/problem+json hdr Retry-After 1 string '$(haproxy_problem 503 service_unavailable 'Service unavailable' 'No API process is ready; retry with the same Idempotency-Key.')'"
    echo "  http-error status 504 content-type application/problem+json string '$(haproxy_problem 504 gateway_timeout 'Gateway timeout' 'The API process did not answer in time; retry with the same Idempotency-Key.')'"
    echo "frontend qubrid"
    echo "  bind $front"
    echo "  default_backend api"
    echo "backend api"
    echo "  balance roundrobin"
    echo "  option httpchk GET /health/ready"
    echo "  http-check expect status 200"
    echo "  default-server inter 500ms fall 2 rise 2 init-addr libc,none"
    # A write without an Idempotency-Key (creating a webhook endpoint, rotating a key) may have been carried out by a
    # process that closed without answering: it is retried only when the connection itself failed.
    echo "  http-request disable-l7-retry if { method POST PATCH } !{ req.hdr(Idempotency-Key) -m found }"
    # What Kestrel refuses before the app (URI too long 414, headers too large 431, a bad request 400) comes with an
    # empty body: give it a problem+json body; the app's own problem+json answers pass through untouched.
    local status code title detail
    for spec in "400|invalid_request|Bad request|The request could not be read." \
                "413|payload_too_large|Request too large|The request is too large." \
                "414|uri_too_long|URI too long|The request URI is too long." \
                "431|headers_too_large|Request headers too large|The request headers are too large." \
                "505|http_version_not_supported|HTTP version not supported|This HTTP version is not supported."; do
      IFS='|' read -r status code title detail <<< "$spec"
      echo "  http-response return status $status content-type application/problem+json string '$(haproxy_problem "$status" "$code" "$title" "$detail")' if { status $status } !{ res.hdr(content-type) -m found }"
    done
    for server in "$@"; do echo "  server ${server%%=*} ${server#*=} check"; done
  }
}

haproxy_start() {
  haproxy_ensure_installed
  haproxy_write_config
  haproxy -db -f "$data/haproxy.cfg" >> "$logs/haproxy.log" 2>&1 &
  echo $! > "$run/haproxy.pid"
  echo "  haproxy: pid $!, ${api_urls%%;*} -> API slots $(api_slot_port 1)..$(api_slot_port "$haproxy_slots")"
}

# The API slots with a running process, from the pid files (api1.pid ...).
api_running_slots() {
  local f
  for f in "$run"/api[0-9]*.pid; do
    [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && basename "$f" .pid | sed 's/^api//'
  done | sort -n
}

# A free slot (no running process), or nothing.
api_free_slot() {
  local n running; running=" $(api_running_slots | xargs) "
  for n in $(seq 1 "$haproxy_slots"); do
    case "$running" in *" $n "*) ;; *) echo "$n"; return 0 ;; esac
  done
  return 1
}

# Waits (bounded) until API slot N answers ready on its own port.
api_wait_ready() {
  local n=$1 limit=${2:-120} waited=0 pidfile="$run/api$1.pid"
  while [ "$waited" -lt $((limit * 2)) ]; do
    curl -fsS --max-time 5 -o /dev/null "http://127.0.0.1:$(api_slot_port "$n")/health/ready" 2>/dev/null && return 0
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then echo "API process $n stopped; see $logs/api$n.log" >&2; tail -20 "$logs/api$n.log" >&2; return 1; fi
    sleep 0.5; waited=$((waited + 1))
  done
  echo "API process $n not ready after $limit s" >&2; return 1
}
