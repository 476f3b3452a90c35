#!/usr/bin/env bash
# shellcheck disable=SC2317  # functions are called indirectly (wait_for, trap)
# Go/no-go check of a RUNNING agenthost deployment (issue 7 item 6): runs the seed's
# go/no-go criteria against the public entry points (typically nginx) and prints a
# GO/NO-GO table. Exit 0 only on GO; 1 on NO-GO; 2 on a usage error. Bounded: the
# whole run takes < 60 s; every temp file and child process is removed on exit.
#
#   production_validation.sh --agents-url wss://HOST:PORT/agent/v1 \
#       --api-url https://HOST:PORT --health-url http://HOST:PORT \
#       --ca CA.crt --cert AGENT.crt --key AGENT.key --hmac-key AGENT_KEY_FILE \
#       --token-file FILE [--kid k1] [--agent-id ID] [--pin sha256/...]... \
#       [[--audit-log FILE]... --audit-key FILE [--audit-checkpoints FILE] | --skip-audit] \
#       [--api-ca FILE] [--api-cert FILE --api-key FILE] [--agenthost BIN] \
#       [--plugin-dir DIR] [--max-rtt-ms 2000] [--keep-tmp]
#
#   --agents-url    agents entry point (wss://, the path is normally /agent/v1)
#   --api-url       operator API base URL (https://)
#   --health-url    health base URL (http://); /readyz must answer 200
#   --ca            CA that signed the backend certificate (the agents' trust anchor)
#   --cert, --key   client certificate + key of a DEDICATED validation agent (its
#                   agent id must not be used by a real gateway: check 4 starts a
#                   second session on purpose, and the run leaves it registered, offline)
#   --hmac-key      that agent's derived HMAC key (agenthost keys derive --kid K ...)
#   --kid           key id of --hmac-key (default k1)
#   --agent-id      default: the certificate's CN (else its urn:agenthost:agent: URI SAN)
#   --token-file    operator bearer token, one line (never passed on a command line)
#   --pin           backend SPKI pin(s) the validation gateway accepts (repeatable);
#                   default: the pin of the key the endpoint presents now (trust on
#                   first use; the chain is still verified against --ca)
#   --audit-log     audit file(s) to verify (repeatable; all files of the chain), with
#   --audit-key     the audit HMAC key; --audit-checkpoints adds the checkpoint file
#   --skip-audit    no audit files reachable from here: the audit row is SKIP (not
#                   NO-GO); verify the trail on the backend host instead
#   --api-ca        CA of the operator API certificate (default: --ca)
#   --api-cert/key  operator client certificate, when listen.admin requires one
#   --agenthost     the agenthost binary (default: agenthost in PATH, else
#                   /opt/agenthost/current/bin/agenthost); runs the validation gateways
#                   (`agenthost run`, gateway role) and `agenthost audit verify`
#   --plugin-dir    where the gateway plugins are (default: next to the binary:
#                   ../lib/agenthost/plugins, else ../plugins)
#   --max-rtt-ms    command round trip limit (default 2000)
#   --keep-tmp      keep the temp dir (gateway configs and logs) for debugging
#
# Checks (rows of the table, in this order):
#   upgrade_101         GET /agent/v1 with the client certificate and the PROTOCOL.md §1
#                       upgrade headers answers 101, selects agenthost.v1, and the
#                       Sec-WebSocket-Accept is correct
#   mtls                the handshake with the client certificate verifies (backend
#                       certificate against --ca) and one without a client certificate is
#                       refused at the TLS layer
#   registration        a real validation gateway (`agenthost run`, gateway role, temp
#                       config: the given cert/key/HMAC key/pins, exec_builtin,
#                       collect_sys every second) connects and the API lists it online
#   duplicate_rejected  a second gateway with the same agent id is closed with 4409
#                       while the first stays online (API state, first session unbroken)
#   command_round_trip  builtin.echo enqueued through the API reaches `succeeded` with
#                       the echoed text within --max-rtt-ms (measured: enqueue -> result
#                       seen by the API, polling included)
#   telemetry_flow      the API's telemetry query for the validation agent returns the
#                       gateway's sys.load1 points written during this run
#   health_ready        GET /readyz answers 200
#   audit_chain         `agenthost audit verify --key K [--checkpoints C] FILES...` exits 0
#                       (NO-GO without --audit-log unless --skip-audit: then SKIP)
# Needs: bash, curl, openssl, coreutils (timeout, date with %N).
set -uo pipefail
umask 077

