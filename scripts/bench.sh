#!/usr/bin/env bash
# `make bench`: runs every Google Benchmark binary built in the bench tree, each with
# its baseline in the same binary (e.g. raw HMAC beside the full frame path), and
# writes the JSON results to <build>/bench-results/. Never part of `make test`.
set -euo pipefail
BUILD=${1:-build-bench}
OUT=$BUILD/bench-results
mkdir -p "$OUT"
found=0
for b in $(find "$BUILD" -maxdepth 3 -type f -executable -name 'bench_*' | sort); do
  found=1
  name=$(basename "$b")
  echo "=== $name"
  "$b" --benchmark_min_time=1 --benchmark_out="$OUT/$name.json" --benchmark_out_format=json
done
[ "$found" = 1 ] || { echo "no benchmarks found in $BUILD" >&2; exit 1; }
echo "=== command round trip (embedded profile, 1000 commands at 200/s)"
python3 "$(dirname "$0")/../bench/command_roundtrip.py" "$BUILD" 1000 200
echo "results: $OUT/"
