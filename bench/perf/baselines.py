"""Same-run baselines: Debian's nginx holding / handshaking mutual TLS with the same
certificates, and a Node.js `ws` echo server (plain WebSocket)."""
import os
import shutil
import subprocess

from .common import Proc, free_port, wait_until, sh, children

NODE_WS_VERSION = "8"


class Nginx:
    """nginx (http module, TLS 1.3 only, ssl_verify_client on, no session reuse) on a
    free loopback port, with every path under a private directory."""

    def __init__(self, ws, workers=1, connections=20000):
        self.ws = ws
        self.dir = ws.path(f"nginx-{workers}")
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        self.port = free_port()
        d = self.dir
        conf = f"""
worker_processes {workers};
worker_rlimit_nofile {connections * 2 + 1000};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections {connections + 1000}; multi_accept on; }}
http {{
  access_log off;
  client_body_temp_path {d}/tmp/body;
  proxy_temp_path {d}/tmp/proxy;
  fastcgi_temp_path {d}/tmp/fastcgi;
  uwsgi_temp_path {d}/tmp/uwsgi;
  scgi_temp_path {d}/tmp/scgi;
  client_header_timeout 600s;
  keepalive_timeout 600s;
  server {{
    listen 127.0.0.1:{self.port} ssl backlog=4096;
    ssl_certificate {ws.pki('backend.crt')};
    ssl_certificate_key {ws.pki('backend.key')};
    ssl_client_certificate {ws.pki('ca.crt')};
    ssl_verify_client on;
    ssl_protocols TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;
    location / {{ return 404; }}
  }}
}}
"""
        self.conf = os.path.join(d, "nginx.conf")
        open(self.conf, "w").write(conf)
        self.proc = None

    def start(self):
        self.proc = Proc(["nginx", "-p", self.dir, "-c", self.conf, "-g", "daemon off;"],
                         os.path.join(self.dir, "stdout.log"))
        import socket

        def listening():
            if not self.proc.alive():
                raise RuntimeError("nginx exited:\n" + self.proc.tail() +
                                   open(os.path.join(self.dir, "error.log")).read())
            s = socket.socket()
            try:
                s.connect(("127.0.0.1", self.port))
                return True
            except OSError:
                return False
            finally:
                s.close()
        wait_until(listening, 30, what="nginx listening")
        return self

    def pids(self):
        """The master and its workers (RSS and CPU are summed over all of them)."""
        return [self.proc.pid] + children(self.proc.pid)

    def stop(self):
        if self.proc:
            self.proc.close()


def node_ws_dir(build):
    return os.path.join(os.path.abspath(build), "bench-node")


def ensure_node_ws(build):
    """Installs the `ws` package into <build>/bench-node once (npm registry). Returns
    (node_modules dir, version) or (None, reason)."""
    if shutil.which("node") is None:
        return None, "node is not installed"
    d = node_ws_dir(build)
    pkg = os.path.join(d, "node_modules", "ws", "package.json")
    if not os.path.exists(pkg):
        os.makedirs(d, exist_ok=True)
        try:
            subprocess.run(["npm", "install", "--prefix", d, "--no-audit", "--no-fund",
                            "--loglevel=error", f"ws@{NODE_WS_VERSION}"],
                           check=True, capture_output=True, text=True, timeout=180)
        except (subprocess.SubprocessError, OSError) as e:
            return None, f"npm install ws failed: {e}"
    import json
    return os.path.join(d, "node_modules"), json.load(open(pkg))["version"]


ECHO_JS = """
const { WebSocketServer } = require('ws');
const port = Number(process.argv[2]);
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false,
                                  maxPayload: 1 << 20 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('listening', () => console.log('listening ' + port));
"""


class NodeEcho:
    def __init__(self, ws, node_modules):
        self.ws = ws
        self.port = free_port()
        self.script = ws.path("ws-echo.js")
        open(self.script, "w").write(ECHO_JS)
        self.env = dict(os.environ, NODE_PATH=node_modules)
        self.proc = None

    def start(self):
        self.proc = Proc(["node", self.script, str(self.port)], self.ws.path("node.log"),
                         env=self.env)
        wait_until(lambda: "listening" in open(self.ws.path("node.log")).read() or
                   (not self.proc.alive() and RuntimeError("node exited: " + self.proc.tail())),
                   30, what="node ws echo server")
        if not self.proc.alive():
            raise RuntimeError("node exited:\n" + self.proc.tail())
        return self

    def node_version(self):
        return sh("node", "--version")

    def stop(self):
        if self.proc:
            self.proc.close()
