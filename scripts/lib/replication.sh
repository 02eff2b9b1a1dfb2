# A primary and a synchronous standby, WAL archiving, base backups and point-in-time restores, for the systems that
# scripts/lib/system.sh starts. Sourced by system.sh; relies on its $data, $logs, $pg_port and $db_password.
#
# Two server folders, each with its own port: $data/pg on $pg_port and $data/pg2 on $standby_port. Which one is the
# primary is written in $data/pg-primary (pg until a failover). The primary's commits wait for the standby
# (synchronous_standby_names = '*', synchronous_commit = on): a commit is acknowledged only once the standby has
# flushed it. Both archive their WAL into $data/wal-archive (the standby too, archive_mode = always, so that nothing
# is missing from the archive when the primary dies before archiving its last segments). Each server's settings are
# in its qubrid-ha.conf, included from its postgresql.conf.

standby_port=${QUBRID_PG_STANDBY_PORT:-$((pg_port + 1))}
archive=$data/wal-archive

ha_enabled() { [ "${QUBRID_STANDBY:-}" = 1 ] || [ -f "$data/pg-primary" ]; }
primary_node() { cat "$data/pg-primary" 2>/dev/null || echo pg; }
standby_node() { if [ "$(primary_node)" = pg ]; then echo pg2; else echo pg; fi; }
node_port() { if [ "$1" = pg ]; then echo "$pg_port"; else echo "$standby_port"; fi; }
node_running() { [ -f "$data/$1/postmaster.pid" ] && pg_as "$PG_BIN/pg_ctl" -D "$data/$1" status >/dev/null 2>&1; }
node_sql() { # node_sql NODE SQL: one statement as the superuser, tuples only
  PGPASSWORD=$db_password "$PG_BIN/psql" -h 127.0.0.1 -p "$(node_port "$1")" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtAc "$2"
}

# ha_conf NODE primary|alone|standby|restore [TARGET_TIME]: writes the node's qubrid-ha.conf and includes it once.
ha_conf() {
  local node=$1 role=$2 dir=$data/$1 target=${3:-}
  local archive_command="f=$archive/%f; if [ -f \$f ]; then cmp -s %p \$f; else cp %p \$f.tmp\$\$ && mv \$f.tmp\$\$ \$f; fi"
  {
    echo "# Written by scripts/lib/replication.sh ($role); overrides postgresql.conf."
    echo "cluster_name = 'qubrid_$node'"
    case $role in
      primary) echo "synchronous_standby_names = '*'" ;; # a commit waits for a standby's flush
      *) echo "synchronous_standby_names = ''" ;;
    esac
    if [ "$role" = restore ]; then
      echo "archive_mode = off"
      echo "restore_command = 'cp $archive/%f %p'"
      echo "recovery_target_time = '$target'"
      echo "recovery_target_timeline = 'latest'"
      echo "recovery_target_action = 'promote'"
    else
      echo "archive_mode = always"
      echo "archive_command = '$archive_command'"
      echo "wal_retrieve_retry_interval = '1s'"
    fi
  } | pg_as tee "$dir/qubrid-ha.conf" >/dev/null
  grep -q "qubrid-ha.conf" "$dir/postgresql.conf" || echo "include_if_exists = 'qubrid-ha.conf'" | pg_as tee -a "$dir/postgresql.conf" >/dev/null
}

# The primary's settings, applied before it starts (archive_mode needs a restart).
ha_prepare_primary() {
  pg_owner_dir "$archive"
  local node; node=$(primary_node)
  [ -f "$data/pg-primary" ] || echo "$node" > "$data/pg-primary"
  # Alone until the standby exists (a synchronous commit with no standby would wait forever).
  [ -f "$data/$node/qubrid-ha.conf" ] || ha_conf "$node" alone
}

# Starts the standby, creating it from a base backup of the running primary when it does not exist yet.
ha_start_standby() {
  local primary standby; primary=$(primary_node); standby=$(standby_node)
  if [ ! -f "$data/$standby/PG_VERSION" ]; then
    echo "Creating the standby in $data/$standby (port $(node_port "$standby")) from the primary ..."
    rm -rf "${data:?}/$standby"; pg_owner_dir "$data/$standby"
    node_sql "$primary" "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'qubrid_$standby' AND NOT active" >/dev/null
    # -R writes standby.signal and primary_conninfo (with the password: the folder is the server user's only, 0700).
    pg_as env PGPASSWORD="$db_password" "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$(node_port "$primary")" -U postgres \
      -D "$data/$standby" -R -X stream -C -S "qubrid_$standby" -c fast 2> >(grep -v "skipping special file" >&2)
    ha_conf "$standby" standby
  fi
  if ! node_running "$standby"; then
    if pg_port_in_use "$(node_port "$standby")"; then echo "Port $(node_port "$standby") is taken: set QUBRID_PG_STANDBY_PORT to a free one." >&2; return 1; fi
    pg_start "$data/$standby" "$(node_port "$standby")" "$logs/postgres-$standby.log"
  fi
  # Synchronous from now on: reload the primary in case it ran alone (after a failover) until this standby came.
  if ! grep -q "synchronous_standby_names = '\*'" "$data/$primary/qubrid-ha.conf"; then
    ha_conf "$primary" primary
    pg_as "$PG_BIN/pg_ctl" -D "$data/$primary" reload >/dev/null
  fi
  ha_wait_streaming
}

