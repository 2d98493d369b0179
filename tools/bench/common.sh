# Shared helpers for the benchmark scripts in tools/bench (sourced, not run).
# Expects ROOT (the repository root) to be set by the caller.
BIN=/usr/lib/postgresql/15/bin
# The default (fastbuild) output tree: bazel-bin follows whichever configuration was built
# last, which may be a sanitizer or fuzzing build.
OUT="$ROOT/bazel-out/k8-fastbuild/bin"
[ -x "$OUT/agent/walrep_agent" ] || OUT="$ROOT/bazel-bin"
AGENT="$OUT/agent/walrep_agent"
CTL="$OUT/tools/walrepctl/walrepctl"
CLK_TCK=$(getconf CLK_TCK)

say() { printf '\n== %s\n' "$*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

# PostgreSQL refuses to run as root; the local primary runs as `postgres` then.
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# Builds the agent and the CLI unless they are already there (BENCH_NO_BUILD=1 skips).
build_binaries() {
  if [ -z "${BENCH_NO_BUILD:-}" ]; then
    say "building walrep_agent and walrepctl"
    (cd "$ROOT" && bazel build //agent:walrep_agent //tools/walrepctl:walrepctl 2>&1 |
      grep -E '^(ERROR|INFO: Build)' >&2) || true
  fi
  [ -x "$AGENT" ] || { AGENT="$ROOT/bazel-bin/agent/walrep_agent"; CTL="$ROOT/bazel-bin/tools/walrepctl/walrepctl"; }
  [ -x "$AGENT" ] && [ -x "$CTL" ] || die "walrep_agent/walrepctl not built"
  [ -x /usr/bin/time ] || { say "installing GNU time"; apt-get install -y -qq time >/dev/null; }
}

# Copies the binaries into DIR and uses those copies, so that a rebuild of bazel-bin during
# a long benchmark cannot swap or remove them under it.
snapshot_binaries() {
  mkdir -p "$1"
  cp "$AGENT" "$1/walrep_agent"; cp "$CTL" "$1/walrepctl"
  AGENT="$1/walrep_agent"; CTL="$1/walrepctl"
}

# "16/B374D848" -> decimal byte position
lsn_to_num() { local x="$1"; echo $(( (16#${x%/*} << 32) | 16#${x#*/} )); }
num_to_lsn() { printf '%X/%X\n' $(( $1 >> 32 )) $(( $1 & 0xFFFFFFFF )); }

# median of the arguments (numbers)
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {m=int((NR+1)/2); if (NR%2) print a[m]; else print (a[m]+a[m+1])/2}'; }
# a / b with 2 decimals, "n/a" if b is 0
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b+0 == 0) print "n/a"; else printf "%.2f\n", a/b }'; }

# user+sys CPU seconds of a live process (all its threads), and its peak RSS in kB
proc_cpu() { awk -v t="$CLK_TCK" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / t }' "/proc/$1/stat"; }
proc_user_sys() { awk -v t="$CLK_TCK" '{ sub(/^.*\) /, ""); printf "%.2f %.2f\n", $12 / t, $13 / t }' "/proc/$1/stat"; }
proc_hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", b - a }'; }

# Brings the machine to the same state before each timed run: dirty data written back,
# page cache and inode caches dropped (root only), then DIR... read back into the cache,
# so that no run pays for reclaiming the previous run's pages or, on ext4, for scanning
# the inodes it just deleted, and every run reads its input from memory.
settle() {
  sync
  if [ -w /proc/sys/vm/drop_caches ]; then
    echo 3 >/proc/sys/vm/drop_caches
    local d
    for d in "$@"; do find "$d" -type f -exec cat {} + >/dev/null 2>&1 || true; done
  fi
}

# Every tool under test (walrep_agent, pg_receivewal) is started with `setsid`, in a session
# of its own, as systemd or a container runtime starts a daemon and as pg_ctl starts the
# PostgreSQL standby it is compared with (the postmaster calls setsid). With the
# scheduler's autogroups (kernel.sched_autogroup_enabled, on in Debian) each session shares
# the CPU as one group: a tool left in this script's session would share that group's share
# with pgbench, and each of its wake-ups on a busy 2-core machine would wait behind the
# load generator. setsid execs in place (a background job is no group leader), so $! is
# still the tool's pid.
#
# Starts walrep_agent on DATA_DIR with a free gRPC port; sets AGENT_PID and AGENT_ADDR.
start_agent() {
  local data_dir="$1" log="$2"
  AGENT_ADDR="127.0.0.1:$(free_port)"
  # AGENT_METRICS=1: serve /metrics on METRICS_ADDR (for the latency histograms).
  METRICS_ADDR=""
  [ -n "${AGENT_METRICS:-}" ] && METRICS_ADDR="127.0.0.1:$(free_port)"
  # In a session of its own (above).
  setsid "$AGENT" --data_dir="$data_dir" --grpc_listen="$AGENT_ADDR" --metrics_listen="$METRICS_ADDR" \
    >"$log" 2>&1 &
  AGENT_PID=$!
  for _ in $(seq 200); do
    "$CTL" --addr="$AGENT_ADDR" --timeout=1s status >/dev/null 2>&1 && return 0
    kill -0 "$AGENT_PID" 2>/dev/null || { cat "$log" >&2; die "walrep_agent exited"; }
    sleep 0.05
  done
  die "walrep_agent did not answer on $AGENT_ADDR"
}

stop_agent() {
  [ -n "${AGENT_PID:-}" ] || return 0
  kill -TERM "$AGENT_PID" 2>/dev/null || true
  wait "$AGENT_PID" 2>/dev/null || true
  AGENT_PID=""
}

# The throwaway primary every benchmark uses, in $PRIMARY: sets CONNINFO and PORT.
start_primary() {
  say "starting a throwaway PostgreSQL 15 primary in $PRIMARY"
  CONNINFO=$("$ROOT/tools/local_primary" start "$PRIMARY")
  PORT=$(cat "$PRIMARY/port")
}
psql_p() { "$ROOT/tools/local_primary" psql "$PRIMARY" "$@"; }
pgbench_p() { as_pg "$BIN/pgbench" -h "$PRIMARY/sock" -p "$PORT" -U postgres "$@" postgres; }

# No checkpoint of the server's own during a run: the CHECKPOINT each script runs before
# a timed run is the only one, so every run starts in the same full-page-write state.
no_timed_checkpoints() {
  psql_p -c "ALTER SYSTEM SET max_wal_size = '8GB'" -c "ALTER SYSTEM SET checkpoint_timeout = '1h'" \
         -c "SELECT pg_reload_conf()" >/dev/null
}

# The primary's synchronous standby: application_name $1 ('' for none).
set_sync_names() {
  psql_p -c "ALTER SYSTEM SET synchronous_standby_names = '$1'" -c "SELECT pg_reload_conf()" >/dev/null
}
sync_state() { # application_name -> its pg_stat_replication.sync_state (empty if not connected)
  psql_p -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = '$1'" | head -1
}
# Waits until application_name $1 is the synchronous standby; fails the benchmark if it
# never is (a run without it would measure no standby at all).
wait_sync() {
  local state=""
  for _ in $(seq 1200); do
    state=$(sync_state "$1")
    [ "$state" = sync ] && return 0
    sleep 0.1
  done
  die "$1 did not become the synchronous standby (sync_state='$state')"
}

# A hot standby of the primary in $STANDBY made with pg_basebackup -R over slot
# bench_standby, application_name=standby (not started); sets SB_PORT and SB_CONNINFO.
make_pg_standby() {
  say "making a hot standby with pg_basebackup -R"
  mkdir -p "$STANDBY/sock"; chown -R postgres "$STANDBY" 2>/dev/null || true
  SB_PORT=$(free_port)
  SB_CONNINFO="${CONNINFO/application_name=walrep/application_name=standby}"
  as_pg "$BIN/pg_basebackup" -d "$SB_CONNINFO" -D "$STANDBY/data" -X stream -R -C -S bench_standby \
    -c fast >"$STANDBY/basebackup.log" 2>&1 || { cat "$STANDBY/basebackup.log" >&2; die "pg_basebackup failed"; }
  cat >>"$STANDBY/data/postgresql.auto.conf" <<CONF
port = $SB_PORT
unix_socket_directories = '$STANDBY/sock'
hot_standby = on
primary_conninfo = '$SB_CONNINFO'
primary_slot_name = 'bench_standby'
CONF
}

# The end of every benchmark's cleanup: the agent, the primary, then $WORK (kept with
# BENCH_KEEP=1).
cleanup_common() {
  stop_agent
  "$ROOT/tools/local_primary" stop "$PRIMARY" 2>/dev/null || true
  if [ -n "${BENCH_KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
