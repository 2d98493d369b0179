#!/usr/bin/env bash
# The regression guard: every comparison with PostgreSQL's own tools, one after the other
# on the same machine, and one table of ratios with the targets they are held to.
#
#   tools/bench/all.sh            # from the repository root, after tools/setup; ~15 min
#
# Runs (each script's full report goes to $BENCH_OUT, default /tmp/walrep-bench-all):
#   sync_commit.sh   pgbench TPS with walrep / pg_receivewal --synchronous / a standby as
#                    the only synchronous standby
#   catchup.sh       streaming an existing WAL range: walrep vs pg_receivewal --synchronous
#   basebackup.sh    walrep vs pg_basebackup -Fp -Xstream, plain; then both with the primary
#                    compressing (server-lz4)
#   apply_lag.sh     engine postgres vs a PostgreSQL standby: commit-to-visible latency and
#                    remote_apply TPS
#   decoders_bench   CRC-32C, WAL record reader, tar reader, decompressors against memcpy
# Ratios, not absolute numbers, are what tools/bench/README.md records (with the commit).
# Benchmarks need a quiet machine: nothing else building or running.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
OUT="${BENCH_OUT:-/tmp/walrep-bench-all}"
mkdir -p "$OUT"

echo "building (once for all scripts)" >&2
bazel build //agent:walrep_agent //tools/walrepctl:walrepctl //tools/bench/apply_probe \
  //tools/bench/micro:decoders_bench 2>&1 | grep -E '^(ERROR|INFO: Build)' >&2
export BENCH_NO_BUILD=1

run() { # name script [env...]
  local name="$1" script="$2"
  shift 2
  echo "== $name" >&2
  env "$@" "$ROOT/tools/bench/$script" >"$OUT/$name.txt" 2>"$OUT/$name.log" ||
    { tail -20 "$OUT/$name.log" >&2; echo "$name failed" >&2; exit 1; }
}

run sync_commit sync_commit.sh
run catchup catchup.sh
run basebackup basebackup.sh
run basebackup_lz4 basebackup.sh BENCH_COMPRESS=server-lz4
run apply_lag apply_lag.sh
echo "== decoders_bench" >&2
"$ROOT/bazel-bin/tools/bench/micro/decoders_bench" --benchmark_min_time=0.5 \
  --benchmark_format=csv >"$OUT/micro.csv" 2>"$OUT/micro.log"

# --- the table
col() { # file row-label column (1-based, after the label) -> value
  awk -v label="$2" -v c="$3" 'index($0, label) == 1 {
      rest = substr($0, length(label) + 1); n = split(rest, f, " "); print f[c]; exit }' "$1"
}
line() { # metric value target comparison(ge|le)
  local met
  met=$(awk -v v="$2" -v t="$3" -v op="$4" 'BEGIN {
      if (v == "") { print "n/a"; exit }
      ok = (op == "ge") ? (v >= t) : (v <= t); print ok ? "yes" : "NO" }')
  printf '%-58s %8s %6s %s %s\n' "$1" "${2:-?}" "$([ "$4" = ge ] && echo '>=' || echo '<=')" "$3" "$met"
}
mbps() { # benchmark name -> MB/s from the CSV (bytes_per_second column)
  awk -F, -v n="\"$1\"" '$1 == n { printf "%.0f", $6 / 1e6; exit }' "$OUT/micro.csv"
}

echo
echo "walrep benchmark ratios — commit $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty'), $(nproc) cores, $(date -u +%F)"
printf '%-58s %8s %9s %s\n' "metric" "ratio" "target" "met"
line "sync commit TPS, walrep / pg_receivewal --synchronous" \
  "$(col "$OUT/sync_commit.txt" "walrep / pg_receivewal" 1)" 1.05 ge
line "sync commit TPS, walrep / PostgreSQL standby" \
  "$(col "$OUT/sync_commit.txt" "walrep / standby" 1)" 1.00 ge
line "catch-up throughput, walrep / pg_receivewal" \
  "$(col "$OUT/catchup.txt" "walrep/pg_receivewal" 2)" 1.5 ge
line "catch-up CPU, walrep / pg_receivewal" \
  "$(col "$OUT/catchup.txt" "walrep/pg_receivewal" 5)" 0.6 le
line "base backup wall, walrep / pg_basebackup" \
  "$(col "$OUT/basebackup.txt" "walrep/pg_basebackup" 1)" 0.9 le
line "base backup CPU, walrep / pg_basebackup" \
  "$(col "$OUT/basebackup.txt" "walrep/pg_basebackup" 3)" 1.0 le
line "base backup wall, server-lz4, walrep / pg_basebackup" \
  "$(col "$OUT/basebackup_lz4.txt" "walrep/pg_basebackup" 1)" 0.9 le
line "apply lag p50, engine postgres / standby" \
  "$(col "$OUT/apply_lag.txt" "p50 walrep / standby" 1)" 1.2 le
line "remote_apply TPS, engine postgres / standby" \
  "$(col "$OUT/apply_lag.txt" "remote_apply tps walrep / standby" 1)" 1.0 ge
echo
echo "decoders (MB/s; memcpy 16 MiB: $(mbps BM_Memcpy/16777216)):"
for b in BM_Crc32c/16777216 BM_WalDecoder/40 BM_WalDecoder/400 BM_WalDecoder/8000 BM_TarReader \
         BM_Decompress/1 BM_Decompress/2 BM_Decompress/3; do
  printf '  %-24s %8s\n' "$b" "$(mbps "$b")"
done
echo "full reports: $OUT/"
