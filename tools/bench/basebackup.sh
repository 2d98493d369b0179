#!/usr/bin/env bash
# Base-backup benchmark: walrep (walrep_agent + `walrepctl backup`) against
# `pg_basebackup -Fp -Xstream -c fast` copying the same pgbench database.
#
#   tools/bench/basebackup.sh          # from the repository root, after tools/setup
#
# Environment: BENCH_SCALE (default 50, at least 50) pgbench scale; BENCH_RUNS (default 3)
# runs per tool; BENCH_KEEP=1 keeps the temp directory; BENCH_NO_BUILD=1 skips the build;
# BENCH_COMPRESS (e.g. server-lz4, server-zstd:3) has both tools ask the primary to
# compress, in pg_basebackup's --compress spelling; both still write a plain directory.
# BENCH_PERF=FILE records walrep's first run with `perf record -g` into FILE and prints its
# top symbols to stderr (that run's numbers then include perf's sampling cost).
#
# Setup: one throwaway PostgreSQL 15 primary (tools/local_primary, data checksums on, so
# both tools have the primary verify page checksums), pgbench -i -s SCALE, CHECKPOINT.
# Runs alternate walrep / pg_basebackup, each into a fresh directory removed after the run.
# Before every run the machine is brought to the same state (settle): the previous copy
# removed and synced, the page cache and inode caches dropped, the primary's files read
# back into the cache. Without it each run pays for the one before: reclaiming its clean
# page cache, and on ext4 a create right after a mass delete scans the recently deleted
# inodes (recently_deleted(), a second of CPU per copy without a journal) — billing one
# tool for the other's cleanup. Dropping caches needs root; otherwise only sync.
# The first walrep copy is checked with pg_verifybackup.
# Also printed: the CPU of the primary's walsenders that served each run (the postmaster's
# reaped children, cutime + cstime), to tell a copy bound by the sending side from one
# bound by the client or the disk.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=common.sh
. "$ROOT/tools/bench/common.sh"

SCALE="${BENCH_SCALE:-50}"
RUNS="${BENCH_RUNS:-3}"
COMPRESS="${BENCH_COMPRESS:-}"
COMPRESS_ARGS=()
[ -n "$COMPRESS" ] && COMPRESS_ARGS=(--compress="$COMPRESS")
[ "$SCALE" -ge 50 ] || die "BENCH_SCALE must be at least 50"
# bazel-bin follows whichever configuration was built last (e.g. --config=asan); take the
# plain optimized build explicitly.
AGENT="$ROOT/bazel-out/k8-fastbuild/bin/agent/walrep_agent"
CTL="$ROOT/bazel-out/k8-fastbuild/bin/tools/walrepctl/walrepctl"
build_binaries

WORK="$(mktemp -d /tmp/walrep-bench-basebackup.XXXXXX)"
chmod 0755 "$WORK"
snapshot_binaries "$WORK/bin"
PRIMARY="$WORK/primary"
AGENT_PID=""
cleanup() {
  cleanup_common
}
trap cleanup EXIT

start_primary
BB_CONNINFO="${CONNINFO/application_name=walrep/application_name=pg_basebackup}"

say "pgbench -i -s $SCALE"
as_pg "$BIN/pgbench" -h "$PRIMARY/sock" -p "$PORT" -U postgres -i -q -s "$SCALE" postgres \
  >"$WORK/pgbench-init.log" 2>&1
psql_p -c "CHECKPOINT" >/dev/null
DB_BYTES=$(psql_p -c "SELECT sum(pg_database_size(oid)) FROM pg_database")
echo "  databases: $(( DB_BYTES / 1048576 )) MiB" >&2

# --- one walrep run: sets RES="wall cpu rss_kb bytes"
run_walrep() {
  local i="$1"
  local dir="$WORK/walrep-$i" t0 t1 cpu0 cpu1 out
  mkdir -p "$dir"
  start_agent "$dir/agent" "$WORK/walrep-$i.log"
  local perf_pid=""
  if [ -n "${BENCH_PERF:-}" ] && [ "$i" -eq 1 ]; then
    perf record -q -g -p "$AGENT_PID" -o "$BENCH_PERF" 2>/dev/null &
    perf_pid=$!; sleep 1
  fi
  cpu0=$(proc_cpu "$AGENT_PID")
  t0=$(now)
  out=$("$CTL" --addr="$AGENT_ADDR" --timeout=3600s backup --conninfo="$CONNINFO" \
          --target="$dir/pgdata" --fast "${COMPRESS_ARGS[@]}" 2>"$WORK/walrep-$i.progress") ||
    { cat "$WORK/walrep-$i.progress" "$WORK/walrep-$i.log" >&2; die "walrep run $i failed"; }
  t1=$(now)
  cpu1=$(proc_cpu "$AGENT_PID")
  if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid"; wait "$perf_pid" || true
    perf report -i "$BENCH_PERF" --stdio --no-children --sort sym -g none 2>/dev/null |
      grep '%' | head -30 >&2 || true
  fi
  echo "  $out" >&2
  [[ "$out" == *"manifest_verified=yes"* ]] || die "walrep run $i: manifest not verified"
  RES="$(elapsed "$t0" "$t1") $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }') $(proc_hwm_kb "$AGENT_PID")"
  stop_agent
  if [ "$i" -eq 1 ]; then
    say "pg_verifybackup of walrep run 1"
    "$BIN/pg_verifybackup" "$dir/pgdata" >&2 || die "pg_verifybackup rejected the walrep copy"
  fi
  rm -rf "$dir"
}

