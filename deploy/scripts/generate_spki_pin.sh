#!/usr/bin/env bash
# Prints the SPKI pin of a certificate, public key or unencrypted private key, exactly
# as `agenthost pin FILE` does: "sha256/" + base64(SHA-256(DER SubjectPublicKeyInfo)).
# Needs only openssl, so a pin can be computed where agenthost is not installed (a CA
# host, a build machine). Several files: one pin per line, in order.
#
#   generate_spki_pin.sh FILE...        exit 0; 1 when a file is unreadable or not a key
set -euo pipefail

[[ $# -ge 1 && $1 != -h && $1 != --help ]] || { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

pin_of() {
  local file=$1 der
  [[ -r "$file" ]] || { echo "generate_spki_pin.sh: cannot read '$file'" >&2; return 1; }
  if grep -q -- '-----BEGIN CERTIFICATE-----' "$file"; then
    # The first certificate of the file (the leaf of a chain), as agenthost pin does.
    der=$(openssl x509 -in "$file" -noout -pubkey 2>/dev/null | openssl pkey -pubin -outform DER 2>/dev/null | openssl base64 -A) || der=""
  elif grep -q -- '-----BEGIN PUBLIC KEY-----' "$file"; then
    der=$(openssl pkey -pubin -in "$file" -outform DER 2>/dev/null | openssl base64 -A) || der=""
  elif grep -q -E -- '-----BEGIN (EC |RSA )?PRIVATE KEY-----' "$file"; then
    der=$(openssl pkey -in "$file" -pubout -outform DER 2>/dev/null | openssl base64 -A) || der=""
  else
    der=""
  fi
  [[ -n "$der" ]] || { echo "generate_spki_pin.sh: '$file' holds no certificate or key openssl can read" >&2; return 1; }
  printf 'sha256/%s\n' "$(printf '%s' "$der" | openssl base64 -d -A | openssl dgst -sha256 -binary | openssl base64 -A)"
}

rc=0
for f in "$@"; do
  pin_of "$f" || rc=1
done
exit $rc
