"""Same-run baselines: Debian's nginx holding / handshaking mutual TLS with the same
certificates, a Node.js `ws` echo server (plain WebSocket), and bench/floor's
echo_floor (plain TCP or mutual-TLS echo, no protocol: the transport floor)."""
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
// The first message's size, once (so no cost per message): the floor runs reuse it.
wss.once('connection', (ws) => ws.once('message', (data) => console.log('payload ' + data.length)));
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

    @property
    def pid(self):
        return self.proc.pid

    def payload_bytes(self):
        """Size of the first message echoed (None before one arrived)."""
        for line in open(self.ws.path("node.log")):
            if line.startswith("payload "):
                return int(line.split()[1])
        return None

    def stop(self):
        if self.proc:
            self.proc.close()


def echo_floor_bin(build):
    """bench/floor's echo_floor in a bench build, or None (not built: not a bench tree)."""
    path = os.path.join(os.path.abspath(build), "bench", "echo_floor")
    return path if os.access(path, os.X_OK) else None


class EchoFloor:
    """echo_floor's server on a port it picks (`--port 0`, announced as 'listening
    PORT'). tls=True: mutual TLS with the backend's certificate and the workspace CA,
    the client must present a certificate from that CA."""

    def __init__(self, ws, exe, threads, tls):
        self.ws = ws
        self.exe = exe
        self.label = "mtls" if tls else "tcp"
        self.argv = [exe, "server", "--port", "0", "--threads", str(threads)]
        if tls:
            self.argv += ["--cert", ws.pki("backend.crt"), "--key", ws.pki("backend.key"),
                          "--ca", ws.pki("ca.crt")]
        self.log = ws.path(f"floor-{self.label}-server.log")
        self.proc = None
        self.port = None

    def start(self):
        self.proc = Proc(self.argv, self.log)

        def listening():
            for line in open(self.log):
                if line.startswith("listening "):
                    return int(line.split()[1])
            if not self.proc.alive():
                raise RuntimeError("echo_floor server exited:\n" + self.proc.tail())
            return None
        self.port = wait_until(listening, 30, what="echo_floor server")
        return self

    @property
    def pid(self):
        return self.proc.pid

    def client_tls_args(self):
        if self.label != "mtls":
            return []
        crt, key = self.ws.client_cert("floor-client")
        return ["--cert", crt, "--key", key, "--ca", self.ws.pki("ca.crt")]

    def stop(self):
        if self.proc:
            self.proc.close()