# Waits (bounded) until the standby streams synchronously from the primary.
ha_wait_streaming() {
  local state
  for _ in $(seq 1 120); do
    state=$(node_sql "$(primary_node)" "SELECT sync_state FROM pg_stat_replication WHERE state = 'streaming' LIMIT 1" 2>/dev/null || true)
    [ "$state" = sync ] && return 0
    sleep 0.5
  done
  echo "The standby is not streaming synchronously after 60 s; see $logs/postgres-$(standby_node).log." >&2; return 1
}

# The connection string every process uses: both servers, and Npgsql connects to whichever is the primary
# (Target Session Attributes=primary), re-checking which one it is every 2 s after a failure.
ha_connection_string() {
  echo "Host=127.0.0.1:$pg_port,127.0.0.1:$standby_port;Target Session Attributes=primary;Host Recheck Seconds=2;Database=qubrid;Username=qubrid;Password=$db_password"
}

# Promotes the standby. The old primary is stopped first if it still runs (it must never take writes again), and its
# folder is set aside (pg.failed-<time>): `scripts/cluster.sh standby` makes a new standby in its place. Until then the
# new primary commits alone (synchronous_standby_names = '').
ha_failover() {
  local old new; old=$(primary_node); new=$(standby_node)
  [ -f "$data/$new/standby.signal" ] || { echo "There is no standby to promote in $data/$new." >&2; return 1; }
  if node_running "$old"; then pg_as "$PG_BIN/pg_ctl" -D "$data/$old" -m immediate -w -t 60 stop >/dev/null 2>&1 || true; fi
  ha_conf "$new" alone
  pg_as "$PG_BIN/pg_ctl" -D "$data/$new" -w -t 60 promote >/dev/null
  echo "$new" > "$data/pg-primary"
  rm -f "$data/$old/postmaster.pid" # stale (the server is not running): nothing may signal whatever process gets its number
  mv "$data/$old" "$data/$old.failed-$(date -u +%Y%m%dT%H%M%SZ)"
  echo "$data/$new (port $(node_port "$new")) is the primary; the old primary's folder was set aside. Make a new standby with: scripts/cluster.sh standby"
}

# ha_backup: a base backup of the primary into $data/backups/base-<time>; prints its folder. With the WAL archive it
# restores to any instant after it.
ha_backup() {
  local dir; dir=$data/backups/base-$(date -u +%Y%m%dT%H%M%SZ)
  mkdir -p "$data/backups"; [ "$(id -u)" = 0 ] && chown postgres "$data/backups"
  pg_owner_dir "$dir"
  pg_as env PGPASSWORD="$db_password" "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$(node_port "$(primary_node)")" -U postgres -D "$dir" -X stream -c fast 2> >(grep -v "skipping special file" >&2)
  pg_as rm -f "$dir/standby.signal"
  echo "$dir"
}

# Closes the primary's current WAL segment and waits (bounded) until it is in the archive, so that a restore can reach
# everything written until now. Does nothing when no primary answers (then the archive holds what it holds).
ha_archive_current() {
  local segment
  segment=$(node_sql "$(primary_node)" "SELECT pg_walfile_name(pg_switch_wal())" 2>/dev/null) || return 0
  for _ in $(seq 1 60); do [ -f "$archive/$segment" ] && return 0; sleep 0.5; done
  echo "WAL segment $segment is not in $archive after 30 s; see the primary's log (archive_command)." >&2; return 1
}

# ha_restore BACKUP 'TIME' NAME PORT: a new server in $data/NAME on PORT with BACKUP replayed from the archive up to TIME
# (e.g. '2026-11-30 19:30:00+00'), then opened for writes. Waits (bounded) until it is.
ha_restore() {
  local backup=$1 target=$2 name=$3 port=$4
  [ ! -e "$data/$name" ] || { echo "$data/$name exists already." >&2; return 1; }
  ha_archive_current
  pg_owner_dir "$data/$name"
  pg_as cp -a "$backup/." "$data/$name/"
  pg_as rm -f "$data/$name/postmaster.pid" "$data/$name/standby.signal"
  pg_as touch "$data/$name/recovery.signal"
  ha_conf "$name" restore "$target"
  pg_start "$data/$name" "$port" "$logs/postgres-$name.log"
  for _ in $(seq 1 240); do
    [ "$(PGPASSWORD=$db_password "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qtAc 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ] && return 0
    sleep 0.5
  done
  echo "The restored server did not finish its recovery within 120 s; see $logs/postgres-$name.log." >&2; return 1
}