# --- one pg_basebackup run: sets RES="wall cpu rss_kb"
run_pgbb() {
  local i="$1"
  local dir="$WORK/pgbb-$i"
  /usr/bin/time -f '%e %U %S %M' -o "$WORK/pgbb-$i.time" \
    "$BIN/pg_basebackup" -d "$BB_CONNINFO" -D "$dir" -Fp -Xstream -c fast --no-password \
    "${COMPRESS_ARGS[@]}" \
    2>"$WORK/pgbb-$i.log" || { cat "$WORK/pgbb-$i.log" >&2; die "pg_basebackup run $i failed"; }
  RES=$(awk '{ printf "%.2f %.2f %d\n", $1, $2 + $3, $4 }' "$WORK/pgbb-$i.time")
  rm -rf "$dir"
}

# CPU seconds of the primary's postmaster's children that have exited (cutime + cstime):
# across a run, the walsenders that served it (the BASE_BACKUP sender and the WAL stream
# beside it). Long-lived children (the checkpointer doing the fast checkpoint) are not in it.
primary_served_cpu() {
  awk -v t="$CLK_TCK" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($14 + $15) / t }' \
    "/proc/$(head -1 "$PRIMARY/data/postmaster.pid")/stat"
}
declare -a W_WALL W_CPU W_RSS B_WALL B_CPU B_RSS W_SRV B_SRV
for i in $(seq "$RUNS"); do
  settle "$PRIMARY/data"
  say "run $i/$RUNS: walrep"
  s0=$(primary_served_cpu)
  run_walrep "$i"; read -r wall cpu rss <<<"$RES"
  W_SRV+=("$(awk -v a="$s0" -v b="$(primary_served_cpu)" 'BEGIN { printf "%.2f", b - a }')")
  W_WALL+=("$wall"); W_CPU+=("$cpu"); W_RSS+=("$rss")
  echo "  wall ${wall}s cpu ${cpu}s rss $((rss / 1024))MiB; the primary's walsenders ${W_SRV[-1]}s" >&2
  settle "$PRIMARY/data"
  say "run $i/$RUNS: pg_basebackup"
  s0=$(primary_served_cpu)
  run_pgbb "$i"; read -r wall cpu rss <<<"$RES"
  B_SRV+=("$(awk -v a="$s0" -v b="$(primary_served_cpu)" 'BEGIN { printf "%.2f", b - a }')")
  B_WALL+=("$wall"); B_CPU+=("$cpu"); B_RSS+=("$rss")
  echo "  wall ${wall}s cpu ${cpu}s rss $((rss / 1024))MiB; the primary's walsenders ${B_SRV[-1]}s" >&2
done

mib=$(( DB_BYTES / 1048576 ))
row() { # name wall cpu rss_kb
  printf '%-26s %9.2f %9.1f %9.2f %12.1f\n' "$1" "$2" "$(awk -v b="$DB_BYTES" -v w="$2" 'BEGIN { print b / 1048576 / w }')" \
    "$3" "$(awk -v k="$4" 'BEGIN { print k / 1024 }')"
}
mw=$(median "${W_WALL[@]}"); mc=$(median "${W_CPU[@]}"); mr=$(median "${W_RSS[@]}")
bw=$(median "${B_WALL[@]}"); bc=$(median "${B_CPU[@]}"); br=$(median "${B_RSS[@]}")
echo
echo "Base backup of a pgbench -s $SCALE database ($mib MiB), PostgreSQL 15, $(nproc) cores"
echo "median of $RUNS runs each, alternating; plain format, WAL streamed, fast checkpoint${COMPRESS:+, --compress=$COMPRESS}"
echo
printf '%-26s %9s %9s %9s %12s\n' "tool" "wall s" "MiB/s" "CPU s" "peak RSS MiB"
row "walrep" "$mw" "$mc" "$mr"
row "pg_basebackup" "$bw" "$bc" "$br"
printf '%-26s %9s %9s %9s %12s\n' "walrep/pg_basebackup" "$(ratio "$mw" "$bw")" "$(ratio "$bw" "$mw")" "$(ratio "$mc" "$bc")" "$(ratio "$mr" "$br")"
echo
echo "the primary's walsenders serving each tool (CPU s, median): walrep $(median "${W_SRV[@]}")," \
  "pg_basebackup $(median "${B_SRV[@]}") — against the wall times above, how busy the sending side was"
echo
echo "per run (wall s / CPU s / peak RSS KiB / the primary's walsenders' CPU s):"
for i in $(seq 0 $((RUNS - 1))); do
  echo "  run $((i + 1)): walrep ${W_WALL[$i]} / ${W_CPU[$i]} / ${W_RSS[$i]} / ${W_SRV[$i]}   pg_basebackup ${B_WALL[$i]} / ${B_CPU[$i]} / ${B_RSS[$i]} / ${B_SRV[$i]}"
done
