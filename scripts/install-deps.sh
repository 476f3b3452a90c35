#!/usr/bin/env bash
# Installs every build and test dependency from Debian 12's archive (apt-get only).
# Idempotent: packages already present are not touched and apt-get is not called.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git clang clang-format clang-tidy
  libclang-rt-14-dev
  libboost1.81-dev libboost-json1.81-dev
  libssl-dev openssl
  libyaml-cpp-dev libspdlog-dev libfmt-dev
  libsqlite3-dev sqlite3
  libpqxx-dev libhiredis-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  postgresql-15 postgresql-client-15 redis-server redis-tools nginx-light libnginx-mod-stream
  curl python3 procps iproute2 systemd
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Services are started by the tests themselves on their own ports; keep the
# packaged daemons from starting on install.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
