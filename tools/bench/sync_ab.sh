#!/usr/bin/env bash
# A/B of two walrep_agent binaries as the only synchronous standby, with pg_receivewal
# --synchronous beside them as the reference: is a change to the acknowledgement path
# worth keeping?
#
#   tools/bench/sync_ab.sh OLD_AGENT NEW_AGENT    # e.g. a copy of bazel-bin's agent before
#                                                 # the change, and the one after it
#
# Environment: BENCH_RUNS (default 6) rounds; BENCH_SECONDS (default 8) per pgbench run;
# BENCH_SCALE (default 10); BENCH_KEEP=1 keeps the temp directory; BENCH_STAGES=1 adds, in
# round 1, a bpftrace breakdown of each tool's acknowledgement cycle (first byte received
# -> first write -> sync call -> sync return -> reply sent), mean microseconds per stage;
# BENCH_FLOOR=1 adds three more tools to every round, the modes of the floor receiver
# tools/bench/sync_floor (it writes, syncs and replies; nothing else):
# floor0 syncs on its receiving thread as pg_receivewal does, floor2 lets up to two
# fdatasyncs overlap on threads of their own, floormin makes three system calls a cycle
# (blocking recv, pwritev2 with RWF_DSYNC, send) — how much any receiver could gain here.
#
# Why a script of its own: sync_commit.sh's rounds spread by ±10% from one to the next on
# a shared 2-core VM (the host's load, pgbench_history growing), more than most changes to
# the acknowledgement path are worth. Here the tools run back to back on one primary, the
# order rotates every round (so none is always first after a checkpoint), nothing else
# (baseline, standby) runs between them, and each run reports the tool's own CPU per
# transaction, which varies far less than TPS. Read the per-round paired ratios, not one
# median. A change that moved NEW/OLD by less than their spread was not measured.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=common.sh
. "$ROOT/tools/bench/common.sh"

