#!/usr/bin/env bash
# Development PKI for agenthost (PROTOCOL.md §1): an ECDSA P-256 CA, the backend's
# server certificate and one client certificate per agent id. For development and
# tests only: production keys come from your real CA (docs/certificates.md).
#
#   dev-pki.sh OUTDIR [AGENT_ID...]      create what is missing; existing files are kept
#   dev-pki.sh --expired OUTDIR NAME     agents/NAME-expired.{crt,key}: valid 2020-01-01..02
#   dev-pki.sh --unchecked OUTDIR NAME   agents/NAME.{crt,key} without the agent_id check
#                                        (tests: a CN the backend must refuse with 403)
#
# Layout: OUTDIR/ca.{crt,key}  OUTDIR/backend.{crt,key}  OUTDIR/agents/<id>.{crt,key}
# Directories are 0700, keys 0600. Backend SANs: DNS:localhost, IP:127.0.0.1 (add more
# with BACKEND_SANS="DNS:a.example,IP:10.0.0.5"). Pin of the backend key:
#   agenthost pin OUTDIR/backend.crt
set -euo pipefail
umask 077

die() { echo "dev-pki.sh: $*" >&2; exit 2; }
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

valid_id() { [[ "$1" =~ ^[a-z0-9][a-z0-9._-]{0,62}$ ]]; }

new_key() {  # FILE: an unencrypted P-256 key, kept if it exists
  [[ -f "$1" ]] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
  chmod 0600 "$1"
}

ensure_ca() {
  new_key "$out/ca.key"
  if [[ ! -f "$out/ca.crt" ]]; then
    openssl req -x509 -new -key "$out/ca.key" -sha256 -days 3650 \
      -subj "/O=agenthost dev/CN=agenthost dev CA" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -addext "subjectKeyIdentifier=hash" -out "$out/ca.crt"
    chmod 0644 "$out/ca.crt"
  fi
}

# sign CSR_SUBJECT KEY CRT EXTENSIONS... : a leaf signed by the dev CA (825 days).
sign() {
  local subj=$1 key=$2 crt=$3; shift 3
  [[ -f "$crt" ]] && return 0
  new_key "$key"
  local tmp; tmp=$(mktemp -d)
  printf '%s\n' "$@" > "$tmp/ext"
  openssl req -new -key "$key" -subj "$subj" -out "$tmp/csr"
  openssl x509 -req -in "$tmp/csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 825 -sha256 \
    -extfile "$tmp/ext" -out "$crt" 2>/dev/null
  chmod 0644 "$crt"
  rm -rf "$tmp"
}

agent_ext() {
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=clientAuth" "subjectAltName=URI:urn:agenthost:agent:$1"
}

issue_agent() {  # ID
  local IFS=$'\n'
  # shellcheck disable=SC2046
  sign "/CN=$1" "$out/agents/$1.key" "$out/agents/$1.crt" $(agent_ext "$1")
}

issue_expired() {  # NAME: validity in the past, via `openssl ca` (x509 -req cannot backdate)
  local name=$1 tmp; tmp=$(mktemp -d)
  local key="$out/agents/$name-expired.key" crt="$out/agents/$name-expired.crt"
  [[ -f "$crt" ]] && { rm -rf "$tmp"; return 0; }
  new_key "$key"
  : > "$tmp/index.txt"
  openssl rand -hex 16 > "$tmp/serial"
  cat > "$tmp/ca.cnf" <<CNF
[ ca ]
default_ca = dev
[ dev ]
database = $tmp/index.txt
new_certs_dir = $tmp
certificate = $out/ca.crt
private_key = $out/ca.key
serial = $tmp/serial
default_md = sha256
policy = any
unique_subject = no
[ any ]
commonName = supplied
CNF
  agent_ext "$name" > "$tmp/ext"
  openssl req -new -key "$key" -subj "/CN=$name" -out "$tmp/csr"
  openssl ca -batch -config "$tmp/ca.cnf" -in "$tmp/csr" -out "$crt" -notext \
    -startdate 20200101000000Z -enddate 20200102000000Z -extfile "$tmp/ext" 2>/dev/null
  chmod 0644 "$crt"
  rm -rf "$tmp"
}

mode=normal
case "${1:-}" in
  --expired) mode=expired; shift ;;
  --unchecked) mode=unchecked; shift ;;
  -h|--help|"") usage ;;
esac
[[ $# -ge 1 ]] || usage
out=$1; shift
mkdir -p "$out/agents"
chmod 0700 "$out" "$out/agents"
out=$(cd "$out" && pwd)
ensure_ca

case $mode in
  expired)
    [[ $# -eq 1 ]] || usage
    issue_expired "$1" ;;
  unchecked)
    [[ $# -eq 1 && "$1" =~ ^[A-Za-z0-9._!@\ -]{1,64}$ ]] || die "unchecked NAME must be 1-64 plain characters"
    issue_agent "$1" ;;
  normal)
    sans=${BACKEND_SANS:-DNS:localhost,IP:127.0.0.1}
    sign "/CN=localhost" "$out/backend.key" "$out/backend.crt" \
      "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
      "extendedKeyUsage=serverAuth" "subjectAltName=$sans"
    for id in "$@"; do
      valid_id "$id" || die "invalid agent id '$id' (must match ^[a-z0-9][a-z0-9._-]{0,62}\$)"
      issue_agent "$id"
    done ;;
esac
