# Rolling upgrade (scripts/cluster.sh upgrade REF), sourced by system.sh. REF is built in its own folder
# ($data/releases/<sha>, a detached git worktree of this repository), then the processes are replaced one at a time:
# each silo by a new silo of REF (start it, wait until it is ready, then SIGTERM the old one: it drains, handing its
# activations and reminders to the others, within Qubrid:Silo:ShutdownTimeout), then each API process behind the load
# balancer by a new one in a free slot (ready on its own port and taken in by HAProxy's health check before the old one
# gets SIGTERM). A single API without the load balancer (`up` without --apis) is restarted, with a short outage.
# The build the processes run is remembered in $data/bin-root, so that `add` starts the same release.

# upgrade_build REF: builds REF once into $data/releases/<sha> and prints that folder.
upgrade_build() {
  local ref=$1 sha dir
  sha=$(git -C "$root" rev-parse --verify --quiet "$ref^{commit}") || { echo "No commit '$ref' in $root" >&2; return 1; }
  if [ "$sha" = "$(git -C "$root" rev-parse HEAD)" ] && [ -z "$(git -C "$root" status --porcelain --untracked-files=no)" ]; then
    echo "$root"; return 0 # this checkout is REF: its own build
  fi
  dir=$data/releases/$sha
  if [ ! -f "$dir/.qubrid-built" ]; then
    rm -rf "$dir"; git -C "$root" worktree prune
    mkdir -p "$data/releases"
    git -C "$root" worktree add --detach "$dir" "$sha" >/dev/null 2>&1 || { echo "git worktree add $dir $sha failed" >&2; return 1; }
    echo "Building $ref ($sha) in $dir ..." >&2
    # Only what runs: the silo and the API (and what they reference), not the tests.
    (cd "$dir" && dotnet build -c Release -v quiet -nologo src/Silo/Qubrid.Silo.csproj >/dev/null \
      && dotnet build -c Release -v quiet -nologo src/Api/Qubrid.Api.csproj >/dev/null) || { echo "Building $ref failed" >&2; return 1; }
    touch "$dir/.qubrid-built"
  fi
  echo "$dir"
}

# upgrade_remove_build DIR: removes a release folder made by upgrade_build (not this checkout).
upgrade_remove_build() {
  [ "$1" = "$root" ] && return 0
  git -C "$root" worktree remove --force "$1" 2>/dev/null || rm -rf "$1"
  git -C "$root" worktree prune
}

