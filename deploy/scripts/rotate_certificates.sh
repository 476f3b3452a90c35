#!/usr/bin/env bash
# Staged rotation of the backend's TLS key, so that no pinning gateway is ever locked
# out (docs/certificate_management.md). Stages, in order:
#
#   issue       new key + certificate for the backend (same subject and SANs), signed
#               by the CA; prints the next pin
#   distribute  every gateway's pin set becomes {current, next}; config rewritten by
#               atomic rename, checked with `agenthost check-config`, then SIGHUP
#   swap        the next certificate/key replace the backend's files by atomic rename
#               (the old pair is kept as *.prev), then SIGHUP: new connections get the
#               new certificate, live sessions keep theirs
#   verify      connect to the backend and check that it serves the next pin
#   retire      the old pin leaves every gateway's pin set (atomic rename + SIGHUP)
#
# Every stage is idempotent and recorded in STATE_DIR/rotation.state, so an interrupted
# rotation resumes where it stopped (`all` skips the stages already done).
# `rollback` undoes a swap (restores *.prev, SIGHUP) before `retire` ran.
#
#   rotate_certificates.sh [options] all|issue|distribute|swap|verify|retire|rollback|status
#     --state DIR              rotation state and the issued key (required; 0700)
#     --backend CONFIG[@PID]   the backend's config; PID: a number, a pid file, or
#                              systemd:UNIT (reloaded with systemctl reload UNIT)
#     --gateway CONFIG[@PID]   a gateway's config (repeatable; same PID forms)
#     --pki DIR                a dev-pki.sh directory (DIR/ca.crt, DIR/ca.key), or
#     --ca-cert FILE --ca-key FILE
#     --days N                 validity of the new certificate (default 397)
#     --verify HOST:PORT       the backend's agent listener (verify stage)
#     --client-cert F --client-key F   a client identity for the verify handshake
#     --agenthost BIN          the agenthost binary (default: agenthost on PATH)
#     --timeout S              how long verify waits for the new certificate (default 15)
#     --dry-run                print what would be done; change nothing
# Exit codes: 0 done, 1 a stage failed (state unchanged for it), 2 usage.
set -euo pipefail
umask 077

here=$(cd "$(dirname "$0")" && pwd)
state_dir="" backend="" gateways=() ca_cert="" ca_key="" days=397 verify_at=""
client_cert="" client_key="" agenthost_bin=${AGENTHOST_BIN:-agenthost} timeout=15 dry_run=0
stage=""

die() { echo "rotate_certificates.sh: $*" >&2; exit 2; }
fail() { echo "rotate_certificates.sh: $*" >&2; exit 1; }
say() { echo "[$1] ${*:2}"; }
usage() { sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --state) state_dir=${2:-}; shift 2 ;;
    --backend) backend=${2:-}; shift 2 ;;
    --gateway) gateways+=("${2:-}"); shift 2 ;;
    --pki) ca_cert=${2:-}/ca.crt; ca_key=${2:-}/ca.key; shift 2 ;;
    --ca-cert) ca_cert=${2:-}; shift 2 ;;
    --ca-key) ca_key=${2:-}; shift 2 ;;
    --days) days=${2:-}; shift 2 ;;
    --verify) verify_at=${2:-}; shift 2 ;;
    --client-cert) client_cert=${2:-}; shift 2 ;;
    --client-key) client_key=${2:-}; shift 2 ;;
    --agenthost) agenthost_bin=${2:-}; shift 2 ;;
    --timeout) timeout=${2:-}; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage ;;
    -*) die "unknown option $1" ;;
    *) [[ -z "$stage" ]] || die "one stage at a time"; stage=$1; shift ;;
  esac
done
[[ -n "$stage" ]] || usage
[[ -n "$state_dir" ]] || die "--state DIR is required"
[[ "$days" =~ ^[0-9]+$ && "$timeout" =~ ^[0-9]+$ ]] || die "--days and --timeout take a number"

mkdir -p "$state_dir"
chmod 0700 "$state_dir"
state_file=$state_dir/rotation.state
next_key=$state_dir/next.key
next_crt=$state_dir/next.crt

# ---- state: KEY=VALUE lines, rewritten by rename ------------------------------------
# Under --dry-run the state lives in memory only, so `all` can walk every stage.
declare -A dry_state=()
# shellcheck disable=SC2015  # A && B || true: a missing file reads as empty
get() {
  if [[ -n "${dry_state[$1]+x}" ]]; then echo "${dry_state[$1]}"; return 0; fi
  [[ -f "$state_file" ]] && sed -n "s/^$1=//p" "$state_file" | tail -n 1 || true
}
put() {
  if ((dry_run)); then dry_state[$1]=$2; return 0; fi
  local tmp=$state_file.tmp.$$
  # shellcheck disable=SC2015
  { [[ -f "$state_file" ]] && grep -v "^$1=" "$state_file" || true; echo "$1=$2"; } > "$tmp"
  mv -f "$tmp" "$state_file"
}
done_stage() { [[ "$(get "done_$1")" == 1 ]]; }

