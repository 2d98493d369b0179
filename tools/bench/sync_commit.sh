#!/usr/bin/env bash
# Synchronous-commit benchmark: pgbench commit throughput on a primary whose only
# synchronous standby is, in turn, walrep, pg_receivewal --synchronous, and a real
# PostgreSQL hot standby, plus a baseline with no synchronous standby.
#
#   tools/bench/sync_commit.sh        # from the repository root, after tools/setup
#
# Environment: BENCH_RUNS (default 3) rounds; BENCH_SECONDS (default 10) per pgbench run;
# BENCH_SCALE (default 10) pgbench scale; BENCH_KEEP=1 keeps the temp directory;
# BENCH_NO_BUILD=1 skips the bazel build; BENCH_PERF=FILE records round 1 of each tool with
# `perf record -g` into FILE.<tool> and prints its top symbols; BENCH_TRACE=1 runs round 1
# of each tool under `perf trace -s` instead and prints its syscalls per transaction with
# each one's mean time (tracing costs every syscall a little: read the times side by side).
#
# One throwaway PostgreSQL 15 primary (tools/local_primary), pgbench tables initialised
# once, synchronous_commit=on. Each round runs the four configurations in the same order;
# in each, only the tool under test is running:
#   baseline       synchronous_standby_names = ''
#   walrep         walrep_agent on a fresh data dir, StartReplica (no slot, status_interval=1s),
#                  application_name=walrep, synchronous_standby_names = 'walrep'
#   pg_receivewal  pg_receivewal --synchronous --no-loop into a fresh directory,
#                  application_name=pg_receivewal, synchronous_standby_names = 'pg_receivewal'
#   standby        a hot standby made once with pg_basebackup -R (slot bench_standby),
#                  started for the run, application_name=standby, synchronous_standby_names = 'standby'
# Before pgbench starts, the script waits until pg_stat_replication shows the tool with
# sync_state = 'sync' (and fails otherwise), then runs CHECKPOINT so every run starts
# from the same full-page-write state, then `pgbench -N -c 4 -T SECONDS`. After the run it
# checks the tool is still the synchronous standby. The median tps of each configuration is
# reported with the ratios walrep/pg_receivewal and walrep/standby.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=common.sh
. "$ROOT/tools/bench/common.sh"

RUNS="${BENCH_RUNS:-3}"
SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
SCALE="${BENCH_SCALE:-10}"
build_binaries

WORK="$(mktemp -d /tmp/walrep-bench-sync.XXXXXX)"
chmod 0755 "$WORK"
snapshot_binaries "$WORK/bin"
PRIMARY="$WORK/primary"
STANDBY="$WORK/standby"
AGENT_PID=""
RW_PID=""
cleanup() {
  [ -n "$RW_PID" ] && kill -INT "$RW_PID" 2>/dev/null && wait "$RW_PID" 2>/dev/null || true
  [ -d "$STANDBY/data" ] && as_pg "$BIN/pg_ctl" stop -m immediate -D "$STANDBY/data" >/dev/null 2>&1 || true
  cleanup_common
}
trap cleanup EXIT

start_primary
WALREP_CONNINFO="${CONNINFO/application_name=walrep/application_name=walrep}"
RW_CONNINFO="${CONNINFO/application_name=walrep/application_name=pg_receivewal}"

no_timed_checkpoints
psql_p -c "ALTER SYSTEM SET synchronous_commit = 'on'" -c "SELECT pg_reload_conf()" >/dev/null

say "pgbench -i -s $SCALE"
pgbench_p -i -q -s "$SCALE" >"$WORK/pgbench-init.log" 2>&1

make_pg_standby

