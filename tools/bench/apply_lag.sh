#!/usr/bin/env bash
# Apply-lag benchmark (engine postgres): how soon a commit on the primary is visible on
# walrep's supervised hot standby, against a real PostgreSQL streaming standby of the
# same primary, in one run.
#
#   tools/bench/apply_lag.sh        # from the repository root, after tools/setup
#
# Environment: BENCH_COUNT (default 500) probes per replica; BENCH_SECONDS (default 10) per
# pgbench run; BENCH_RUNS (default 8, even: each replica goes first in half of them)
# remote_apply rounds per replica, alternating;
# BENCH_SCALE (default 10); BENCH_PERF=FILE perf of round BENCH_PERF_ROUND (default 1) of each replica; BENCH_KEEP=1 keeps the temp directory;
# BENCH_NO_BUILD=1 skips the bazel build.
#
# 1. Commit-to-visible: while `pgbench -N -c 4` writes on the primary, apply_probe
#    (tools/bench/apply_probe, walrep's own client) commits one row at a time on the
#    primary and polls the replica for it the moment the commit returns; p50/p99/max over
#    BENCH_COUNT rows, for each replica in turn.
# 2. remote_apply: pgbench -N -c 4 TPS with synchronous_commit = remote_apply and the
#    replica as the only synchronous standby; BENCH_RUNS rounds alternating between the
#    replicas, median TPS and each replica's own CPU per transaction. Which replica goes
#    first alternates too (walrep in odd rounds, the standby in even ones), after one
#    untimed warm-up run with no synchronous standby: TPS falls from run to run as
#    pgbench_history grows, most between the first runs, which favoured whichever always
#    went first.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=common.sh
. "$ROOT/tools/bench/common.sh"

COUNT="${BENCH_COUNT:-500}"
SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
SCALE="${BENCH_SCALE:-10}"
RUNS="${BENCH_RUNS:-8}"
build_binaries
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  (bazel build //tools/bench/apply_probe 2>&1 | grep -E '^(ERROR|INFO: Build)' >&2) || true
fi
PROBE="$OUT/tools/bench/apply_probe/apply_probe"
[ -x "$PROBE" ] || PROBE="$ROOT/bazel-bin/tools/bench/apply_probe/apply_probe"
[ -x "$PROBE" ] || die "apply_probe not built"

WORK="$(mktemp -d /tmp/walrep-bench-apply.XXXXXX)"
chmod 0755 "$WORK"
snapshot_binaries "$WORK/bin"
cp "$PROBE" "$WORK/bin/apply_probe"; PROBE="$WORK/bin/apply_probe"
PRIMARY="$WORK/primary"
STANDBY="$WORK/standby"
HS="$WORK/walrep"
AGENT_PID=""
PGB_PID=""
cleanup() {
  [ -n "$PGB_PID" ] && kill "$PGB_PID" 2>/dev/null || true
  stop_agent
  [ -f "$HS/pgdata/postmaster.pid" ] && as_pg "$BIN/pg_ctl" stop -m immediate -D "$HS/pgdata" >/dev/null 2>&1 || true
  [ -d "$STANDBY/data" ] && as_pg "$BIN/pg_ctl" stop -m immediate -D "$STANDBY/data" >/dev/null 2>&1 || true
  cleanup_common
}
trap cleanup EXIT

start_primary
no_timed_checkpoints
say "pgbench -i -s $SCALE"
pgbench_p -i -q -s "$SCALE" >"$WORK/pgbench-init.log" 2>&1

make_pg_standby
as_pg "$BIN/pg_ctl" start -w -D "$STANDBY/data" -l "$STANDBY/server.log" >/dev/null

say "walrep --engine=postgres, bootstrapped from the primary"
mkdir -p "$HS"
HS_PORT=$(free_port)
USER_FLAG=(); [ "$(id -u)" -eq 0 ] && USER_FLAG=(--pg_os_user=postgres)
AGENT_ADDR="127.0.0.1:$(free_port)"
setsid "$AGENT" --data_dir="$HS/data" --grpc_listen="$AGENT_ADDR" --metrics_listen= --engine=postgres \
  --pg_port="$HS_PORT" --pg_listen=127.0.0.1 "${USER_FLAG[@]}" >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 200); do "$CTL" --addr="$AGENT_ADDR" --timeout=1s status >/dev/null 2>&1 && break; sleep 0.05; done