# Sends SIGTERM to the process in PIDFILE and waits (bounded by LIMIT s) until it exits; prints the seconds it took.
# Past the bound it is killed (SIGKILL) and the function fails.
upgrade_stop_gracefully() {
  local pidfile=$1 limit=$2 pid started i
  pid=$(cat "$pidfile"); started=$(date +%s.%N)
  kill -TERM "$pid" 2>/dev/null || { rm -f "$pidfile"; echo 0; return 0; }
  for i in $(seq 1 $((limit * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid" 2>/dev/null || true; rm -f "$pidfile"
    echo "process $pid did not stop within $limit s: killed" >&2; return 1
  fi
  rm -f "$pidfile"
  awk -v a="$(date +%s.%N)" -v b="$started" 'BEGIN { printf "%.1f\n", a - b }'
}

# Waits (bounded) until silo N answers ready on its HTTP port (it serves HTTP only once it has joined the cluster).
silo_wait_ready() {
  local n=$1 limit=${2:-180} waited=0 port=$(( ${QUBRID_HTTP_PORT_BASE:-8080} + $1 ))
  while [ "$waited" -lt $((limit * 2)) ]; do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/health/ready" 2>/dev/null && return 0
    if ! kill -0 "$(cat "$run/silo$n.pid")" 2>/dev/null; then echo "silo $n stopped; see $logs/silo$n.log" >&2; tail -20 "$logs/silo$n.log" >&2; return 1; fi
    sleep 0.5; waited=$((waited + 1))
  done
  echo "silo $n not ready after $limit s" >&2; return 1
}

# upgrade_event WHAT PROCESS DIR: appends "<epoch seconds> WHAT PROCESS <release>" to $data/upgrade-events.log, the timeline
# that `verify --events` lines the worst charging pauses up against (which step of a roll each pause spans).
upgrade_event() {
  local release
  release=$(git -C "$3" rev-parse --short=12 HEAD 2>/dev/null || echo "?")
  [ "$3" = "$root" ] && [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ] && release="$release+wt"
  echo "$(date +%s.%N) $1 $2 $release" >> "$data/upgrade-events.log"
}

running_silos() {
  local f
  for f in "$run"/silo*.pid; do [ -f "$f" ] && basename "$f" .pid | sed 's/^silo//'; done | sort -n
}

# upgrade_roll DIR: replaces every silo, then every API process, with DIR's build, one at a time. Prints one line per
# step ("silo 1 -> 3: ready in 6.1 s, drained in 2.3 s") and the total.
upgrade_roll() {
  local dir=$1 started old new ready_at t drain limit old_dir
  started=$(date +%s.%N)
  limit=$(( ${QUBRID_SHUTDOWN_BOUND:-30} + 15 ))
  local previous_root=$bin_root # what processes started before any roll run
  bin_root=$dir; echo "$dir" > "$data/bin-root"
  for old in $(running_silos); do
    new=$(( $(running_silos | tail -1) + 1 ))
    t=$(date +%s.%N)
    upgrade_event start "silo$new" "$dir"
    echo "$dir" > "$run/silo$new.build" # which release each process runs, for the timeline
    start_silo "$new" >/dev/null
    silo_wait_ready "$new" || return 1
    upgrade_event ready "silo$new" "$dir"
    ready_at=$(awk -v a="$(date +%s.%N)" -v b="$t" 'BEGIN { printf "%.1f", a - b }')
    old_dir=$(cat "$run/silo$old.build" 2>/dev/null || echo "$previous_root")
    upgrade_event sigterm "silo$old" "$old_dir"
    drain=$(upgrade_stop_gracefully "$run/silo$old.pid" "$limit") || return 1
    upgrade_event exit "silo$old" "$old_dir"
    echo "  silo $old -> $new: ready in $ready_at s; silo $old drained and exited in $drain s"
  done
  if [ -n "$(api_running_slots)" ]; then
    for old in $(api_running_slots); do
      new=$(api_free_slot) || { echo "no free API slot (QUBRID_API_SLOTS=$haproxy_slots)" >&2; return 1; }
      t=$(date +%s.%N)
      upgrade_event start "api$new" "$dir"
      echo "$dir" > "$run/api$new.build"
      start_api "$new" >/dev/null
      api_wait_ready "$new" || return 1
      sleep 1.5 # HAProxy takes a slot in after 2 good checks 0.5 s apart
      upgrade_event ready "api$new" "$dir"
      ready_at=$(awk -v a="$(date +%s.%N)" -v b="$t" 'BEGIN { printf "%.1f", a - b }')
      old_dir=$(cat "$run/api$old.build" 2>/dev/null || echo "$previous_root")
      upgrade_event sigterm "api$old" "$old_dir"
      drain=$(upgrade_stop_gracefully "$run/api$old.pid" "$limit") || return 1
      upgrade_event exit "api$old" "$old_dir"
      echo "  API $old -> $new: ready in $ready_at s; API $old drained and exited in $drain s"
    done
  elif [ -f "$run/api.pid" ]; then
    echo "  the API runs alone (no load balancer): restarting it, clients see a short outage; use 'up N --apis 2' to avoid it" >&2
    upgrade_stop_gracefully "$run/api.pid" "$limit" >/dev/null || return 1
    start_api
    wait_ready || return 1
  fi
  echo "  roll done in $(awk -v a="$(date +%s.%N)" -v b="$started" 'BEGIN { printf "%.1f", a - b }') s"
}