prog=production_validation.sh
usage() { sed -n '3,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "$prog: $*" >&2; exit 2; }

agents_url="" api_url="" health_url="" ca="" cert="" key="" hmac_key="" kid="k1"
agent_id="" token_file="" api_ca="" api_cert="" api_key="" bin="" plugin_dir=""
audit_key="" audit_checkpoints="" skip_audit=0 max_rtt_ms=2000 keep_tmp=0
pins=() audit_logs=()

need_arg() { [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value"; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --agents-url) need_arg "$@"; agents_url=$2; shift 2 ;;
    --api-url) need_arg "$@"; api_url=${2%/}; shift 2 ;;
    --health-url) need_arg "$@"; health_url=${2%/}; shift 2 ;;
    --ca) need_arg "$@"; ca=$2; shift 2 ;;
    --cert) need_arg "$@"; cert=$2; shift 2 ;;
    --key) need_arg "$@"; key=$2; shift 2 ;;
    --hmac-key) need_arg "$@"; hmac_key=$2; shift 2 ;;
    --kid) need_arg "$@"; kid=$2; shift 2 ;;
    --agent-id) need_arg "$@"; agent_id=$2; shift 2 ;;
    --token-file) need_arg "$@"; token_file=$2; shift 2 ;;
    --pin) need_arg "$@"; pins+=("$2"); shift 2 ;;
    --audit-log) need_arg "$@"; audit_logs+=("$2"); shift 2 ;;
    --audit-key) need_arg "$@"; audit_key=$2; shift 2 ;;
    --audit-checkpoints) need_arg "$@"; audit_checkpoints=$2; shift 2 ;;
    --skip-audit) skip_audit=1; shift ;;
    --api-ca) need_arg "$@"; api_ca=$2; shift 2 ;;
    --api-cert) need_arg "$@"; api_cert=$2; shift 2 ;;
    --api-key) need_arg "$@"; api_key=$2; shift 2 ;;
    --agenthost) need_arg "$@"; bin=$2; shift 2 ;;
    --plugin-dir) need_arg "$@"; plugin_dir=$2; shift 2 ;;
    --max-rtt-ms) need_arg "$@"; max_rtt_ms=$2; shift 2 ;;
    --keep-tmp) keep_tmp=1; shift ;;
    -h|--help) usage ;;
    *) die "unknown argument '$1' (--help)" ;;
  esac
done

