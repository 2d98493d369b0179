#!/usr/bin/env bash
# Apply-lag benchmark (engine postgres): how soon a commit on the primary is visible on
# walrep's supervised hot standby, against a real PostgreSQL streaming standby of the
# same primary, in one run.
#
#   tools/bench/apply_lag.sh        # from the repository root, after tools/setup
#
# Environment: BENCH_COUNT (default 500) probes per replica; BENCH_SECONDS (default 10) per
# pgbench run; BENCH_SCALE (default 10); BENCH_KEEP=1 keeps the temp directory;
# BENCH_NO_BUILD=1 skips the bazel build.
#
# 1. Commit-to-visible: while `pgbench -N -c 4` writes on the primary, apply_probe
#    (tools/bench/apply_probe, walrep's own client) commits one row at a time on the
#    primary and polls the replica for it the moment the commit returns; p50/p99/max over
#    BENCH_COUNT rows, for each replica in turn.
# 2. remote_apply: pgbench -N -c 4 TPS with synchronous_commit = remote_apply and the
#    replica as the only synchronous standby, for each in turn.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=common.sh
. "$ROOT/tools/bench/common.sh"

COUNT="${BENCH_COUNT:-500}"
SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
SCALE="${BENCH_SCALE:-10}"
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
pgbench_p() { as_pg "$BIN/pgbench" -h "$PRIMARY/sock" -p "$PORT" -U postgres "$@" postgres; }
psql_p -c "ALTER SYSTEM SET max_wal_size = '8GB'" -c "ALTER SYSTEM SET checkpoint_timeout = '1h'" \
       -c "SELECT pg_reload_conf()" >/dev/null
say "pgbench -i -s $SCALE"
pgbench_p -i -q -s "$SCALE" >"$WORK/pgbench-init.log" 2>&1

make_pg_standby
as_pg "$BIN/pg_ctl" start -w -D "$STANDBY/data" -l "$STANDBY/server.log" >/dev/null

say "walrep --engine=postgres, bootstrapped from the primary"
mkdir -p "$HS"
HS_PORT=$(free_port)
USER_FLAG=(); [ "$(id -u)" -eq 0 ] && USER_FLAG=(--pg_os_user=postgres)
AGENT_ADDR="127.0.0.1:$(free_port)"
"$AGENT" --data_dir="$HS/data" --grpc_listen="$AGENT_ADDR" --metrics_listen= --engine=postgres \
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

say "pgbench TPS with synchronous_commit = remote_apply"
for tool in "${TOOLS[@]}"; do
  psql_p -c "ALTER SYSTEM SET synchronous_standby_names = '${APP[$tool]}'" \
         -c "ALTER SYSTEM SET synchronous_commit = 'remote_apply'" -c "SELECT pg_reload_conf()" >/dev/null
  for _ in $(seq 200); do
    [ "$(psql_p -XAtq -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = '${APP[$tool]}'")" = sync ] && break
    sleep 0.1
  done
  out=$(pgbench_p -N -c 4 -T "$SECONDS_PER_RUN" 2>&1) || { echo "$out" >&2; die "pgbench failed"; }
  TPS[$tool]=$(echo "$out" | awk '/^tps = / { print $3; exit }')
  echo "  $tool: tps ${TPS[$tool]}" >&2
  psql_p -c "ALTER SYSTEM SET synchronous_standby_names = ''" -c "SELECT pg_reload_conf()" >/dev/null
done

echo
echo "apply lag (commit on the primary -> row visible on the replica), PostgreSQL 15, $(nproc) cores"
printf '%-34s %8s %8s %8s   %s\n' "replica" "p50 ms" "p99 ms" "max ms" "remote_apply tps"
for tool in "${TOOLS[@]}"; do
  read -r p50 p99 max <<<"${LAG[$tool]}"
  label="walrep --engine=postgres"; [ "$tool" = standby ] && label="PostgreSQL streaming standby"
  printf '%-34s %8s %8s %8s   %s\n' "$label" "$p50" "$p99" "$max" "${TPS[$tool]}"
done
read -r wp50 _ <<<"${LAG[walrep]}"; read -r sp50 _ <<<"${LAG[standby]}"
echo
printf '%-34s %8s\n' "p50 walrep / standby" "$(ratio "$wp50" "$sp50")"
printf '%-34s %8s\n' "remote_apply tps walrep / standby" "$(ratio "${TPS[walrep]}" "${TPS[standby]}")"
