#!/bin/sh
# Renders deploy/nginx/nginx.conf (a template, see deploy/nginx/README.md) from the
# environment and runs nginx in the foreground. Used by the compose `nginx` service.
#   BACKENDS="backend1 backend2"  AGENT_PORT=8444 API_PORT=8443 HEALTH_PORT=9090
#   BACKEND_AGENT_PORT=8444 BACKEND_API_PORT=8443 BACKEND_HEALTH_PORT=9090
set -eu
template=${NGINX_TEMPLATE:-/etc/agenthost/nginx.conf.template}
prefix=${NGINX_PREFIX:-/var/lib/nginx}
mkdir -p "$prefix/tmp"
agents="" api="" health=""
for b in $BACKENDS; do
  agents="$agents        server $b:$BACKEND_AGENT_PORT max_fails=2 fail_timeout=5s;\n"
  api="$api        server $b:$BACKEND_API_PORT max_fails=2 fail_timeout=5s;\n"
  health="$health        server $b:$BACKEND_HEALTH_PORT max_fails=2 fail_timeout=5s;\n"
done
sed -e "s#@NGINX_USER@#www-data#" -e "s#@WORKER_PROCESSES@#auto#" \
    -e "s#@PREFIX@#$prefix#g" -e "s#@LISTEN_ADDRESS@#0.0.0.0#g" \
    -e "s#@AGENT_PORT@#$AGENT_PORT#g" -e "s#@API_PORT@#$API_PORT#g" \
    -e "s#@HEALTH_PORT@#$HEALTH_PORT#g" \
    -e "s#@AGENT_UPSTREAMS@#$agents#" -e "s#@API_UPSTREAMS@#$api#" \
    -e "s#@HEALTH_UPSTREAMS@#$health#" "$template" >/etc/nginx/nginx.conf
nginx -t -c /etc/nginx/nginx.conf
exec nginx -c /etc/nginx/nginx.conf -g 'daemon off;'
