#!/usr/bin/env bash
# Installs agenthost as a systemd service, one versioned release next to the others,
# and switches between releases (upgrade, rollback).
#
#   install-service.sh --role backend|gateway --from STAGE [--version V]
#                      [--prefix ROOT] [--dry-run] [--no-enable]
#   install-service.sh --rollback [--role R] [--prefix ROOT] [--dry-run]
#   install-service.sh --status [--prefix ROOT]
#
# STAGE is an install tree (`cmake --install BUILD --prefix STAGE`, or the contents of
# the Debian package): bin/agenthost, lib/agenthost/plugins/, share/agenthost/.
# V defaults to the version `STAGE/bin/agenthost version` reports.
#
# Layout under ROOT (default /):
#   opt/agenthost/releases/<V>/{bin,lib,share}   immutable releases (root:root, 0755)
#   opt/agenthost/current  -> releases/<V>       what the unit runs
#   opt/agenthost/previous -> releases/<V'>      what --rollback switches back to
#   etc/agenthost/<role>.yaml                    config: installed from the example
#                                                only when absent (root:agenthost 0640)
#   var/lib/agenthost/                           state (agenthost:agenthost 0750)
#   var/log/agenthost/                           logs/audit (agenthost:agenthost 0750)
#   etc/systemd/system/agenthost-<role>.service  the unit, ExecStart -> current/bin
#
# Switching `current` is one atomic rename of a symlink. With ROOT=/ the service user
# is created (useradd --system), the unit enabled and restarted; with another ROOT
# (tests, image builds) nothing outside ROOT is touched. --dry-run prints every step
# and changes nothing. Exit codes: 0 ok, 1 failure, 2 usage.
set -euo pipefail

usage() { sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "install-service: $*" >&2; exit 1; }

role="" from="" version="" prefix="/" dry_run=0 enable=1 action=install
while [ $# -gt 0 ]; do
  case $1 in
    --role) role=${2:-}; shift 2 ;;
    --from) from=${2:-}; shift 2 ;;
    --version) version=${2:-}; shift 2 ;;
    --prefix) prefix=${2:-}; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    --no-enable) enable=0; shift ;;
    --rollback) action=rollback; shift ;;
    --status) action=status; shift ;;
    -h|--help) usage ;;
    *) echo "install-service: unknown argument '$1'" >&2; usage ;;
  esac
done

root=${prefix%/}
live=0
[ -z "$root" ] && live=1  # ROOT=/: the real system
base="$root/opt/agenthost"
user=agenthost

run() {  # every change goes through here, so --dry-run shows exactly what would happen
  if [ "$dry_run" -eq 1 ]; then
    echo "dry-run: $*"
  else
    "$@"
  fi
}

# Points LINK at TARGET atomically (a new link renamed over the old one).
swap_link() {
  local target=$1 link=$2
  run ln -sfn "$target" "$link.new"
  run mv -Tf "$link.new" "$link"
}

have_user() { getent passwd "$user" >/dev/null 2>&1; }

ensure_user() {
  if [ "$live" -eq 1 ] && ! have_user; then
    run useradd --system --home-dir /var/lib/agenthost --no-create-home \
      --shell /usr/sbin/nologin "$user"
  fi
}

# Owner for files the service writes: the service user when it exists, else root
# (a test prefix on a machine without the user).
owner() { if have_user; then echo "$user:$user"; else echo "root:root"; fi; }
group_owner() { if have_user; then echo "root:$user"; else echo "root:root"; fi; }