"$CTL" --addr="$AGENT_ADDR" start --conninfo="$CONNINFO" --slot=bench_walrep --create_slot \
  --bootstrap --status_interval=1s >/dev/null
for _ in $(seq 1200); do "$CTL" --addr="$AGENT_ADDR" status | grep -q 'state=STREAMING' && break; sleep 0.1; done
"$CTL" --addr="$AGENT_ADDR" status | grep -q 'state=STREAMING' || { cat "$WORK/agent.log" >&2; die "walrep did not stream"; }
HS="$HS/data"

PRIMARY_SQL="host=$PRIMARY/sock port=$PORT user=postgres dbname=postgres sslmode=disable"
declare -A REPLICA_SQL=(
  [walrep]="host=$HS/pgsocket port=$HS_PORT user=postgres dbname=postgres sslmode=disable"
  [standby]="host=$STANDBY/sock port=$SB_PORT user=postgres dbname=postgres sslmode=disable"
)
declare -A APP=([walrep]=walrep [standby]=standby)
TOOLS=(walrep standby)
declare -A LAG TPS

say "commit-to-visible, $COUNT probes each, while pgbench -N -c 4 writes"
for tool in "${TOOLS[@]}"; do
  pgbench_p -N -c 4 -T 3600 >/dev/null 2>&1 &
  PGB_PID=$!
  LAG[$tool]=$(as_pg "$PROBE" "$PRIMARY_SQL" "${REPLICA_SQL[$tool]}" "$COUNT")
  kill "$PGB_PID" 2>/dev/null || true; wait "$PGB_PID" 2>/dev/null || true; PGB_PID=""
  echo "  $tool: p50/p99/max ms ${LAG[$tool]}" >&2
done

# The processes of each replica: walrep's agent and the postmaster it supervises with its
# children (startup process, the backend that answers walrep's replay-position queries);
# the standby's postmaster and its children (walreceiver, startup process).
replica_pids() {
  local pm
  case "$1" in
  walrep) pm=$(head -1 "$HS/pgdata/postmaster.pid"); echo "$AGENT_PID $pm $(cat "/proc/$pm/task/$pm/children" 2>/dev/null)" ;;
  standby) pm=$(head -1 "$STANDBY/data/postmaster.pid"); echo "$pm $(cat "/proc/$pm/task/$pm/children" 2>/dev/null)" ;;
  esac
}
replica_cpu() { # CPU seconds of the processes named (all their threads)
  local cpu=0 pid c
  for pid in "$@"; do
    c=$(proc_cpu "$pid" 2>/dev/null) || continue
    cpu=$(awk -v a="$cpu" -v b="$c" 'BEGIN { print a + b }')
  done
  echo "$cpu"
}
declare -A COST_US

