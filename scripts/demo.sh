#!/usr/bin/env bash
# `make demo`: the dev profile end to end on this machine. Creates a dev PKI, HMAC
# keys and an operator token in .dev/ (git-ignored), starts a backend and a gateway
# from configs/dev.yaml and configs/gateway-dev.yaml, enqueues `builtin.echo` through
# the operator API with curl, prints the command as it ends (state `succeeded`) and a
# few telemetry points, then stops both and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${1:-build}
BIN=$ROOT/$BUILD/bin/agenthost
DEV=$ROOT/.dev
AGENT=gw-dev-01

log() { printf '\033[1m[demo]\033[0m %s\n' "$*"; }
die() { printf '[demo] FAILED: %s\n' "$*" >&2; exit 1; }

[ -x "$BIN" ] || die "$BIN not built (run make build)"
mkdir -p "$DEV" && chmod 700 "$DEV"
rm -rf "$DEV/state"
mkdir -p "$DEV/keys" "$DEV/state/backend" "$DEV/state/gateway" "$DEV/configs"
chmod 700 "$DEV/keys" "$DEV/state" "$DEV/state/backend" "$DEV/state/gateway"

log "dev PKI (ECDSA P-256 CA, backend cert, client cert for $AGENT)"
./deploy/pki/dev-pki.sh "$DEV/pki" "$AGENT" >/dev/null

log "HMAC master key k1 and the gateway's derived key"
if [ ! -s "$DEV/keys/k1.key" ]; then
  (umask 077; openssl rand -base64 32 > "$DEV/keys/k1.key")
fi
(umask 077; "$BIN" keys derive --kid k1 --agent "$AGENT" --master "$DEV/keys/k1.key" \
  > "$DEV/keys/$AGENT.k1.key")

log "operator token"
if [ ! -s "$DEV/operator.token" ]; then
  (umask 077; openssl rand -hex 24 > "$DEV/operator.token")
fi
TOKEN=$(cat "$DEV/operator.token")
TOKEN_SHA=$(printf '%s' "$TOKEN" | sha256sum | cut -d' ' -f1)
PIN=$("$BIN" pin "$DEV/pki/backend.crt")
log "backend key pin: $PIN"

# The shipped configs point at ../.dev and ../build; render them with absolute paths,
# the real pin and the token hash, and ports chosen here.
render() {
  sed -e "s#\.\./\.dev#$DEV#g" -e "s#\.\./build/plugins#$ROOT/$BUILD/plugins#g" \
      -e "s#token_sha256: [0-9a-f]*#token_sha256: $TOKEN_SHA#" \
      -e "s#sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=#$PIN#" "$1" > "$2"
}
render configs/dev.yaml "$DEV/configs/dev.yaml"
render configs/gateway-dev.yaml "$DEV/configs/gateway-dev.yaml"
"$BIN" check-config -c "$DEV/configs/dev.yaml" >/dev/null || die "backend config invalid"
"$BIN" check-config -c "$DEV/configs/gateway-dev.yaml" >/dev/null || die "gateway config invalid"

BACKEND_PID=""; GATEWAY_PID=""
cleanup() {
  [ -n "$GATEWAY_PID" ] && kill -TERM "$GATEWAY_PID" 2>/dev/null && wait "$GATEWAY_PID" 2>/dev/null || true
  [ -n "$BACKEND_PID" ] && kill -TERM "$BACKEND_PID" 2>/dev/null && wait "$BACKEND_PID" 2>/dev/null || true
}
trap cleanup EXIT

log "starting backend (logs: .dev/backend.log)"
"$BIN" run -c "$DEV/configs/dev.yaml" > "$DEV/backend.log" 2>&1 &
BACKEND_PID=$!
ADMIN=https://127.0.0.1:8443
HEALTH=http://127.0.0.1:9090
for _ in $(seq 1 100); do
  curl -fsS "$HEALTH/readyz" >/dev/null 2>&1 && break
  kill -0 "$BACKEND_PID" 2>/dev/null || { cat "$DEV/backend.log"; die "backend exited"; }
  sleep 0.1
done
curl -fsS "$HEALTH/readyz" >/dev/null || die "backend not ready"

log "starting gateway $AGENT (logs: .dev/gateway.log)"
"$BIN" run -c "$DEV/configs/gateway-dev.yaml" > "$DEV/gateway.log" 2>&1 &
GATEWAY_PID=$!

api() { curl -fsS --cacert "$DEV/pki/ca.crt" -H "Authorization: Bearer $TOKEN" "$@"; }
for _ in $(seq 1 100); do
  state=$(api "$ADMIN/api/v1/agents/$AGENT" 2>/dev/null | python3 -c 'import sys,json; print(json.load(sys.stdin)["state"])' 2>/dev/null || true)
  [ "$state" = online ] && break
  kill -0 "$GATEWAY_PID" 2>/dev/null || { cat "$DEV/gateway.log"; die "gateway exited"; }
  sleep 0.1
done
[ "$state" = online ] || { tail -20 "$DEV/gateway.log"; die "agent never came online"; }
log "agent $AGENT is online:"
api "$ADMIN/api/v1/agents/$AGENT" | python3 -m json.tool

log "enqueue builtin.echo through the operator API"
CMD=$(api -X POST -H 'Content-Type: application/json' -H "Idempotency-Key: demo-$(date +%s%N)" \
  -d '{"name":"builtin.echo","args":{"text":"hello from the operator"},"timeout_s":30}' \
  "$ADMIN/api/v1/agents/$AGENT/commands")
echo "$CMD"
ID=$(echo "$CMD" | python3 -c 'import sys,json; print(json.load(sys.stdin)["command_id"])')
for _ in $(seq 1 100); do
  state=$(api "$ADMIN/api/v1/commands/$ID" | python3 -c 'import sys,json; print(json.load(sys.stdin)["state"])')
  case "$state" in succeeded|failed|rejected|timed_out|cancelled|dead_lettered) break ;; esac
  sleep 0.1
done
log "command $ID finished:"
api "$ADMIN/api/v1/commands/$ID" | python3 -m json.tool
[ "$state" = succeeded ] || die "command ended in state $state"

log "telemetry shipped by the gateway (newest 5 points):"
for _ in $(seq 1 100); do
  pts=$(api "$ADMIN/api/v1/agents/$AGENT/telemetry?limit=5")
  [ "$pts" != "[]" ] && break
  sleep 0.1
done
echo "$pts" | python3 -m json.tool

log "stopping gateway and backend (SIGTERM: graceful drain)"
kill -TERM "$GATEWAY_PID"; wait "$GATEWAY_PID" || die "gateway exit code $?"; GATEWAY_PID=""
kill -TERM "$BACKEND_PID"; wait "$BACKEND_PID" || die "backend exit code $?"; BACKEND_PID=""
log "audit trail: $(wc -l < "$DEV/state/backend/audit.log") records in .dev/state/backend/audit.log"
log "demo OK: command succeeded, telemetry stored, both roles stopped cleanly"