# --- validate the arguments: a usage error names what is wrong, exit 2 -------------
[[ $agents_url =~ ^wss://(\[[0-9a-fA-F:.]+\]|[^/:]+):([0-9]+)(/.*)$ ]] ||
  die "--agents-url must be wss://HOST:PORT/PATH (got '${agents_url}')"
agents_host=${BASH_REMATCH[1]} agents_port=${BASH_REMATCH[2]}
upgrade_url="https://${agents_url#wss://}"  # curl 7.88 has no wss:// scheme
[[ $api_url =~ ^https://[^/]+$ ]] || die "--api-url must be https://HOST:PORT (got '${api_url}')"
[[ $health_url =~ ^https?://[^/]+$ ]] ||
  die "--health-url must be http://HOST:PORT (got '${health_url}')"
for pair in "--ca:$ca" "--cert:$cert" "--key:$key" "--hmac-key:$hmac_key" \
            "--token-file:$token_file"; do
  [[ -n ${pair#*:} ]] || die "${pair%%:*} is required"
  [[ -r ${pair#*:} ]] || die "${pair%%:*}: cannot read '${pair#*:}'"
done
[[ $max_rtt_ms =~ ^[0-9]+$ && $max_rtt_ms -gt 0 ]] || die "--max-rtt-ms must be a positive integer"
[[ $kid =~ ^[A-Za-z0-9._-]+$ ]] || die "--kid: invalid key id '$kid'"
[[ -z $api_cert && -z $api_key || -n $api_cert && -n $api_key ]] ||
  die "--api-cert and --api-key go together"
if [[ ${#audit_logs[@]} -gt 0 ]]; then
  [[ $skip_audit -eq 0 ]] || die "--audit-log and --skip-audit exclude each other"
  [[ -n $audit_key ]] || die "--audit-log needs --audit-key (the chain must be keyed)"
  [[ -r $audit_key ]] || die "--audit-key: cannot read '$audit_key'"
fi
for p in "${pins[@]}"; do
  [[ $p =~ ^sha256/[A-Za-z0-9+/]{43}=$ ]] || die "--pin: '$p' is not sha256/<base64 of 32 bytes>"
done
token=$(head -n1 "$token_file" | tr -d '\r\n')
[[ -n $token ]] || die "--token-file '$token_file' is empty"
[[ -n $api_ca ]] || api_ca=$ca

if [[ -z $bin ]]; then
  bin=$(command -v agenthost || true)
  [[ -n $bin ]] || bin=/opt/agenthost/current/bin/agenthost
fi
[[ -x $bin ]] || die "agenthost binary not found or not executable: '$bin' (--agenthost)"
bin=$(readlink -f "$bin")
if [[ -z $plugin_dir ]]; then
  for d in "$(dirname "$bin")/../lib/agenthost/plugins" "$(dirname "$bin")/../plugins"; do
    if [[ -f $d/agenthost_exec_builtin.so ]]; then plugin_dir=$d; break; fi
  done
  [[ -n $plugin_dir ]] || die "gateway plugins not found next to $bin (--plugin-dir)"
fi
[[ -f $plugin_dir/agenthost_exec_builtin.so ]] ||
  die "--plugin-dir '$plugin_dir' has no agenthost_exec_builtin.so"
plugin_dir=$(readlink -f "$plugin_dir")

if [[ -z $agent_id ]]; then
  subject=$(openssl x509 -in "$cert" -noout -subject -nameopt RFC2253 2>/dev/null) ||
    die "--cert '$cert' is not a PEM certificate"
  agent_id=$(printf '%s\n' "${subject#subject=}" | tr ',' '\n' | sed -n 's/^CN=//p' | head -n1)
  if [[ ! $agent_id =~ ^[a-z0-9][a-z0-9._-]{0,62}$ ]]; then
    agent_id=$(openssl x509 -in "$cert" -noout -ext subjectAltName 2>/dev/null |
      grep -o 'urn:agenthost:agent:[a-z0-9._-]*' | head -n1 | sed 's/^urn:agenthost:agent://')
  fi
fi
[[ $agent_id =~ ^[a-z0-9][a-z0-9._-]{0,62}$ ]] || die "no valid agent id in --cert (--agent-id)"

# --- temp dir, children, cleanup -------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/agenthost-validation-XXXXXX") || die "mktemp failed"
gw1_pid="" gw2_pid="" curl_pid="" pending_command=""
stop_pid() {  # PID: SIGTERM (a gateway closes its session cleanly), SIGKILL after 3 s
  local pid=$1 i
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 60; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}
cleanup() {
  trap - EXIT INT TERM HUP
  [[ -n $curl_pid ]] && kill -KILL "$curl_pid" 2>/dev/null && wait "$curl_pid" 2>/dev/null
  stop_pid "$gw2_pid"
  stop_pid "$gw1_pid"
  if [[ -n $pending_command ]]; then  # never leave our command queued for a later run
    curl -sS --max-time 3 -o /dev/null "${api_tls[@]}" -H @"$tmp/auth" -X POST \
      "$api_url/api/v1/commands/$pending_command/cancel" 2>/dev/null
  fi
  if [[ $keep_tmp -eq 1 ]]; then
    echo "$prog: kept $tmp" >&2
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
trap 'echo "$prog: interrupted" >&2; exit 130' INT
trap 'echo "$prog: terminated" >&2; exit 143' TERM
trap 'exit 129' HUP

printf 'Authorization: Bearer %s\n' "$token" > "$tmp/auth"
api_tls=(--cacert "$api_ca")
[[ -n $api_cert ]] && api_tls+=(--cert "$api_cert" --key "$api_key")

# --- time budget -----------------------------------------------------------------
now_ms() { echo $(($(date +%s%N) / 1000000)); }
start_ms=$(now_ms)
budget_ms=52000  # leaves room for the cleanup under the 60 s bound
remaining_ms() { echo $((start_ms + budget_ms - $(now_ms))); }
# cap SECONDS: SECONDS, or less when the budget is running out (at least 1), for
# --max-time and timeout(1): no single step can carry the run past the bound.
cap() {
  local left=$(($(remaining_ms) / 1000))
  ((left < 1)) && left=1
  ((left < $1)) && echo "$left" || echo "$1"
}
# wait_for MAX_MS CMD...: polls CMD every 50 ms until it succeeds, MAX_MS or the
# run's budget passes; returns CMD's last status.
wait_for() {
  local max=$1 until; shift
  local left; left=$(remaining_ms)
  ((max > left)) && max=$left
  until=$(($(now_ms) + max))
  while true; do
    "$@" && return 0
    (($(now_ms) >= until)) && return 1
    sleep 0.05
  done
}

# --- results ---------------------------------------------------------------------
declare -A result detail
rows=(upgrade_101 mtls registration duplicate_rejected command_round_trip telemetry_flow
      health_ready audit_chain)
set_row() { result[$1]=$2; detail[$1]=$3; }

# api METHOD PATH [JSON]: sets api_code and api_body.
api() {
  local args=(-sS --max-time "$(cap 5)" -o "$tmp/api.out" -w '%{http_code}' "${api_tls[@]}"
              -H @"$tmp/auth" -X "$1")
  [[ $# -ge 3 ]] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
  : > "$tmp/api.out"
  api_code=$(curl "${args[@]}" "$api_url$2" 2>"$tmp/api.err") || true
  api_body=$(cat "$tmp/api.out")
}
json_str() {  # FIELD: the first "FIELD":"value" of $api_body (compact JSON)
  printf '%s' "$api_body" | grep -o "\"$1\":\"[^\"]*\"" | head -n1 | sed 's/^"[^"]*":"//; s/"$//'
}
# fetch_agent: GET the validation agent; sets agent_st (online/offline/revoked, "" when
# unknown or on error) and agent_host. Runs in this shell (no $(...)): api_* stay set.
fetch_agent() {
  api GET "/api/v1/agents/$agent_id"
  agent_st="" agent_host=""
  if [[ $api_code == 200 ]]; then
    agent_st=$(json_str state)
    agent_host=$(json_str host_id)
  fi
}
agent_online() { fetch_agent; [[ $agent_st == online ]]; }
curl_error() { sed -n 's/^curl: //p' "$1" | head -n1; }

# --- 7. health ready -------------------------------------------------------------
code=$(curl -sS --max-time "$(cap 5)" -o "$tmp/readyz" -w '%{http_code}' \
       "$health_url/readyz" 2>"$tmp/readyz.err")
body=$(sed 's/<[^>]*>/ /g' "$tmp/readyz" | tr -s ' \n' ' ' | cut -c1-160)
if [[ $code == 200 ]]; then
  set_row health_ready GO "/readyz 200 $body"
else
  set_row health_ready NO-GO "/readyz ${code:-000} ${body:-$(curl_error "$tmp/readyz.err")}"
fi

# --- 1. upgrade 101 (and the handshake with a client certificate, for row 2) ------
ws_key=$(openssl rand -base64 16)
ws_accept=$(printf '%s' "${ws_key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11" |
  openssl dgst -sha1 -binary | openssl base64 -A)
upgrade_headers=(-H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13'
                 -H "Sec-WebSocket-Key: $ws_key" -H 'Sec-WebSocket-Protocol: agenthost.v1')
# curl keeps a 101 connection open until --max-time: it runs in the background and is
# stopped as soon as the response head is complete.
curl -sS --http1.1 --max-time "$(cap 8)" -o /dev/null -D "$tmp/upgrade.head" \
  -w '%{http_code} %{ssl_verify_result}' --cacert "$ca" --cert "$cert" --key "$key" \
  "${upgrade_headers[@]}" "$upgrade_url" > "$tmp/upgrade.w" 2> "$tmp/upgrade.err" &
curl_pid=$!
head_done() {  # curl ended, or the head's closing empty line arrived
  ! kill -0 "$curl_pid" 2>/dev/null || grep -q $'^\r$' "$tmp/upgrade.head" 2>/dev/null
}
wait_for 8000 head_done
kill -KILL "$curl_pid" 2>/dev/null
wait "$curl_pid" 2>/dev/null
curl_pid=""
status_line=$(head -n1 "$tmp/upgrade.head" 2>/dev/null | tr -d '\r')
header() { grep -i "^$1:" "$tmp/upgrade.head" | head -n1 | sed 's/^[^:]*: *//' | tr -d '\r'; }
if [[ $status_line =~ ^HTTP/1\.1\ 101 ]]; then
  if [[ $(header Sec-WebSocket-Protocol) != agenthost.v1 ]]; then
    set_row upgrade_101 NO-GO "101 without Sec-WebSocket-Protocol: agenthost.v1"
  elif [[ $(header Sec-WebSocket-Accept) != "$ws_accept" ]]; then
    set_row upgrade_101 NO-GO "101 with a wrong Sec-WebSocket-Accept"
  else
    set_row upgrade_101 GO "101 Switching Protocols, subprotocol agenthost.v1, accept ok"
  fi
elif [[ -n $status_line ]]; then
  set_row upgrade_101 NO-GO "got '$status_line'"
else
  set_row upgrade_101 NO-GO "no HTTP answer: $(curl_error "$tmp/upgrade.err")"
fi

# --- 2. mTLS: confirmed with the certificate, refused without one ----------------
tls_with=""
if [[ -n $status_line ]]; then
  # An HTTP answer over TLS proves the handshake with our certificate completed;
  # s_client reports what was negotiated and that the backend chain verifies.
  timeout "$(cap 5)" openssl s_client -connect "$agents_host:$agents_port" \
    -CAfile "$ca" -cert "$cert" -key "$key" -verify_return_error -brief \
    < /dev/null > "$tmp/s_client" 2>&1
  proto=$(sed -n 's/^Protocol version: //p' "$tmp/s_client" | head -n1)
  cipher=$(sed -n 's/^Ciphersuite: //p' "$tmp/s_client" | head -n1)
  verify=$(sed -n 's/^Verification: //p' "$tmp/s_client" | head -n1)
  tls_with="with cert: ${proto:-TLS} ${cipher:-?}, server verified ${verify:-by curl}"
fi
curl -sS --http1.1 --max-time "$(cap 5)" -o /dev/null -w '%{http_code}' --cacert "$ca" \
  "${upgrade_headers[@]}" "$upgrade_url" > "$tmp/nocert.w" 2> "$tmp/nocert.err"
nocert_rc=$?
nocert_code=$(cat "$tmp/nocert.w")
nocert_err=$(curl_error "$tmp/nocert.err")
# 35: handshake failed (TLS 1.2), 56: alert after the handshake (TLS 1.3 sends its
# "certificate required" alert at the first read). Not 7 (no connection) or 28 (timeout):
# those prove nothing about client authentication.
if [[ -z $tls_with ]]; then
  set_row mtls NO-GO "no handshake with the client certificate"
elif [[ $nocert_code != 000 ]]; then
  set_row mtls NO-GO "$tls_with; WITHOUT a client certificate: HTTP $nocert_code (not refused)"
elif [[ $nocert_rc -eq 35 || $nocert_rc -eq 56 ]]; then
  why=$(printf '%s' "$nocert_err" | grep -o -i -E 'alert [a-z ]+|handshake failure' | head -n1)
  set_row mtls GO "$tls_with; without cert: refused (${why:-curl exit $nocert_rc})"
else
  set_row mtls NO-GO \
    "$tls_with; without cert: curl exit $nocert_rc ($nocert_err), not a TLS refusal"
fi

# --- validation gateway config ----------------------------------------------------
if [[ ${#pins[@]} -eq 0 ]]; then
  pin=$(timeout "$(cap 5)" openssl s_client -connect "$agents_host:$agents_port" \
          < /dev/null 2>/dev/null |
        openssl x509 -pubkey -noout 2>/dev/null | openssl pkey -pubin -outform DER 2>/dev/null |
        openssl dgst -sha256 -binary | openssl base64 -A)
  [[ -n $pin && $pin != "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" ]] && pins=("sha256/$pin")
fi
# yq VALUE: a double-quoted YAML scalar (paths may hold spaces, colons or quotes).
yq() { local v=${1//\\/\\\\}; printf '"%s"' "${v//\"/\\\"}"; }
abs() { yq "$(readlink -f "$1")"; }
write_gateway_config() {  # NAME: $tmp/NAME.yaml, state in $tmp/NAME
  local name=$1 pin_list="" p
  mkdir -p "$tmp/$name"
  for p in "${pins[@]}"; do pin_list+="${pin_list:+, }\"$p\""; done
  cat > "$tmp/$name.yaml" <<EOF
# production_validation.sh: temporary validation gateway ($name)
role: gateway
host_id: $name
state_dir: $(yq "$tmp/$name")
log: { level: info, format: json }
threads: { loop: 1, blocking: 2 }
gateway:
  agent_id: $agent_id
  url: $(yq "$agents_url")
  ca: $(abs "$ca")
  cert: $(abs "$cert")
  key: $(abs "$key")
  pins: [ $pin_list ]
  kid: $kid
  key_file: $(abs "$hmac_key")
  health: { address: 127.0.0.1, port: 0 }
  reconnect: { initial_ms: 200, max_ms: 1000 }
plugin_paths: [ $(yq "$plugin_dir") ]
plugins:
  audit_file: { enabled: true, config: { path: $(yq "$tmp/$name/audit.log") } }
  replay_memory: { enabled: true, config: { capacity: 10000 } }
  exec_builtin: { enabled: true, config: {} }
  collect_sys: { enabled: true, config: { interval_s: 1, paths: [ "/" ] } }
EOF
}
start_gateway() {  # NAME: sets started_pid; a child of this shell (no $(...)), so
  # it can be waited for and never lingers as a zombie
  "$bin" run -c "$tmp/$1.yaml" > "$tmp/$1.log" 2>&1 &
  started_pid=$!
}
log_tail() {  # FILE: the gateway's last warning ("msg: reason"), for the table
  local line msg reason
  line=$(grep -E '"level":"(warn|error|critical)"' "$1" 2>/dev/null |
         grep -v '"component":"plugin:audit_file"' | tail -n1)
  [[ -n $line ]] || return 0
  msg=$(printf '%s' "$line" | grep -o '"msg":"[^"]*"' | sed 's/^"msg":"//; s/"$//')
  reason=$(printf '%s' "$line" | grep -o -E '"(reason|message|error)":"[^"]*"' | head -n1 |
           sed 's/^"[a-z]*":"//; s/"$//')
  printf '%s%s' "$msg" "${reason:+: $reason}" | cut -c1-220
}

# --- 3. registration ---------------------------------------------------------------
telemetry_since=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
fetch_agent
registered=0
if [[ $agent_st == online ]]; then
  set_row registration NO-GO "agent $agent_id is already online: use a dedicated validation agent"
elif [[ $agent_st == revoked ]]; then
  set_row registration NO-GO "agent $agent_id is revoked"
elif [[ ${#pins[@]} -eq 0 ]]; then
  set_row registration NO-GO \
    "no backend pin (--pin) and none could be read from $agents_host:$agents_port"
elif [[ $api_code != 200 && $api_code != 404 ]]; then
  set_row registration NO-GO "operator API: GET /api/v1/agents/$agent_id -> HTTP \
${api_code:-000} $(json_str message)$(curl_error "$tmp/api.err")"
elif ! write_gateway_config gw1 ||
     ! "$bin" check-config -c "$tmp/gw1.yaml" > "$tmp/check.out" 2>&1; then
  set_row registration NO-GO "validation gateway config refused: $(tail -n1 "$tmp/check.out")"
else
  t0=$(now_ms)
  start_gateway gw1
  gw1_pid=$started_pid
  gw1_alive() { kill -0 "$gw1_pid" 2>/dev/null; }
  online_or_dead() { ! gw1_alive || agent_online; }
  wait_for 15000 online_or_dead
  if ! gw1_alive; then
    set_row registration NO-GO \
      "validation gateway exited: $(tail -n3 "$tmp/gw1.log" | tr '\n' ' ' | cut -c1-200)"
  elif agent_online; then
    registered=1
    set_row registration GO \
      "$agent_id online via host ${agent_host:-?} after $(($(now_ms) - t0)) ms"
  else
    set_row registration NO-GO "$agent_id not online after 15 s (state '${agent_st:-?}', \
HTTP ${api_code:-000}): $(log_tail "$tmp/gw1.log")"
  fi
fi

# --- 5. command round trip --------------------------------------------------------
terminal() { [[ $1 =~ ^(succeeded|failed|rejected|timed_out|cancelled|dead_lettered)$ ]]; }
if [[ $registered -ne 1 ]]; then
  set_row command_round_trip NO-GO "not run: registration failed"
else
  text="production-validation-$(openssl rand -hex 6)"
  t0=$(now_ms)
  api POST "/api/v1/agents/$agent_id/commands" \
    "{\"name\":\"builtin.echo\",\"args\":{\"text\":\"$text\"},\"timeout_s\":30}"
  command_id=$(json_str command_id)
  if [[ $api_code != 202 || -z $command_id ]]; then
    set_row command_round_trip NO-GO \
      "enqueue -> HTTP ${api_code:-000} $(json_str message)$(curl_error "$tmp/api.err")"
  else
    pending_command=$command_id
    state=""
    command_done() {
      api GET "/api/v1/commands/$command_id"
      state=$(json_str state)
      terminal "$state"
    }
    wait_for 10000 command_done
    rtt=$(($(now_ms) - t0))
    terminal "$state" && pending_command=""
    # The backend's own view (created_at -> updated_at) excludes this host's curl and
    # polling overhead; the criterion is the observed time, the stricter of the two.
    server=""
    created=$(date -d "$(json_str created_at)" +%s%3N 2>/dev/null) &&
      updated=$(date -d "$(json_str updated_at)" +%s%3N 2>/dev/null) &&
      server=", backend $((updated - created)) ms created->succeeded"
    if [[ $state == succeeded && $api_body == *"$text"* ]]; then
      if ((rtt < max_rtt_ms)); then
        set_row command_round_trip GO \
          "builtin.echo succeeded in $rtt ms observed (limit $max_rtt_ms ms$server)"
      else
        set_row command_round_trip NO-GO \
          "builtin.echo took $rtt ms observed: over the $max_rtt_ms ms limit$server"
      fi
    elif [[ $state == succeeded ]]; then
      set_row command_round_trip NO-GO "succeeded in $rtt ms but the output lacks the echoed text"
    else
      set_row command_round_trip NO-GO "command $command_id state '${state:-?}' after $rtt ms"
    fi
  fi
fi

# --- 6. telemetry flow ------------------------------------------------------------
if [[ $registered -ne 1 ]]; then
  set_row telemetry_flow NO-GO "not run: registration failed"
else
  points=0
  telemetry_seen() {
    api GET "/api/v1/agents/$agent_id/telemetry?metric=sys.load1&since=$telemetry_since&limit=100"
    [[ $api_code == 200 ]] || return 1
    points=$(printf '%s' "$api_body" | grep -o '"metric":"sys.load1"' | wc -l)
    ((points > 0))
  }
  t0=$(now_ms)
  if wait_for 15000 telemetry_seen; then
    set_row telemetry_flow GO "$points sys.load1 point(s) stored and queried \
(+$(($(now_ms) - t0)) ms after the round trip)"
  else
    set_row telemetry_flow NO-GO \
      "no sys.load1 point since $telemetry_since (HTTP ${api_code:-000} $(json_str message))"
  fi
fi

# --- 4. duplicate rejected ---------------------------------------------------------
if [[ $registered -ne 1 ]]; then
  set_row duplicate_rejected NO-GO "not run: registration failed"
else
  fetch_agent
  host_before=$agent_host
  ended_before=$(grep -c '"backend session ended"' "$tmp/gw1.log")
  write_gateway_config gw2
  t0=$(now_ms)
  start_gateway gw2
  gw2_pid=$started_pid
  saw_4409() { grep '"backend session ended"' "$tmp/gw2.log" | grep -q '"code":"4409"'; }
  dup_done() {  # 4409 seen, the duplicate exited, or (wrongly) it was welcomed
    saw_4409 || ! kill -0 "$gw2_pid" 2>/dev/null || grep -q '"welcomed by backend"' "$tmp/gw2.log"
  }
  wait_for 10000 dup_done
  dup_ms=$(($(now_ms) - t0))
  stop_pid "$gw2_pid"
  gw2_pid=""
  ended_after=$(grep -c '"backend session ended"' "$tmp/gw1.log")
  fetch_agent
  state_after=$agent_st host_after=$agent_host
  if ! saw_4409; then
    set_row duplicate_rejected NO-GO \
      "second session not closed with 4409 within $dup_ms ms: $(log_tail "$tmp/gw2.log")"
  elif [[ $state_after != online ]]; then
    set_row duplicate_rejected NO-GO \
      "duplicate got 4409 but the first session is now '$state_after'"
  elif ((ended_after != ended_before)) || ! kill -0 "$gw1_pid" 2>/dev/null; then
    set_row duplicate_rejected NO-GO "duplicate got 4409 but the first gateway lost its session"
  else
    set_row duplicate_rejected GO "second session closed 4409 after $dup_ms ms; \
first stays online (host ${host_after:-$host_before})"
  fi
fi

# --- 8. audit chain ---------------------------------------------------------------
if [[ ${#audit_logs[@]} -gt 0 ]]; then
  args=(audit verify --key "$audit_key")
  [[ -n $audit_checkpoints ]] && args+=(--checkpoints "$audit_checkpoints")
  timeout "$(cap 15)" "$bin" "${args[@]}" "${audit_logs[@]}" > "$tmp/audit.out" 2>&1
  rc=$?
  line=$(grep -E '^(OK|FAILED)' "$tmp/audit.out" | head -n1)
  if [[ $rc -eq 0 ]]; then
    set_row audit_chain GO "${line:-verified}"
  else
    set_row audit_chain NO-GO "verify exit $rc: ${line:-$(head -n1 "$tmp/audit.out")}"
  fi
elif [[ $skip_audit -eq 1 ]]; then
  set_row audit_chain SKIP \
    "--skip-audit: verify the trail on the backend host (agenthost audit verify)"
else
  set_row audit_chain NO-GO \
    "no --audit-log given (pass the audit files and --audit-key, or --skip-audit)"
fi

# --- table -----------------------------------------------------------------------
verdict=GO
failed=()
printf '%-20s %-6s %s\n' CHECK RESULT DETAIL
for r in "${rows[@]}"; do
  res=${result[$r]:-NO-GO}
  printf '%-20s %-6s %s\n' "$r" "$res" "${detail[$r]:-not run}"
  if [[ $res == NO-GO ]]; then
    verdict=NO-GO
    failed+=("$r")
  fi
done
elapsed=$(($(now_ms) - start_ms))
if [[ $verdict == GO ]]; then
  printf 'VERDICT: GO (%d checks, %d ms)\n' "${#rows[@]}" "$elapsed"
  exit 0
fi
printf 'VERDICT: NO-GO (failed: %s; %d ms)\n' "${failed[*]}" "$elapsed"
exit 1