say "pgbench TPS with synchronous_commit = remote_apply, $RUNS rounds alternating"
psql_p -c "ALTER SYSTEM SET synchronous_commit = 'remote_apply'" -c "SELECT pg_reload_conf()" >/dev/null
pgbench_p -N -c 4 -T "$SECONDS_PER_RUN" >/dev/null 2>&1 || die "the warm-up pgbench run failed"
for run in $(seq "$RUNS"); do
  order=(walrep standby); [ $((run % 2)) -eq 0 ] && order=(standby walrep)
  for tool in "${order[@]}"; do
    set_sync_names "${APP[$tool]}"
    wait_sync "${APP[$tool]}"
    psql_p -c "CHECKPOINT" >/dev/null
    pids=$(replica_pids "$tool")
    # shellcheck disable=SC2086
    cpu0=$(replica_cpu $pids)
    ppid=""
    if [ -n "${BENCH_PERF:-}" ] && [ "$run" = "${BENCH_PERF_ROUND:-1}" ]; then
      # Round 1 of each replica under perf (its tps include perf's sampling cost).
      perf record -q -g -p "$(echo $pids | tr ' ' ',')" -o "$BENCH_PERF.$tool" 2>/dev/null &
      ppid=$!; sleep 1
    fi
    out=$(pgbench_p -N -c 4 -T "$SECONDS_PER_RUN" 2>&1) || { echo "$out" >&2; die "pgbench failed"; }
    # shellcheck disable=SC2086
    cpu1=$(replica_cpu $pids)
    if [ -n "$ppid" ]; then
      kill -INT "$ppid"; wait "$ppid" || true
      echo "perf of $tool (round 1), by command and top symbols:" >&2
      perf report -i "$BENCH_PERF.$tool" --stdio --no-children --sort comm -g none 2>/dev/null |
        grep '%' | head -12 >&2 || true
      perf report -i "$BENCH_PERF.$tool" --stdio --no-children --sort comm,sym -g none 2>/dev/null |
        grep '%' | head -30 >&2 || true
    fi
    tps=$(echo "$out" | awk '/^tps = / { print $3; exit }')
    [ -n "$tps" ] || { echo "$out" >&2; die "no tps in pgbench output"; }
    ntx=$(echo "$out" | awk '/number of transactions actually processed/ { print $NF; exit }')
    ntx=${ntx%%/*}
    TPS[$tool]+="$tps "
    COST_US[$tool]+="$(awk -v a="$cpu0" -v b="$cpu1" -v n="$ntx" 'BEGIN { printf "%.0f", (b - a) * 1e6 / n }') "
    echo "  round $run, $tool: tps $tps" >&2
    [ "$(sync_state "${APP[$tool]}")" = sync ] || die "$tool was no longer the synchronous standby after the run"
    set_sync_names ''
  done
done
declare -A MED
# shellcheck disable=SC2086
for tool in "${TOOLS[@]}"; do MED[$tool]=$(median ${TPS[$tool]}); done

echo
echo "apply lag (commit on the primary -> row visible on the replica), PostgreSQL 15, $(nproc) cores"
printf '%-34s %8s %8s %8s   %s\n' "replica" "p50 ms" "p99 ms" "max ms" "remote_apply tps"
for tool in "${TOOLS[@]}"; do
  read -r p50 p99 max <<<"${LAG[$tool]}"
  label="walrep --engine=postgres"; [ "$tool" = standby ] && label="PostgreSQL streaming standby"
  printf '%-34s %8s %8s %8s   %s\n' "$label" "$p50" "$p99" "$max" "${MED[$tool]}"
done
read -r wp50 _ <<<"${LAG[walrep]}"; read -r sp50 _ <<<"${LAG[standby]}"
echo
printf '%-34s %8s\n' "p50 walrep / standby" "$(ratio "$wp50" "$sp50")"
printf '%-34s %8s\n' "remote_apply tps walrep / standby" "$(ratio "${MED[walrep]}" "${MED[standby]}")"
echo
echo "remote_apply: median of $RUNS rounds of pgbench -N -c 4 -T $SECONDS_PER_RUN, alternating"
read -ra WT <<<"${TPS[walrep]}"; read -ra ST <<<"${TPS[standby]}"
per=""; for i in "${!WT[@]}"; do per+="$(ratio "${WT[$i]}" "${ST[$i]}") "; done
printf '%-34s %s\n' "tps per round, walrep" "${TPS[walrep]}"
printf '%-34s %s\n' "tps per round, standby" "${TPS[standby]}"
printf '%-34s %s\n' "walrep / standby per round" "$per"
printf '%-34s %s\n' "replica's own CPU us / tx, walrep" "${COST_US[walrep]}(agent + its postgres)"
printf '%-34s %s\n' "replica's own CPU us / tx, standby" "${COST_US[standby]}(postmaster + children)"
# How walrep learnt the server's replay position over the whole run (log lines or queries).
engine_line=$("$CTL" --addr="$AGENT_ADDR" status | grep -o 'replay_advances log/query=[0-9/]* position_queries=[0-9]*' || true)
printf '%-34s %s\n' "walrep's replay positions" "${engine_line:-unknown}"
