#!/usr/bin/env bash
# Catch-up benchmark: how fast walrep streams a large range of WAL that already exists on
# the primary, compared with pg_receivewal doing the same job.
#
#   tools/bench/catchup.sh            # from the repository root, after tools/setup
#
# Environment: BENCH_WAL_MB (default 750, at least 700) MiB of WAL to generate;
# BENCH_RUNS (default 3) runs per tool; BENCH_KEEP=1 keeps the temp directory;
# BENCH_NO_BUILD=1 skips the bazel build; BENCH_PERF=FILE records walrep's first run with
# `perf record -g` into FILE and prints its top symbols; BENCH_STRACE=1 adds one untimed run of each tool
# under `strace -c -w -f` at the end and prints their syscall counts side by side (with
# BENCH_KEEP=1 the kept strace-*.txt files also give each call's wall time: -w).
#
# Setup: one throwaway PostgreSQL 15 primary (tools/local_primary) with max_wal_size and
# checkpoint_timeout large enough that no checkpoint runs during generation. 2*RUNS
# physical slots are created with reserved WAL *before* the WAL is generated, one per run
# per tool, so every run re-streams the same range from the same restart point. Then pgbench
# writes the WAL (pgbench -i, then pgbench -N until enough WAL exists) and the target is
# pg_current_wal_flush_lsn(). Runs alternate walrep / pg_receivewal, each into a fresh
# directory:
#   walrep:        a fresh walrep_agent --data_dir; StartReplica with the run's slot
#                  (status_interval=1s); the clock runs from the StartReplica call until
#                  WatchProgress (100 ms) shows flush >= target. CPU (user+sys of all agent
#                  threads) and VmHWM are read from /proc/<pid> at that moment, i.e. they
#                  cover the agent's whole life up to the target, start-up included.
#   pg_receivewal: pg_receivewal --synchronous --no-loop --slot=<run's slot> --endpos=<target>
#                  under /usr/bin/time (wall, user+sys, max RSS of the whole process).
# Both fsync before reporting/considering data flushed. Finally the completed segments of
# the first walrep run and the first pg_receivewal run are compared byte for byte.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=common.sh
. "$ROOT/tools/bench/common.sh"

WAL_MB="${BENCH_WAL_MB:-750}"
RUNS="${BENCH_RUNS:-3}"
STRACE="${BENCH_STRACE:-}"
[ "$WAL_MB" -ge 700 ] || die "BENCH_WAL_MB must be at least 700"
build_binaries
if [ -n "$STRACE" ] && ! command -v strace >/dev/null; then
  say "installing strace"; apt-get install -y -qq strace >/dev/null
fi
SLOT_RUNS=$RUNS; [ -n "$STRACE" ] && SLOT_RUNS=$((RUNS + 1))