[ $# -eq 2 ] || die "usage: tools/bench/sync_ab.sh OLD_AGENT NEW_AGENT"
for a in "$1" "$2"; do [ -x "$a" ] || die "$a is not an executable walrep_agent"; done
RUNS="${BENCH_RUNS:-6}"
SECONDS_PER_RUN="${BENCH_SECONDS:-8}"
SCALE="${BENCH_SCALE:-10}"
BENCH_NO_BUILD=1 build_binaries  # only walrepctl is used from the tree
FLOOR="$OUT/tools/bench/sync_floor/sync_floor"
if [ "${BENCH_FLOOR:-}" = 1 ]; then
  (cd "$ROOT" && bazel build //tools/bench/sync_floor 2>&1 | grep -E '^(ERROR|INFO: Build)' >&2) || true
  [ -x "$FLOOR" ] || die "//tools/bench/sync_floor not built"
fi

WORK="$(mktemp -d /tmp/walrep-bench-ab.XXXXXX)"
chmod 0755 "$WORK"
snapshot_binaries "$WORK/bin"
cp "$1" "$WORK/bin/agent_old"; cp "$2" "$WORK/bin/agent_new"
[ "${BENCH_FLOOR:-}" = 1 ] && cp "$FLOOR" "$WORK/bin/sync_floor"
PRIMARY="$WORK/primary"
AGENT_PID=""
RW_PID=""
cleanup() {
  [ -n "$RW_PID" ] && kill -INT "$RW_PID" 2>/dev/null && wait "$RW_PID" 2>/dev/null || true
  cleanup_common
}
trap cleanup EXIT

start_primary
no_timed_checkpoints
psql_p -c "ALTER SYSTEM SET synchronous_commit = 'on'" -c "SELECT pg_reload_conf()" >/dev/null
say "pgbench -i -s $SCALE"
pgbench_p -i -q -s "$SCALE" >"$WORK/pgbench-init.log" 2>&1
# Untimed: a fresh primary's first runs are the fastest (pgbench_history still small).
pgbench_p -N -c 4 -T 5 >/dev/null 2>&1

# One acknowledgement cycle of pid $1 (any of its threads): the first recvfrom that
# returns data, the first write after it, the sync call, its return, the reply's sendto.
STAGES_BT='
tracepoint:syscalls:sys_exit_recvfrom /pid == $1 && args->ret > 0 && @c == 0/ { @r = nsecs; @c = 1; }
tracepoint:syscalls:sys_enter_pwrite64,tracepoint:syscalls:sys_enter_write /pid == $1 && @c == 1/ { @w = nsecs; @c = 2; }
tracepoint:syscalls:sys_enter_pwrite64,tracepoint:syscalls:sys_enter_write /pid == $1 && @c == 2/ { @wb += args->count; @wn += 1; }
tracepoint:block:block_rq_issue /pid == $1 && @c == 3/ { @rb += args->bytes; @rn += 1; }
tracepoint:syscalls:sys_enter_fdatasync,tracepoint:syscalls:sys_enter_fsync /pid == $1 && @c == 2/ { @s = nsecs; @c = 3; }
tracepoint:syscalls:sys_exit_fdatasync,tracepoint:syscalls:sys_exit_fsync /pid == $1 && @c == 3/ { @e = nsecs; @c = 4; }
tracepoint:syscalls:sys_enter_sendto /pid == $1 && @c == 4/ {
  @a_recv_to_write = avg((@w - @r) / 1000); @b_write_to_sync = avg((@s - @w) / 1000);
  @c_sync = avg((@e - @s) / 1000); @d_sync_to_reply = avg((nsecs - @e) / 1000);
  @e_write_bytes = avg(@wb); @f_writes = avg(@wn); @g_rq_bytes = avg(@rb); @h_rqs = avg(@rn);
  @wb = 0; @wn = 0; @rb = 0; @rn = 0; @cycles = count(); @c = 0; }
interval:s:5 { exit(); }
END { clear(@r); clear(@w); clear(@s); clear(@e); clear(@c); clear(@wb); clear(@wn); clear(@rb); clear(@rn); }'
if [ "${BENCH_STAGES:-}" = 1 ] && ! command -v bpftrace >/dev/null; then
  say "installing bpftrace"; apt-get install -y -qq bpftrace >/dev/null
fi

TOOLS=(old new pg_receivewal)
[ "${BENCH_FLOOR:-}" = 1 ] && TOOLS+=(floor0 floor2 floormin)
declare -A TPS CPU STAGES
for run in $(seq "$RUNS"); do
  for i in "${!TOOLS[@]}"; do
    tool=${TOOLS[$(( (i + run) % ${#TOOLS[@]} ))]}
    say "round $run/$RUNS: $tool"
    case "$tool" in
    old | new)
      AGENT="$WORK/bin/agent_$tool" start_agent "$WORK/$tool-$run" "$WORK/$tool-$run.log"
      "$CTL" --addr="$AGENT_ADDR" start --conninfo="$CONNINFO" --status_interval=1s >/dev/null
      app=walrep pid=$AGENT_PID ;;
    pg_receivewal)
      mkdir -p "$WORK/pgrw-$run"
      setsid "$BIN/pg_receivewal" -d "${CONNINFO/application_name=walrep/application_name=pg_receivewal}" \
        -D "$WORK/pgrw-$run" --synchronous --no-loop --no-password 2>"$WORK/pgrw-$run.log" &
      RW_PID=$!
      app=pg_receivewal pid=$RW_PID ;;
    floor*)
      mkdir -p "$WORK/$tool-$run"
      setsid "$WORK/bin/sync_floor" "${CONNINFO/application_name=walrep/application_name=$tool}" \
        "$WORK/$tool-$run/wal" "$(case $tool in floormin) echo -1 ;; *) echo "${tool#floor}" ;; esac)" \
        2>"$WORK/$tool-$run.log" &
      RW_PID=$!
      app=$tool pid=$RW_PID ;;
    esac
    set_sync_names "$app"; wait_sync "$app"
    psql_p -c "CHECKPOINT" >/dev/null
    bt=""
    if [ "${BENCH_STAGES:-}" = 1 ] && [ "$run" = 1 ]; then
      (sleep 2; bpftrace -e "$STAGES_BT" "$pid" 2>/dev/null >"$WORK/stages-$tool.txt" || true) &
      bt=$!
    fi
    cpu0=$(proc_cpu "$pid")
    out=$(pgbench_p -N -c 4 -T "$SECONDS_PER_RUN" 2>&1) || { echo "$out" >&2; die "pgbench failed"; }
    cpu1=$(proc_cpu "$pid")
    # A tool whose cycle the trace cannot follow (floormin's pwritev2 is its write and its
    # sync) records nothing: "none recorded" below, not a failed run.
    [ -n "$bt" ] && { wait "$bt" || true; STAGES[$tool]=$(grep '^@' "$WORK/stages-$tool.txt" | tr -s ' ' | tr '\n' ' ' || true); }
    [ "$(sync_state "$app")" = sync ] || die "$tool was no longer the synchronous standby after the run"
    set_sync_names ''
    case "$tool" in
    old | new) "$CTL" --addr="$AGENT_ADDR" stop >/dev/null 2>&1 || true; stop_agent ;;
    pg_receivewal | floor*)
      kill -INT "$RW_PID" 2>/dev/null || true; wait "$RW_PID" 2>/dev/null || true; RW_PID=""
      rm -rf "$WORK/$tool-$run" ;;
    esac
    tps=$(echo "$out" | awk '/^tps = / { print $3; exit }')
    ntx=$(echo "$out" | awk '/number of transactions actually processed/ { print $NF; exit }')
    [ -n "$tps" ] && [ -n "$ntx" ] || { echo "$out" >&2; die "no tps in pgbench output"; }
    TPS[$tool]+="$tps "
    CPU[$tool]+="$(awk -v a="$cpu0" -v b="$cpu1" -v n="${ntx%%/*}" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }') "
    echo "  tps $tps" >&2
  done
done

echo
echo "pgbench -N -c 4 -T $SECONDS_PER_RUN (scale $SCALE), synchronous_commit=on, PostgreSQL 15, $(nproc) cores"
echo "old: $1"
echo "new: $2"
echo "$RUNS rounds, the order rotating; the tool is sync_state='sync' before and after each run"
echo
printf '%-16s %10s %14s   %s\n' "sync standby" "median tps" "CPU us / tx" "runs (tps; CPU us / tx)"
for tool in "${TOOLS[@]}"; do
  # shellcheck disable=SC2086
  printf '%-16s %10.1f %14s   %s; %s\n' "$tool" "$(median ${TPS[$tool]})" "$(median ${CPU[$tool]})" \
    "${TPS[$tool]}" "${CPU[$tool]}"
done
# Tool $1 against tool $2, paired by round: each round's ratio now, their median at the end.
MEDIANS=()
paired() {
  local -a a b r=()
  read -r -a a <<<"${TPS[$1]}"; read -r -a b <<<"${TPS[$2]}"
  for i in "${!a[@]}"; do r+=("$(ratio "${a[$i]}" "${b[$i]}")"); done
  printf '%-36s %s\n' "per round, $1/$2:" "${r[*]}"
  MEDIANS+=("$(printf '%-36s %6s' "median $1/$2" "$(median "${r[@]}")")")
}
echo
paired old pg_receivewal; paired new pg_receivewal; paired new old
if [ "${BENCH_FLOOR:-}" = 1 ]; then
  paired floor0 pg_receivewal; paired floor2 floor0; paired floormin pg_receivewal; paired new floor0
fi
printf '%s\n' "${MEDIANS[@]}"
if [ "${BENCH_STAGES:-}" = 1 ]; then
  echo
  echo "acknowledgement cycle, round 1 (bpftrace, mean us per stage):"
  for tool in "${TOOLS[@]}"; do echo "  $tool: ${STAGES[$tool]:-none recorded}"; done
fi