run() {  # a side effect: printed under --dry-run, executed otherwise
  if ((dry_run)); then echo "  would run: $*"; else "$@"; fi
}

# ---- helpers -------------------------------------------------------------------------
pin_of() { "$here/generate_spki_pin.sh" "$1"; }

config_of() { echo "${1%%@*}"; }
pid_spec_of() { [[ "$1" == *@* ]] && echo "${1#*@}" || echo ""; }

# Path of `tls.cert` / `tls.key` in a backend config, relative paths resolved.
tls_path() {  # CONFIG KEY
  local cfg=$1 key=$2 value
  value=$(awk -v key="$key" '
    /^[^[:space:]#]/ { in_tls = ($0 ~ /^tls:[[:space:]]*$/) }
    in_tls && $0 ~ "^[[:space:]]+" key ":" { sub("^[[:space:]]+" key ":[[:space:]]*", ""); sub(/[[:space:]]+#.*$/, ""); gsub(/["'\'']/, ""); print; exit }
  ' "$cfg")
  [[ -n "$value" ]] || fail "no tls.$key in $cfg"
  [[ "$value" == /* ]] || value=$(cd "$(dirname "$cfg")" && pwd)/$value
  echo "$value"
}

signal_hup() {  # PID_SPEC WHAT
  local spec=$1 what=$2 pid
  if [[ -z "$spec" ]]; then
    say "$stage" "no process given for $what: reload it yourself (systemctl reload ...)"
    return 0
  fi
  if [[ "$spec" == systemd:* ]]; then
    run systemctl reload "${spec#systemd:}"
    return 0
  fi
  if [[ "$spec" =~ ^[0-9]+$ ]]; then pid=$spec; else pid=$(cat "$spec" 2>/dev/null || true); fi
  [[ "$pid" =~ ^[0-9]+$ ]] || fail "cannot read a pid for $what from '$spec'"
  run kill -HUP "$pid"
}

# Validates a config with the start-up loader when agenthost is available.
check_config() {
  if command -v "$agenthost_bin" >/dev/null 2>&1; then
    "$agenthost_bin" check-config -c "$1" >/dev/null || fail "check-config refused $1; not reloading"
  fi
}

# Current pin list of a gateway config (one per line).
read_pins() {
  awk '
    /^[[:space:]]*pins:[[:space:]]*\[/ { s = $0; sub(/^[^\[]*\[/, "", s); sub(/\].*$/, "", s)
      n = split(s, a, ","); for (i = 1; i <= n; i++) { gsub(/[[:space:]"'\'']/, "", a[i]); if (a[i] != "") print a[i] }; exit }
    /^[[:space:]]*pins:[[:space:]]*$/ { block = 1; next }
    block && /^[[:space:]]*-[[:space:]]/ { s = $0; sub(/^[[:space:]]*-[[:space:]]*/, "", s); gsub(/[[:space:]"'\'']/, "", s); print s; next }
    block { exit }
  ' "$1"
}

# Rewrites the `pins:` entry (flow or block style) of a gateway config to the given
# pins, by atomic rename. Exit 1 when the file has no pins entry.
write_pins() {  # CONFIG PIN...
  local cfg=$1; shift
  local list="" p
  for p in "$@"; do list+="${list:+, }\"$p\""; done
  local tmp; tmp=$(dirname "$cfg")/.$(basename "$cfg").rotate.$$
  awk -v list="$list" '
    !done && /^[[:space:]]*pins:[[:space:]]*\[/ { ind = $0; sub(/pins:.*$/, "", ind); print ind "pins: [ " list " ]"; done = 1; next }
    !done && /^[[:space:]]*pins:[[:space:]]*$/ { ind = $0; sub(/pins:.*$/, "", ind); print ind "pins: [ " list " ]"; block = 1; done = 1; next }
    block && /^[[:space:]]*-[[:space:]]/ { next }
    { block = 0; print }
    END { if (!done) exit 1 }
  ' "$cfg" > "$tmp" || { rm -f "$tmp"; fail "no pins: entry in $cfg"; }
  chmod --reference="$cfg" "$tmp" 2>/dev/null || true
  mv -f "$tmp" "$cfg"
}

# Sets one gateway's pin set to its current pins (minus $drop) plus $add.
update_gateway() {  # SPEC ADD DROP
  local spec=$1 add=$2 drop=$3 cfg pins=() p want=() changed=0
  cfg=$(config_of "$spec")
  [[ -f "$cfg" ]] || fail "gateway config $cfg not found"
  mapfile -t pins < <(read_pins "$cfg")
  # A dry run never wrote the next pin: retire as if distribute had.
  if ((dry_run)) && [[ -n "$drop" && " ${pins[*]} " != *" $(get new_pin) "* ]]; then
    pins+=("$(get new_pin)")
  fi
  for p in "${pins[@]}"; do
    if [[ -n "$drop" && "$p" == "$drop" ]]; then changed=1; continue; fi
    want+=("$p")
  done
  if [[ -n "$add" && " ${want[*]} " != *" $add "* ]]; then want+=("$add"); changed=1; fi
  if ((changed == 0)); then
    say "$stage" "$cfg already pins: ${want[*]}"
    return 0
  fi
  ((${#want[@]} > 0)) || fail "refusing to leave $cfg without any pin"
  say "$stage" "$cfg pins -> ${want[*]}"
  if ((dry_run)); then echo "  would rewrite $cfg and reload the gateway"; return 0; fi
  cp -p "$cfg" "$state_dir/$(basename "$cfg").before-$stage"
  write_pins "$cfg" "${want[@]}"
  if ! check_config "$cfg"; then
    cp -p "$state_dir/$(basename "$cfg").before-$stage" "$cfg"
    fail "restored $cfg"
  fi
  signal_hup "$(pid_spec_of "$spec")" "gateway $cfg"
}

served_pin() {  # HOST:PORT → the pin of the certificate served there ("" if none)
  local args=(-connect "$1" -servername "${1%:*}")
  [[ -n "$client_cert" ]] && args+=(-cert "$client_cert" -key "$client_key")
  openssl s_client "${args[@]}" </dev/null 2>/dev/null | openssl x509 -noout -pubkey 2>/dev/null |
    openssl pkey -pubin -outform DER 2>/dev/null | openssl dgst -sha256 -binary | openssl base64 -A |
    sed 's#^#sha256/#'
}

need_backend() { [[ -n "$backend" ]] || die "--backend CONFIG[@PID] is required for $stage"; }

# ---- stages --------------------------------------------------------------------------
stage_issue() {
  need_backend
  local cfg crt old_pin
  cfg=$(config_of "$backend")
  crt=$(tls_path "$cfg" cert)
  old_pin=$(get old_pin)
  [[ -n "$old_pin" ]] || old_pin=$(pin_of "$crt")
  if [[ -f "$next_crt" && -f "$next_key" ]] &&
     [[ "$(pin_of "$next_crt")" == "$(pin_of "$next_key")" ]] &&
     openssl x509 -in "$next_crt" -noout -checkend 86400 >/dev/null; then
    say issue "reusing the key issued before: $next_key"
  else
    [[ -n "$ca_cert" && -n "$ca_key" ]] || die "issue needs --pki DIR or --ca-cert/--ca-key"
    [[ -r "$ca_cert" && -r "$ca_key" ]] || fail "cannot read the CA ($ca_cert, $ca_key)"
    local subj sans tmp
    subj=$(openssl x509 -in "$crt" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
    sans=$(openssl x509 -in "$crt" -noout -ext subjectAltName 2>/dev/null | tail -n +2 |
           sed -e 's/IP Address:/IP:/g' -e 's/[[:space:]]//g')
    [[ -n "$sans" ]] || sans="DNS:localhost,IP:127.0.0.1"
    say issue "new P-256 key, subject '$subj', SANs $sans, $days days, CA $ca_cert"
    if ((dry_run)); then
      echo "  would write $next_key and $next_crt"
      put old_pin "$old_pin"; put new_pin "sha256/<next-pin>"; put done_issue 1
      return 0
    fi
    tmp=$(mktemp -d)
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/key" 2>/dev/null
    # RFC 2253 lists the most specific RDN first; -subj wants /O=../CN=.. order.
    openssl req -new -key "$tmp/key" -subj "/$(echo "$subj" | awk -F, '{for (i = NF; i > 0; i--) printf "%s%s", $i, (i > 1 ? "/" : "")}')" -out "$tmp/csr"
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
      "extendedKeyUsage=serverAuth" "subjectAltName=$sans" > "$tmp/ext"
    openssl x509 -req -in "$tmp/csr" -CA "$ca_cert" -CAkey "$ca_key" \
      -set_serial "0x$(openssl rand -hex 16)" -days "$days" -sha256 -extfile "$tmp/ext" \
      -out "$tmp/crt" 2>/dev/null || { rm -rf "$tmp"; fail "signing failed"; }
    chmod 0600 "$tmp/key"; chmod 0644 "$tmp/crt"
    mv -f "$tmp/key" "$next_key"; mv -f "$tmp/crt" "$next_crt"
    rm -rf "$tmp"
  fi
  local new_pin; new_pin=$(pin_of "$next_crt")
  put old_pin "$old_pin"
  put new_pin "$new_pin"
  say issue "current pin: $old_pin"
  say issue "next pin:    $new_pin"
  put done_issue 1
}

stage_distribute() {
  done_stage issue || fail "run the issue stage first"
  local g
  for g in "${gateways[@]}"; do update_gateway "$g" "$(get new_pin)" ""; done
  put done_distribute 1
}

stage_swap() {
  need_backend
  done_stage distribute || fail "run the distribute stage first (gateways must know the next pin)"
  local cfg crt key new_pin
  cfg=$(config_of "$backend"); crt=$(tls_path "$cfg" cert); key=$(tls_path "$cfg" key)
  new_pin=$(get new_pin)
  if [[ "$(pin_of "$crt" 2>/dev/null || true)" == "$new_pin" && "$(pin_of "$key" 2>/dev/null || true)" == "$new_pin" ]]; then
    say swap "$crt already holds the next certificate"
  else
    [[ -f "$next_crt" && -f "$next_key" ]] || ((dry_run)) || fail "the issued key is missing from $state_dir"
    say swap "$crt, $key <- next (old pair kept as .prev)"
    if ((dry_run)); then
      echo "  would rename the next pair over $crt and $key"
    else
      cp -p "$crt" "$crt.prev"; cp -p "$key" "$key.prev"
      # Each file lands by one rename; the key first, so a reload racing the swap sees
      # at worst new key + old cert, which the backend refuses (mismatch), keeping the
      # old context, and the SIGHUP below then succeeds.
      cp "$next_key" "$key.rotate.$$"; chmod 0600 "$key.rotate.$$"; mv -f "$key.rotate.$$" "$key"
      cp "$next_crt" "$crt.rotate.$$"; chmod 0644 "$crt.rotate.$$"; mv -f "$crt.rotate.$$" "$crt"
    fi
  fi
  signal_hup "$(pid_spec_of "$backend")" "backend $cfg"
  put done_swap 1
}

stage_verify() {
  done_stage swap || fail "run the swap stage first"
  [[ -n "$verify_at" ]] || die "verify needs --verify HOST:PORT"
  local want seen="" deadline=$((SECONDS + timeout))
  want=$(get new_pin)
  if ((dry_run)); then echo "  would check that $verify_at serves $want"; put done_verify 1; return 0; fi
  while ((SECONDS <= deadline)); do
    seen=$(served_pin "$verify_at")
    [[ "$seen" == "$want" ]] && break
    sleep 0.2  # polling a remote server against a deadline
  done
  [[ "$seen" == "$want" ]] || fail "$verify_at serves '${seen:-nothing}', expected $want (rollback: $0 --state $state_dir --backend ... rollback)"
  say verify "$verify_at serves $want"
  put done_verify 1
}

stage_retire() {
  done_stage verify || fail "run the verify stage first (never retire a pin before the new one is served)"
  local g
  for g in "${gateways[@]}"; do update_gateway "$g" "" "$(get old_pin)"; done
  put done_retire 1
  say retire "rotation complete; $state_dir/next.key is now the backend key (delete it)"
}

stage_rollback() {
  need_backend
  done_stage retire && fail "the old pin is retired already; rotate forward instead"
  local cfg crt key
  cfg=$(config_of "$backend"); crt=$(tls_path "$cfg" cert); key=$(tls_path "$cfg" key)
  [[ -f "$crt.prev" && -f "$key.prev" ]] || fail "no .prev pair next to $crt"
  say rollback "$crt, $key <- .prev"
  run mv -f "$crt.prev" "$crt"
  run mv -f "$key.prev" "$key"
  signal_hup "$(pid_spec_of "$backend")" "backend $cfg"
  put done_swap 0
  put done_verify 0
}

stage_status() {
  local s
  for s in issue distribute swap verify retire; do
    if done_stage $s; then echo "$s: done"; else echo "$s: pending"; fi
  done
  echo "old_pin: $(get old_pin)"
  echo "new_pin: $(get new_pin)"
}

case $stage in
  issue|distribute|swap|verify|retire|rollback|status) "stage_$stage" ;;
  all)
    for s in issue distribute swap verify retire; do
      if done_stage $s; then say $s "done before; skipped"; continue; fi
      stage=$s
      "stage_$s"
    done ;;
  *) die "unknown stage '$stage'" ;;
esac