WORK="$(mktemp -d /tmp/walrep-bench-catchup.XXXXXX)"
chmod 0755 "$WORK"
snapshot_binaries "$WORK/bin"
PRIMARY="$WORK/primary"
AGENT_PID=""
WATCH_PID=""
cleanup() {
  [ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2>/dev/null || true
  cleanup_common
}
trap cleanup EXIT

start_primary
# application_name=walrep is in the conninfo printed by local_primary; pg_receivewal gets its own.
RW_CONNINFO="${CONNINFO/application_name=walrep/application_name=pg_receivewal}"

psql_p -c "ALTER SYSTEM SET max_wal_size = '16GB'" \
       -c "ALTER SYSTEM SET checkpoint_timeout = '1h'" \
       -c "SELECT pg_reload_conf()" >/dev/null

say "creating $((2 * SLOT_RUNS)) physical slots (WAL reserved now)"
slots_sql="SELECT count(*) FROM ("
for i in $(seq "$SLOT_RUNS"); do
  slots_sql+="SELECT pg_create_physical_replication_slot('bench_walrep_$i', true) UNION ALL "
  slots_sql+="SELECT pg_create_physical_replication_slot('bench_pgrw_$i', true) UNION ALL "
done
slots_sql="${slots_sql% UNION ALL } ) s"
psql_p -c "$slots_sql" >/dev/null
START_LSN=$(psql_p -c "SELECT min(restart_lsn) FROM pg_replication_slots")
MAX_SLOT_LSN=$(psql_p -c "SELECT max(restart_lsn) FROM pg_replication_slots")
SEG=$((16 * 1024 * 1024))
start_num=$(lsn_to_num "$START_LSN")
[ $(( start_num / SEG )) -eq $(( $(lsn_to_num "$MAX_SLOT_LSN") / SEG )) ] ||
  echo "note: slot restart points span two segments ($START_LSN .. $MAX_SLOT_LSN)" >&2
# Both tools start streaming at the start of the restart point's segment.
STREAM_FROM=$(( start_num / SEG * SEG ))

say "generating >= $WAL_MB MiB of WAL with pgbench"
need=$(( WAL_MB * 1024 * 1024 ))
gen_t0=$(now)
pgbench_p -i -q -s 50 >"$WORK/pgbench-init.log" 2>&1
PGOPTIONS='-c synchronous_commit=off' pgbench_p -N -c 2 -j 2 -T 5 >"$WORK/pgbench-run.log" 2>&1
wal_done() { psql_p -c "SELECT pg_wal_lsn_diff(pg_current_wal_flush_lsn(), '$START_LSN')::bigint"; }
# Top up with bulk updates (non-HOT updates plus index inserts) until there is enough WAL.
k=0
while [ "$(wal_done)" -lt "$need" ]; do
  echo "  $(( $(wal_done) / 1048576 )) MiB so far" >&2
  psql_p -c "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 20 = $((k % 20))" >/dev/null
  k=$((k + 1))
done
psql_p -c "CHECKPOINT" >/dev/null
TARGET_LSN=$(psql_p -c "SELECT pg_current_wal_flush_lsn()")
TARGET=$(lsn_to_num "$TARGET_LSN")
BYTES=$(( TARGET - STREAM_FROM ))
echo "  generated in $(elapsed "$gen_t0" "$(now)") s; range $(num_to_lsn "$STREAM_FROM") .. $TARGET_LSN = $(( BYTES / 1048576 )) MiB" >&2

# --- one walrep run: sets RES="wall user sys rss_kb"
run_walrep() {
  local i="$1" trace="${2:-}"
  local dir="$WORK/walrep-$i" line flush="" t0 t1 us hwm fd spid=""
  start_agent "$dir" "$WORK/walrep-$i.log"
  if [ -n "$trace" ]; then
    strace -c -w -f -o "$trace" -p "$AGENT_PID" 2>/dev/null &
    spid=$!; sleep 1
  elif [ -n "${BENCH_PERF:-}" ] && [ "$i" = 1 ]; then
    # The first walrep run under perf (its numbers include perf's sampling cost).
    perf record -q -g -p "$AGENT_PID" -o "$BENCH_PERF" 2>/dev/null &
    spid=$!; sleep 1
  fi
  exec {fd}< <(exec "$CTL" --addr="$AGENT_ADDR" watch --interval=0.1s 2>/dev/null)
  WATCH_PID=$!
  t0=$(now)
  "$CTL" --addr="$AGENT_ADDR" start --conninfo="$CONNINFO" --slot="bench_walrep_$i" \
    --status_interval=1s >/dev/null
  while IFS= read -r -t 600 line <&"$fd"; do
    [[ "$line" =~ flush=([0-9A-F]+/[0-9A-F]+) ]] || continue
    flush=$(lsn_to_num "${BASH_REMATCH[1]}")
    [ "$flush" -ge "$TARGET" ] && break
  done
  t1=$(now)
  [ -n "$flush" ] && [ "$flush" -ge "$TARGET" ] || die "walrep run $i did not reach $TARGET_LSN (see $WORK/walrep-$i.log)"
  us=$(proc_user_sys "$AGENT_PID"); hwm=$(proc_hwm_kb "$AGENT_PID")
  if [ -n "$spid" ]; then kill -INT "$spid"; wait "$spid" || true; fi
  if [ -z "$trace" ] && [ -n "${BENCH_PERF:-}" ] && [ "$i" = 1 ]; then
    perf report -i "$BENCH_PERF" --stdio --no-children --sort sym -g none 2>/dev/null |
      grep '%' | head -30 >&2 || true
  fi
  "$CTL" --addr="$AGENT_ADDR" status >>"$WORK/walrep-$i.status" 2>&1 || true
  kill "$WATCH_PID" 2>/dev/null || true; exec {fd}<&-; WATCH_PID=""
  "$CTL" --addr="$AGENT_ADDR" stop >/dev/null 2>&1 || true
  stop_agent
  RES="$(elapsed "$t0" "$t1") $us $hwm"
}

# --- one pg_receivewal run: sets RES="wall user sys rss_kb"
run_pgrw() {
  local i="$1" trace="${2:-}"
  local dir="$WORK/pgrw-$i" pre=()
  mkdir -p "$dir"
  [ -n "$trace" ] && pre=(strace -c -f -o "$trace")
  /usr/bin/time -f '%e %U %S %M' -o "$WORK/pgrw-$i.time" "${pre[@]}" \
    setsid "$BIN/pg_receivewal" -d "$RW_CONNINFO" --slot="bench_pgrw_$i" -D "$dir" --no-loop \
    --synchronous --endpos="$TARGET_LSN" --no-password 2>"$WORK/pgrw-$i.log" ||
    { cat "$WORK/pgrw-$i.log" >&2; die "pg_receivewal run $i failed"; }
  RES=$(awk '{ printf "%.2f %.2f %.2f %d\n", $1, $2, $3, $4 }' "$WORK/pgrw-$i.time")
}

declare -a W_WALL W_USR W_SYS W_CPU W_RSS R_WALL R_USR R_SYS R_CPU R_RSS P_WALL P_CPU
for i in $(seq "$RUNS"); do
  settle "$PRIMARY/data/pg_wal"
  say "run $i/$RUNS: walrep"
  run_walrep "$i"; read -r wall usr sys rss <<<"$RES"
  W_WALL+=("$wall"); W_USR+=("$usr"); W_SYS+=("$sys"); W_CPU+=("$(awk -v u="$usr" -v s="$sys" 'BEGIN { print u + s }')"); W_RSS+=("$rss")
  echo "  wall ${wall}s user ${usr}s sys ${sys}s rss $((rss / 1024))MiB" >&2
  settle "$PRIMARY/data/pg_wal"
  say "run $i/$RUNS: pg_receivewal"
  run_pgrw "$i"; read -r wall usr sys rss <<<"$RES"
  R_WALL+=("$wall"); R_USR+=("$usr"); R_SYS+=("$sys"); R_CPU+=("$(awk -v u="$usr" -v s="$sys" 'BEGIN { print u + s }')"); R_RSS+=("$rss")
  echo "  wall ${wall}s user ${usr}s sys ${sys}s rss $((rss / 1024))MiB" >&2
  P_WALL+=("$(ratio "${W_WALL[-1]}" "${R_WALL[-1]}")"); P_CPU+=("$(ratio "${W_CPU[-1]}" "${R_CPU[-1]}")")
done

say "comparing completed segments of walrep run 1 with pg_receivewal run 1"
same=0; diffs=0
for f in "$WORK/pgrw-1"/????????????????????????; do
  [ -f "$f" ] || continue
  if cmp -s "$f" "$WORK/walrep-1/wal/$(basename "$f")"; then same=$((same + 1)); else diffs=$((diffs + 1)); echo "  differs: $(basename "$f")" >&2; fi
done
echo "  $same identical, $diffs different" >&2

mib=$(awk -v b="$BYTES" 'BEGIN { printf "%.1f", b / 1048576 }')
row() { # name wall user sys cpu rss_kb
  printf '%-22s %8.2f %8.1f %8.2f %8.2f %8.2f %10.1f\n' "$1" "$2" \
    "$(awk -v b="$BYTES" -v w="$2" 'BEGIN { print b / 1048576 / w }')" "$3" "$4" "$5" \
    "$(awk -v k="$6" 'BEGIN { print k / 1024 }')"
}
mw=$(median "${W_WALL[@]}"); mu=$(median "${W_USR[@]}"); ms=$(median "${W_SYS[@]}"); mc=$(median "${W_CPU[@]}"); mr=$(median "${W_RSS[@]}")
rw=$(median "${R_WALL[@]}"); ru=$(median "${R_USR[@]}"); rs=$(median "${R_SYS[@]}"); rc=$(median "${R_CPU[@]}"); rr=$(median "${R_RSS[@]}")
echo
echo "Catch-up of $mib MiB of existing WAL ($(num_to_lsn "$STREAM_FROM") .. $TARGET_LSN), PostgreSQL 15, $(nproc) cores"
echo "median of $RUNS runs each, alternating; fresh output directory and a dedicated slot per run"
echo "(each column is the median of its own values; CPU = user + sys)"
echo
printf '%-22s %8s %8s %8s %8s %8s %10s\n' "tool" "wall s" "MiB/s" "user s" "sys s" "CPU s" "peak RSS"
printf '%-22s %8s %8s %8s %8s %8s %10s\n' "" "" "" "" "" "" "MiB"
row "walrep" "$mw" "$mu" "$ms" "$mc" "$mr"
row "pg_receivewal" "$rw" "$ru" "$rs" "$rc" "$rr"
printf '%-22s %8s %8s %8s %8s %8s %10s\n' "walrep/pg_receivewal" "$(ratio "$mw" "$rw")" "$(ratio "$rw" "$mw")" \
  "$(ratio "$mu" "$ru")" "$(ratio "$ms" "$rs")" "$(ratio "$mc" "$rc")" "$(ratio "$mr" "$rr")"
echo
echo "(MiB/s ratio is walrep's throughput over pg_receivewal's: below 1 means walrep is slower)"
echo "median of the per-run ratios (run i of walrep vs run i of pg_receivewal): wall $(median "${P_WALL[@]}"), CPU $(median "${P_CPU[@]}")"
echo
echo "per run (wall s / user s / sys s / peak RSS KiB):"
for i in $(seq 0 $((RUNS - 1))); do
  echo "  run $((i + 1)): walrep ${W_WALL[$i]} / ${W_USR[$i]} / ${W_SYS[$i]} / ${W_RSS[$i]}   pg_receivewal ${R_WALL[$i]} / ${R_USR[$i]} / ${R_SYS[$i]} / ${R_RSS[$i]}"
done
echo "segments identical between walrep and pg_receivewal (run 1): $same, different: $diffs"

if [ -n "$STRACE" ]; then
  i=$((RUNS + 1))
  say "untimed run under strace -c -w -f: walrep"; run_walrep "$i" "$WORK/strace-walrep.txt"
  say "untimed run under strace -c -w -f: pg_receivewal"; run_pgrw "$i" "$WORK/strace-pgrw.txt"
  calls() { awk -v n="$2" '$NF == n && $4 ~ /^[0-9]+$/ { print $4; f = 1 } END { if (!f) print 0 }' "$1"; }
  echo
  echo "syscalls for the whole range (one untimed run each under strace -c -f):"
  printf '%-12s %10s %14s\n' "syscall" "walrep" "pg_receivewal"
  for sc in fsync fdatasync pwrite64 write recvfrom sendto futex fallocate; do
    printf '%-12s %10s %14s\n' "$sc" "$(calls "$WORK/strace-walrep.txt" "$sc")" "$(calls "$WORK/strace-pgrw.txt" "$sc")"
  done
fi
[ "$diffs" -eq 0 ] || exit 1
