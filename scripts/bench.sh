#!/usr/bin/env bash
# `make bench`: never part of `make test`. Each scenario runs its baseline in the same
# run (same machine, same client) and stays under two minutes on 2 cores:
#   1. every Google Benchmark binary of the bench tree (bench_*), each with its own
#      baseline in the same binary (e.g. raw HMAC beside the full frame path);
#   2. the system scenarios of bench/perf (agentsim against a real backend, against
#      Debian's nginx and a Node.js `ws` echo server): connection scale, handshake
#      rate, message round trips, command round trip (embedded and Redis profiles, the
#      operator API driven by tools/apiload; the Redis one runs bench_queue_redis's raw
#      hiredis loop against its own redis-server as the baseline), telemetry ingest.
# Results: <build>/bench-results/ (performance.md holds docs/PERFORMANCE.md-ready
# tables, results.json the raw figures). Extra arguments go to bench/perf/run.py,
# e.g. BENCH_ARGS='--only handshake_rate' or '--agents 2000' or
# '--only command_round_trip_redis_scale --cmd-scale-agents 2000'.
set -euo pipefail
BUILD=${1:-build-bench}
shift || true
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$BUILD" && pwd)
OUT=$BUILD/bench-results
mkdir -p "$OUT"
# 10,000 connections: file descriptors for the backend, nginx and agentsim (children
# inherit the limit). Ephemeral ports: agentsim spreads its connections over 32
# loopback source addresses, so the system's port range is left alone.
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
found=0
for b in $(find "$BUILD" -maxdepth 3 -type f -executable -name 'bench_*' | sort); do
  found=1
  name=$(basename "$b")
  echo "=== $name"
  "$b" --benchmark_min_time=1 --benchmark_out="$OUT/$name.json" --benchmark_out_format=json
done
[ "$found" = 1 ] || { echo "no benchmarks found in $BUILD" >&2; exit 1; }
cd "$ROOT"
export PYTHONDONTWRITEBYTECODE=1
# shellcheck disable=SC2086
python3 -m bench.perf.run "$BUILD" ${BENCH_ARGS:-} "$@"
echo "results: $OUT/"