start_tool() {
  local tool="$1" run="$2"
  case "$tool" in
  baseline) ;;
  walrep)
    start_agent "$WORK/walrep-$run" "$WORK/walrep-$run.log"
    "$CTL" --addr="$AGENT_ADDR" start --conninfo="$WALREP_CONNINFO" --status_interval=1s >/dev/null ;;
  pg_receivewal)
    mkdir -p "$WORK/pgrw-$run"
    setsid "$BIN/pg_receivewal" -d "$RW_CONNINFO" -D "$WORK/pgrw-$run" --synchronous --no-loop \
      --no-password 2>"$WORK/pgrw-$run.log" &
    RW_PID=$! ;;
  standby)
    as_pg "$BIN/pg_ctl" start -w -D "$STANDBY/data" -l "$STANDBY/server.log" >/dev/null ;;
  esac
}
stop_tool() {
  case "$1" in
  baseline) ;;
  walrep) "$CTL" --addr="$AGENT_ADDR" stop >/dev/null 2>&1 || true; stop_agent ;;
  pg_receivewal) kill -INT "$RW_PID" 2>/dev/null || true; wait "$RW_PID" 2>/dev/null || true; RW_PID="" ;;
  standby) as_pg "$BIN/pg_ctl" stop -m fast -w -D "$STANDBY/data" >/dev/null ;;
  esac
}