systemctl_ok() { [ "$live" -eq 1 ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; }

status() {
  echo "releases:"
  ls -1 "$base/releases" 2>/dev/null | sed 's/^/  /' || true
  echo "current:  $(readlink "$base/current" 2>/dev/null || echo none)"
  echo "previous: $(readlink "$base/previous" 2>/dev/null || echo none)"
}

install_release() {
  [ -n "$role" ] || die "--role is required"
  [ "$role" = backend ] || [ "$role" = gateway ] || die "--role must be backend or gateway"
  [ -n "$from" ] || die "--from STAGE is required"
  [ -x "$from/bin/agenthost" ] || die "$from/bin/agenthost: not an executable"
  if [ -z "$version" ]; then
    version=$("$from/bin/agenthost" version | awk 'NR==1 {print $2}')
  fi
  [[ "$version" =~ ^[A-Za-z0-9._+-]+$ ]] || die "bad version '$version'"
  local rel="$base/releases/$version"
  if [ -e "$rel" ]; then
    echo "install-service: release $version already installed; switching to it"
  else
    run mkdir -p "$base/releases"
    # Copy into a temporary name, then rename: a half-copied release is never visible.
    run rm -rf "$rel.partial"
    run mkdir -p "$rel.partial"
    run cp -a "$from/bin" "$rel.partial/bin"
    [ -d "$from/lib" ] && run cp -a "$from/lib" "$rel.partial/lib"
    [ -d "$from/share" ] && run cp -a "$from/share" "$rel.partial/share"
    run chown -R root:root "$rel.partial"
    run chmod -R go-w "$rel.partial"
    run mv -T "$rel.partial" "$rel"
  fi

  ensure_user
  run install -d -m 0755 "$root/etc/agenthost"
  run install -d -m 0750 -o "$(owner | cut -d: -f1)" -g "$(owner | cut -d: -f2)" \
    "$root/var/lib/agenthost" "$root/var/log/agenthost"
  local cfg="$root/etc/agenthost/$role.yaml"
  local example="$rel/share/agenthost/configs/production.yaml"
  [ "$role" = gateway ] && example="$rel/share/agenthost/configs/gateway-production.yaml"
  if [ ! -e "$cfg" ]; then
    if [ -f "$example" ] || [ "$dry_run" -eq 1 ]; then
      run install -m 0640 -o root -g "$(group_owner | cut -d: -f2)" "$example" "$cfg"
    else
      echo "install-service: no example config $example; write $cfg before starting"
    fi
  else
    echo "install-service: keeping existing $cfg"
  fi

  local unit_src="$rel/lib/systemd/system/agenthost-$role.service"
  [ -f "$unit_src" ] || unit_src="$rel/share/agenthost/deploy/systemd/agenthost-$role.service"
  local unit_dst="$root/etc/systemd/system/agenthost-$role.service"
  if [ -f "$unit_src" ] || [ "$dry_run" -eq 1 ]; then
    run install -d -m 0755 "$root/etc/systemd/system"
    # The unit runs whatever `current` points at; paths are those of the live system.
    if [ "$dry_run" -eq 1 ]; then
      echo "dry-run: render $unit_src -> $unit_dst"
    else
      sed -e "s#/usr/bin/agenthost#/opt/agenthost/current/bin/agenthost#g" \
          "$unit_src" >"$unit_dst.new"
      chmod 0644 "$unit_dst.new"
      mv -f "$unit_dst.new" "$unit_dst"
    fi
  else
    echo "install-service: no unit file in the release; skipping the unit"
  fi

  local cur=""
  cur=$(readlink "$base/current" 2>/dev/null || true)
  if [ "$cur" != "releases/$version" ]; then
    [ -n "$cur" ] && swap_link "$cur" "$base/previous"
    swap_link "releases/$version" "$base/current"
  fi
  if systemctl_ok; then
    run systemctl daemon-reload
    [ "$enable" -eq 1 ] && run systemctl enable "agenthost-$role.service"
    run systemctl restart "agenthost-$role.service"
  fi
  echo "install-service: $role release $version is current (previous: ${cur:-none})"
}

rollback() {
  local cur prev
  cur=$(readlink "$base/current" 2>/dev/null || true)
  prev=$(readlink "$base/previous" 2>/dev/null || true)
  [ -n "$prev" ] || die "no previous release to roll back to"
  [ -d "$base/$prev" ] || die "previous release $prev is missing"
  swap_link "$prev" "$base/current"
  swap_link "$cur" "$base/previous"
  if systemctl_ok; then
    local r
    for r in ${role:-backend gateway}; do
      if systemctl is-enabled "agenthost-$r.service" >/dev/null 2>&1; then
        run systemctl restart "agenthost-$r.service"
      fi
    done
  fi
  echo "install-service: rolled back to $prev (previous: $cur)"
}

case $action in
  install) install_release ;;
  rollback) rollback ;;
  status) status ;;
esac
