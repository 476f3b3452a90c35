#!/usr/bin/env bash
# `make test`: the Werror build and the whole suite, then the unit tests under
# ASan + UBSan, then a short bounded fuzz run. Services the suites need
# (PostgreSQL, Redis, nginx) are started by the tests themselves on their own
# loopback ports and data directories, and stopped after.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { echo; echo "=== $* ($(( $(date +%s) - start ))s)"; }

step "build + full suite"
make --no-print-directory test-main
step "unit tests under ASan + UBSan"
make --no-print-directory test-asan
step "fuzz (bounded)"
make --no-print-directory test-fuzz
step "all green"