# Per-transaction latencies (pgbench -l) go here, one log per tool and round.
LAT="$WORK/latency"
mkdir -p "$LAT" && chown postgres "$LAT" 2>/dev/null || true
# walrep's own view of its acknowledgement path, from /metrics at the end of each run:
# fdatasync time and receive-to-acknowledgement time (sum and count of the histograms).
export AGENT_METRICS=1
metric_sum_count() { # name -> "sum count"
  curl -s "http://$METRICS_ADDR/metrics" |
    awk -v n="$1" '$1 == n "_sum" { s = $2 } $1 == n "_count" { c = $2 } END { print s + 0, c + 0 }'
}
FSYNC_SUM=0; FSYNC_N=0; ACK_SUM=0; ACK_N=0
# The processes of the tool under test: the agent; pg_receivewal; the standby's postmaster
# and its children (walreceiver and startup process among them).
tool_pids() {
  case "$1" in
  walrep) echo "$AGENT_PID" ;;
  pg_receivewal) echo "$RW_PID" ;;
  standby)
    local pm; pm=$(head -1 "$STANDBY/data/postmaster.pid")
    echo "$pm $(cat "/proc/$pm/task/$pm/children" 2>/dev/null)" ;;
  esac
}
# "cpu_seconds context_switches" of the processes named (all their threads).
tool_cost() {
  local cpu=0 cs=0 pid c
  for pid in "$@"; do
    c=$(proc_cpu "$pid" 2>/dev/null) || continue
    cpu=$(awk -v a="$cpu" -v b="$c" 'BEGIN { print a + b }')
    cs=$((cs + $(cat /proc/"$pid"/task/*/status 2>/dev/null |
      awk '/ctxt_switches:/ { n += $2 } END { print n + 0 }')))
  done
  echo "$cpu $cs"
}
declare -A COST_US COST_CS
TRACE_OUT=""
syscalls_per_tx() { # tool ntx -> its syscalls per transaction (all threads), most frequent first
  # perf trace -s prints, per thread: syscall calls errors total min avg max stddev (msec).
  awk -v t="$1" -v n="$2" 'NF >= 8 && $2 ~ /^[0-9]+$/ && $4 ~ /^[0-9.]+$/ {
      c[$1] += $2; ms[$1] += $4 }
    END { for (k in c) printf "  %-14s %-16s %8.2f %10.1f\n", t, k, c[k] / n, ms[k] * 1000 / c[k] }' \
    "$WORK/trace-$1.txt" | sort -k3,3nr | head -8
}

TOOLS=(baseline walrep pg_receivewal standby)
declare -A TPS
for run in $(seq "$RUNS"); do
  for tool in "${TOOLS[@]}"; do
    say "round $run/$RUNS: $tool"
    start_tool "$tool" "$run"
    if [ "$tool" = baseline ]; then set_sync_names ''; else set_sync_names "$tool"; wait_sync "$tool"; fi
    psql_p -c "CHECKPOINT" >/dev/null
    pids=""; [ "$tool" != baseline ] && pids=$(tool_pids "$tool")
    # shellcheck disable=SC2086
    read -r cpu0 cs0 <<<"$(tool_cost $pids)"
    ppid=""
    if [ -n "${BENCH_PERF:-}" ] && [ "$run" = 1 ] && [ "$tool" != baseline ]; then
      # Round 1 of each tool under perf (its tps include perf's sampling cost).
      perf record -q -g -p "$(echo $pids | tr ' ' ',')" -o "$BENCH_PERF.$tool" 2>/dev/null &
      ppid=$!; sleep 1
    elif [ "${BENCH_TRACE:-}" = 1 ] && [ "$run" = 1 ] && [ "$tool" != baseline ]; then
      perf trace -s -p "$(echo $pids | tr ' ' ',')" -o "$WORK/trace-$tool.txt" 2>/dev/null &
      ppid=$!; sleep 1
    fi
    out=$(pgbench_p -N -c 4 -T "$SECONDS_PER_RUN" -l --log-prefix="$LAT/$tool-$run" 2>&1) ||
      { echo "$out" >&2; die "pgbench failed"; }
    if [ "$tool" = walrep ] && [ -n "$METRICS_ADDR" ]; then
      read -r s n <<<"$(metric_sum_count walrep_wal_fsync_duration_seconds)"
      FSYNC_SUM=$(awk -v a="$FSYNC_SUM" -v b="$s" 'BEGIN { print a + b }'); FSYNC_N=$((FSYNC_N + ${n%.*}))
      read -r s n <<<"$(metric_sum_count walrep_ack_latency_seconds)"
      ACK_SUM=$(awk -v a="$ACK_SUM" -v b="$s" 'BEGIN { print a + b }'); ACK_N=$((ACK_N + ${n%.*}))
    fi
    # shellcheck disable=SC2086
    read -r cpu1 cs1 <<<"$(tool_cost $pids)"
    if [ -n "$ppid" ]; then
      kill -INT "$ppid"; wait "$ppid" || true
      if [ -n "${BENCH_PERF:-}" ]; then
        echo "perf of $tool (round 1), top symbols:" >&2
        perf report -i "$BENCH_PERF.$tool" --stdio --no-children --sort sym -g none 2>/dev/null |
          grep '%' | head -30 >&2 || true
      fi
    fi
    echo "$out" >>"$WORK/pgbench-$tool.log"
    if [ "$tool" != baseline ]; then
      ntx=$(echo "$out" | awk '/number of transactions actually processed/ { print $NF; exit }')
      ntx=${ntx%%/*}
      COST_US[$tool]+="$(awk -v a="$cpu0" -v b="$cpu1" -v n="$ntx" 'BEGIN { printf "%.0f", (b - a) * 1e6 / n }') "
      [ -f "$WORK/trace-$tool.txt" ] && [ "$run" = 1 ] &&
        TRACE_OUT+="$(syscalls_per_tx "$tool" "$ntx")"$'\n'
      COST_CS[$tool]+="$(awk -v a="$cs0" -v b="$cs1" -v n="$ntx" 'BEGIN { printf "%.1f", (b - a) / n }') "
    fi
    if [ "$tool" != baseline ]; then [ "$(sync_state "$tool")" = sync ] || die "$tool was no longer the synchronous standby after the run"; fi
    set_sync_names ''
    stop_tool "$tool"
    tps=$(echo "$out" | awk '/^tps = / { print $3; exit }')
    [ -n "$tps" ] || { echo "$out" >&2; die "no tps in pgbench output"; }
    TPS[$tool]+="$tps "
    echo "  tps $tps" >&2
  done
done

echo
echo "pgbench -N -c 4 -T $SECONDS_PER_RUN (scale $SCALE), synchronous_commit=on, PostgreSQL 15, $(nproc) cores"
echo "median of $RUNS runs each, alternating; the tool is sync_state='sync' before and after each run"
echo
printf '%-42s %10s   %s\n' "synchronous standby" "median tps" "runs"
declare -A MED
for tool in "${TOOLS[@]}"; do
  # shellcheck disable=SC2086
  MED[$tool]=$(median ${TPS[$tool]})
  label="$tool"; [ "$tool" = baseline ] && label="none (baseline)"
  [ "$tool" = pg_receivewal ] && label="pg_receivewal --synchronous"
  [ "$tool" = standby ] && label="PostgreSQL hot standby"
  printf '%-42s %10.1f   %s\n' "$label" "${MED[$tool]}" "${TPS[$tool]}"
done
echo
# pgbench -l: the third field is the transaction's latency in microseconds.
percentile() { # tool p -> ms
  cat "$LAT/$1"-* 2>/dev/null | awk '{ print $3 }' | sort -n |
    awk -v p="$2" '{ v[NR] = $1 } END { if (NR == 0) { print "?"; exit }
      i = int(NR * p / 100 + 0.5); if (i < 1) i = 1; if (i > NR) i = NR; printf "%.2f", v[i] / 1000 }'
}
printf '%-42s %10s %10s\n' "commit latency (all rounds)" "p50 ms" "p99 ms"
for tool in "${TOOLS[@]}"; do
  printf '%-42s %10s %10s\n' "$tool" "$(percentile "$tool" 50)" "$(percentile "$tool" 99)"
done
printf '%-42s %14s %16s\n' "the tool's own cost (median of runs)" "CPU us / tx" "ctx switch / tx"
for tool in walrep pg_receivewal standby; do
  # shellcheck disable=SC2086
  printf '%-42s %14s %16s\n' "$tool" "$(median ${COST_US[$tool]})" "$(median ${COST_CS[$tool]})"
done
if [ "$FSYNC_N" -gt 0 ] && [ "$ACK_N" -gt 0 ]; then
  echo "walrep acknowledgement path (its /metrics): fdatasync mean $(awk -v s="$FSYNC_SUM" -v n="$FSYNC_N" 'BEGIN { printf "%.0f", s / n * 1e6 }') us over $FSYNC_N calls; first byte received to acknowledgement sent mean $(awk -v s="$ACK_SUM" -v n="$ACK_N" 'BEGIN { printf "%.0f", s / n * 1e6 }') us"
fi
if [ -n "$TRACE_OUT" ]; then
  echo "syscalls per transaction, round 1 under perf trace -s (its tps include the tracing)"
  printf '  %-14s %-16s %8s %10s\n' tool syscall "per tx" "us/call"
  printf '%s' "$TRACE_OUT"
fi
echo
# Paired ratios: runs of the same round ran back to back, so they share whatever else the
# machine was doing at the time.
read -r -a tw <<<"${TPS[walrep]}"; read -r -a tr <<<"${TPS[pg_receivewal]}"; read -r -a ts <<<"${TPS[standby]}"
pr=(); ps=()
for i in "${!tw[@]}"; do
  pr+=("$(ratio "${tw[$i]}" "${tr[$i]}")"); ps+=("$(ratio "${tw[$i]}" "${ts[$i]}")")
done
echo "per round, walrep/pg_receivewal: ${pr[*]}   walrep/standby: ${ps[*]}"
printf '%-42s %10s\n' "median of per-round walrep/pg_receivewal" "$(median "${pr[@]}")"
printf '%-42s %10s\n' "median of per-round walrep/standby" "$(median "${ps[@]}")"
echo
echo "ratios of the medians:"
printf '%-42s %10s\n' "walrep / pg_receivewal" "$(ratio "${MED[walrep]}" "${MED[pg_receivewal]}")"
printf '%-42s %10s\n' "walrep / standby" "$(ratio "${MED[walrep]}" "${MED[standby]}")"
printf '%-42s %10s\n' "walrep / baseline" "$(ratio "${MED[walrep]}" "${MED[baseline]}")"
