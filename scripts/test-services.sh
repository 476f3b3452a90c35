#!/usr/bin/env bash
# Private PostgreSQL 15 and Redis 7 servers for the tests: loopback only, a free
# port each, data in a directory of the caller's choosing, never the packaged
# daemons or their ports.
#
#   test-services.sh start   postgres|redis DIR   # prints the URL, also in DIR/url
#   test-services.sh stop    postgres|redis DIR   # stops; keeps the data
#   test-services.sh restart postgres|redis DIR   # same port, same data
#   test-services.sh destroy postgres|redis DIR   # stops and removes DIR
#
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres`
# system user (created by Debian's postgresql-15 package). URLs:
#   postgresql://agenthost@127.0.0.1:PORT/agenthost   (trust auth on loopback)
#   redis://127.0.0.1:PORT                            (AOF on, appendfsync always)
set -euo pipefail

die() { echo "test-services: $*" >&2; exit 1; }
[ $# -eq 3 ] || die "usage: $0 start|stop|restart|destroy postgres|redis DIR"
action=$1 service=$2 dir=$3

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Ports handed out here stay reserved (one directory per port) until `destroy`: a fault
# test stops its server and starts it again on the same port, and another test's
# server started in between must not take that port (the restart would then fail to
# bind, or answer a readiness check from the other server and leave the first test's
# clients refused).
PORT_LOCKS=${AGENTHOST_TEST_PORT_LOCKS:-${TMPDIR:-/tmp}/agenthost-test-ports}
reserve_port() { mkdir -p "$PORT_LOCKS" && mkdir "$PORT_LOCKS/$1" 2>/dev/null; }
release_port() {
  if [ -f "$dir/port" ]; then rm -rf "${PORT_LOCKS:?}/$(cat "$dir/port")"; fi
}

# Below the kernel's ephemeral range: a port in that range can meanwhile become the
# local port of some other outgoing connection (a restart then fails to bind).
pick_port() {
  local p i lo=32768 hi=60999 top
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  top=$(( lo > 21000 ? lo - 1 : 32767 ))
  for i in $(seq 1 200); do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % (top - 20000 + 1) ))
    if ! port_in_use "$p" && reserve_port "$p"; then echo "$p"; return 0; fi
  done
  die "no free port found"
}

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

wait_for() {  # wait_for SECONDS CMD...: polls CMD until it succeeds
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

pg_start() {
  local port=$1
  as_pg "$PG_BIN/pg_ctl" -D "$(readlink "$dir/data.home")/data" -l "$(readlink "$dir/data.home")/postgres.log" -w -t 60 \
    -o "-p $port -k $(readlink "$dir/data.home") -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null \
    || { tail -20 "$(readlink "$dir/data.home")/postgres.log" >&2; die "postgres did not start"; }
}

pg_cmd() {
  case $action in
    start)
      mkdir -p "$dir"
      dir=$(cd "$dir" && pwd)
      [ -e "$dir/data" ] && die "$dir/data exists: use restart"
      # The server user must reach its data and socket directory; the caller's
      # directory may be private to root, so the cluster lives in a directory of
      # its own under /tmp, linked from DIR.
      local home; home=$(as_pg mktemp -d /tmp/agenthost-pg.XXXXXX)
      ln -s "$home" "$dir/data.home"
      as_pg "$PG_BIN/initdb" -D "$home/data" -U agenthost --auth=trust -E UTF8 \
        --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
      local port; port=$(pick_port)
      echo "$port" >"$dir/port"
      pg_start "$port"
      as_pg "$PG_BIN/psql" -q -h 127.0.0.1 -p "$port" -U agenthost -d postgres \
        -c "CREATE DATABASE agenthost" >/dev/null
      echo "postgresql://agenthost@127.0.0.1:$port/agenthost" | tee "$dir/url"
      ;;
    stop)
      [ -L "$dir/data.home" ] || exit 0
      as_pg "$PG_BIN/pg_ctl" -D "$(readlink "$dir/data.home")/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
      ;;
    restart)
      [ -f "$dir/port" ] || die "$dir: not a test postgres"
      as_pg "$PG_BIN/pg_ctl" -D "$(readlink "$dir/data.home")/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
      pg_start "$(cat "$dir/port")"
      cat "$dir/url"
      ;;
    destroy)
      if [ -L "$dir/data.home" ]; then
        as_pg "$PG_BIN/pg_ctl" -D "$(readlink "$dir/data.home")/data" -m immediate -w -t 60 stop >/dev/null 2>&1 || true
      fi
      [ -L "$dir/data.home" ] && rm -rf "$(readlink "$dir/data.home")"
      release_port
      rm -rf "$dir"
      ;;
    *) die "unknown action $action" ;;
  esac
}

redis_start() {
  local port=$1
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save "" \
    --appendonly yes --appendfsync always --protected-mode yes >/dev/null
  wait_for 30 redis-cli -h 127.0.0.1 -p "$port" ping \
    || { tail -20 "$dir/redis.log" >&2; die "redis did not start"; }
}

redis_stop() {
  [ -f "$dir/port" ] || return 0
  local port; port=$(cat "$dir/port")
  redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
  # SHUTDOWN returns before the process is gone; wait for the port to close.
  wait_for 30 bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null" || true
}

redis_cmd() {
  case $action in
    start)
      mkdir -p "$dir"
      dir=$(cd "$dir" && pwd)
      local port; port=$(pick_port)
      echo "$port" >"$dir/port"
      redis_start "$port"
      echo "redis://127.0.0.1:$port" | tee "$dir/url"
      ;;
    stop) redis_stop ;;
    restart)
      [ -f "$dir/port" ] || die "$dir: not a test redis"
      redis_stop
      redis_start "$(cat "$dir/port")"
      cat "$dir/url"
      ;;
    destroy) redis_stop; release_port; rm -rf "$dir" ;;
    *) die "unknown action $action" ;;
  esac
}

case $service in
  postgres) pg_cmd ;;
  redis) redis_cmd ;;
  *) die "unknown service $service" ;;
esac
