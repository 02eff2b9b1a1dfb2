#!/usr/bin/env bash
# Starts the whole system on this machine: PostgreSQL under .data/ (created on first run, installing the
# Debian package when missing), the schema migrations, one silo and the API with the billing page on
# http://127.0.0.1:5080. Ctrl-C stops what it started; `scripts/start.sh stop` stops a running one.
# Data survives a restart. The silo and the API talk over mutual TLS with a local CA and certificate created
# once in .data/tls (see tls_settings in scripts/lib/system.sh for your own). Settings: QUBRID_DATA_DIR,
# QUBRID_PG_PORT, ASPNETCORE_URLS, and any configuration key as an environment variable (e.g.
# Qubrid__Metering__ChargeInterval=00:00:10, Qubrid__Tls__CaPath=...).
set -euo pipefail
# --standby (or QUBRID_STANDBY=1): PostgreSQL as a primary and a synchronous standby, with WAL archiving (see README).
# --ha (or QUBRID_HA=1): three etcd members and two PostgreSQL nodes under Patroni, which fails over by itself (see README).
if [ "${1:-}" = --standby ]; then export QUBRID_STANDBY=1; shift; fi
if [ "${1:-}" = --ha ]; then export QUBRID_HA=1; shift; fi
source "$(dirname "$0")/lib/system.sh"

if [ "${1:-}" = stop ]; then stop_all; echo "stopped"; exit 0; fi

system_prepare
trap 'echo; echo "stopping..."; stop_all' EXIT
trap 'exit 130' INT TERM
start_silo 1
start_api
wait_ready
cat <<MSG
Qubrid is running.
  API and billing page: ${api_urls%%;*}/   (API reference: ${api_urls%%;*}/scalar)
  PostgreSQL:           $(if patroni_enabled; then echo "Patroni nodes $(patroni_connection_string | sed 's/;.*//; s/^Host=//') (scripts/cluster.sh status)"; else echo "127.0.0.1:$(node_port "$(primary_node)")"; fi), database qubrid (password in $data/secrets)$(ha_enabled && echo "; synchronous standby on 127.0.0.1:$(node_port "$(standby_node)")")
  cluster TLS:          ${Qubrid__Tls__CertificatePath:-off} (CA ${Qubrid__Tls__CaPath:-none})
  admin API key:        $admin_key
  logs:                 $logs/
Press Ctrl-C to stop (or run scripts/start.sh stop from another terminal).
MSG
wait -n "$(cat "$run/silo1.pid")" "$(cat "$run/api.pid")" || true
echo "A process ended; see $logs/." >&2
