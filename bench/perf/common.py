"""Shared plumbing for the performance scenarios: temp workspace with a dev PKI and
keys, a backend process rendered from options, the operator API, agentsim runs and
/proc sampling (RSS, CPU). Every wait polls a condition against a deadline."""
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout.strip()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_until(cond, timeout, step=0.05, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


# ---- /proc sampling ---------------------------------------------------------------

def cpu_seconds(pid):
    """User + system CPU seconds of a process (all threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_seconds():
    """CPU seconds all cores spent not idle since boot (/proc/stat, iowait counts idle)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / CLK_TCK


def rss_bytes(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def machine():
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PHYS_PAGES") * PAGE / 2**30
    return f"{os.cpu_count()} vCPU {model}, {mem:.0f} GiB, {os.uname().sysname} {os.uname().release}"


def raise_nofile():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 200000
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Proc:
    """A child process with its output in a log file; terminated on close()."""

    def __init__(self, argv, log, env=None, cwd=None):
        self.argv = argv
        self.log = log
        self.p = subprocess.Popen(argv, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                                  env=env, cwd=cwd, start_new_session=True)

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def close(self, timeout=30):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode

    def tail(self, n=30):
        try:
            return "".join(open(self.log).readlines()[-n:])
        except OSError:
            return ""


# ---- workspace and backend --------------------------------------------------------

class Workspace:
    """A temp dir with the dev PKI (CA, backend cert), a master key and a token."""

    def __init__(self, build, keep=False):
        self.build = os.path.abspath(build)
        self.bin = os.path.join(self.build, "bin", "agenthost")
        self.agentsim = os.path.join(self.build, "bin", "agentsim")
        self.dir = tempfile.mkdtemp(prefix="agenthost-bench-")
        self.keep = keep
        sh(os.path.join(ROOT, "deploy/pki/dev-pki.sh"), self.pki())
        os.makedirs(self.path("keys"), mode=0o700)
        self.master = self.path("keys/k1.key")
        with open(os.open(self.master, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(sh("openssl", "rand", "-base64", "32") + "\n")
        self.token = sh("openssl", "rand", "-hex", "24")
        self.token_sha = sh("sh", "-c", f"printf '%s' {self.token} | sha256sum | cut -d' ' -f1")

    def path(self, rel):
        return os.path.join(self.dir, rel)

    def client_cert(self, name):
        """(cert, key) files of a client certificate from the workspace CA, made once with
        dev-pki.sh (the agents' certificate profile: P-256, clientAuth)."""
        crt = self.pki(f"agents/{name}.crt")
        if not os.path.exists(crt):
            sh(os.path.join(ROOT, "deploy/pki/dev-pki.sh"), self.pki(), name)
        return crt, self.pki(f"agents/{name}.key")

    def pki(self, rel=""):
        return os.path.join(self.dir, "pki", rel) if rel else os.path.join(self.dir, "pki")

    def close(self):
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


EMBEDDED_PLUGINS = {
    "audit_file": "{ path: STATE/audit.log, fsync: interval }",
    "identity_sqlite": "{}",
    "replay_memory": "{ capacity: 2000000 }",
    "queue_memory": "{ max_depth: 100000, ack_timeout_s: 30, max_attempts: 5 }",
    "telemetry_sqlite": "{}",
    "health_http": "{}",
}


class Backend:
    """One `agenthost run` in the backend role. `plugins` overrides EMBEDDED_PLUGINS
    entries (name -> config text, or None to drop one)."""

    def __init__(self, ws, name="backend", plugins=None, heartbeat_s=15, max_connections=12000,
                 loop_threads=2, blocking_threads=2, extra_yaml=""):
        self.ws = ws
        self.name = name
        self.loop_threads = loop_threads
        self.state = ws.path(name)
        os.makedirs(self.state, mode=0o700, exist_ok=True)
        chosen = dict(EMBEDDED_PLUGINS)
        for k, v in (plugins or {}).items():
            if v is None:
                chosen.pop(k, None)
            else:
                chosen[k] = v
        lines = [
            "role: backend", f"host_id: {name}", f"state_dir: {self.state}",
            "log: { level: warn, format: text }",
            f"threads: {{ loop: {loop_threads}, blocking: {blocking_threads} }}",
            "listen:",
            "  agents: { address: 127.0.0.1, port: 0 }",
            "  admin: { address: 127.0.0.1, port: 0 }",
            "  health: { address: 127.0.0.1, port: 0 }",
            "tls:", f"  cert: {ws.pki('backend.crt')}", f"  key: {ws.pki('backend.key')}",
            f"  client_ca: {ws.pki('ca.crt')}",
            "keys:", f"  - {{ kid: k1, file: {ws.master} }}",
            "operators:", f"  - {{ name: bench, token_sha256: {ws.token_sha} }}",
            "protocol:", "  max_frame_bytes: 1048576", "  max_skew_s: 30",
            "  replay_window_s: 60", "  max_batch_points: 1000",
            f"  heartbeat_s: {heartbeat_s}", "  hello_timeout_s: 30",
            f"  idle_timeout_s: {heartbeat_s * 3}", f"  lease_s: {heartbeat_s * 3}",
            # Admission guards opened: the scenarios measure capacity from few source
            # addresses, not the reconnect-storm limits (handshake rate, per-IP cap,
            # message rate), which would otherwise cap them at their safe defaults.
            f"limits: {{ max_connections: {max_connections}, write_queue: 1024,"
            " max_connections_per_ip: 1000000, handshake_rate: 1000000,"
            " handshake_burst: 1000000, message_rate: 1000000, message_burst: 1000000 }",
            f"plugin_paths: [ {os.path.join(ws.build, 'plugins')} ]",
            "plugins:",
        ]
        for p, cfg in chosen.items():
            lines.append(f"  {p}: {{ enabled: true, config: {cfg.replace('STATE', self.state)} }}")
        self.config = ws.path(f"{name}.yaml")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n" + extra_yaml)
        self.proc = None
        self.ports = {}
        self._conn = None

    def start(self):
        ports_file = os.path.join(self.state, "ports.json")
        if os.path.exists(ports_file):
            os.unlink(ports_file)
        self.proc = Proc([self.ws.bin, "run", "-c", self.config], self.ws.path(f"{self.name}.log"))

        def up():
            if not self.proc.alive():
                raise RuntimeError("backend exited:\n" + self.proc.tail())
            try:
                self.ports = json.load(open(ports_file))
                return True
            except (OSError, ValueError):
                return False
        wait_until(up, 60, what="backend ports.json")
        wait_until(lambda: self.api("GET", "/api/v1/agents")[0] == 200, 60,
                   what="operator API")
        return self

    @property
    def pid(self):
        return self.proc.pid

    def api(self, method, path, body=None):
        for _ in range(3):
            try:
                if self._conn is None:
                    ctx = ssl.create_default_context(cafile=self.ws.pki("ca.crt"))
                    self._conn = http.client.HTTPSConnection("127.0.0.1", self.ports["admin"],
                                                             context=ctx, timeout=30)
                headers = {"Authorization": f"Bearer {self.ws.token}"}
                data = None
                if body is not None:
                    headers["Content-Type"] = "application/json"
                    data = json.dumps(body)
                self._conn.request(method, path, body=data, headers=headers)
                r = self._conn.getresponse()
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
            except (OSError, http.client.HTTPException, ValueError):
                self._conn = None
                time.sleep(0.05)
        return 0, None

    def stop(self):
        if self.proc:
            self.proc.close()


def agentsim(ws, port, args, json_out, log, wait=True, timeout=300):
    """Runs agentsim against `port` with the workspace's CA and master key."""
    argv = [ws.agentsim, "--port", str(port), "--ca-cert", ws.pki("ca.crt"),
            "--ca-key", ws.pki("ca.key"), "--master", ws.master, "--json", json_out,
            "--quiet"] + [str(a) for a in args]
    p = Proc(argv, log)
    if not wait:
        return p
    return agentsim_result(p, json_out, timeout)


def agentsim_result(p, json_out, timeout=300):
    """Waits for an agentsim started with wait=False and returns its JSON report."""
    try:
        p.p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.close()
        raise RuntimeError(f"agentsim did not finish in {timeout}s:\n" + p.tail())
    if p.p.returncode != 0:
        raise RuntimeError(f"agentsim failed ({p.p.returncode}):\n" + p.tail())
    return json.load(open(json_out))


def read_status(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return None


def cpu_window(status_path, count, pids, warmup_s, window_s, alive, timeout=120):
    """CPU per operation of `pids` ({name: pid}) while a load generator runs that
    rewrites `status_path` (JSON with elapsed_s) about once a second (agentsim
    --status-file, echo_floor --status-file). Waits until count(status) > 0, skips
    warmup_s, then takes two snapshots window_s apart; each reads every process's CPU
    the moment a fresh status file appears (polled every 10 ms), so the counts and the
    CPU times cover the same interval. The generator must outlive the window.
    `others_cores` is what the rest of the machine used meanwhile (cores): well above
    zero means the figures were disturbed."""
    deadline = time.time() + timeout

    def fresh(after, want=lambda st: True):
        while time.time() < deadline:
            st = read_status(status_path)
            if st is not None and st.get("elapsed_s", -1) > after and want(st):
                cpu = {k: cpu_seconds(p) for k, p in pids.items()}
                return st, cpu, machine_busy_seconds()
            if not alive():
                raise RuntimeError(f"load generator exited before the window closed "
                                   f"({status_path})")
            time.sleep(0.01)
        raise TimeoutError(f"timed out after {timeout}s waiting for {status_path}")

    first, _, _ = fresh(-1, lambda st: count(st) > 0)
    a, cpu_a, busy_a = fresh(first["elapsed_s"] + warmup_s - 0.5)
    b, cpu_b, busy_b = fresh(a["elapsed_s"] + window_s - 0.5)
    ops = count(b) - count(a)
    seconds = b["elapsed_s"] - a["elapsed_s"]
    if ops <= 0 or seconds <= 0:
        raise RuntimeError(f"no operations in the measured window ({status_path})")
    cpu = {k: cpu_b[k] - cpu_a[k] for k in pids}
    per_op_us = {k: v * 1e6 / ops for k, v in cpu.items()}
    per_op_us["total"] = sum(cpu.values()) * 1e6 / ops
    return {"ops": ops, "seconds": seconds, "rate": ops / seconds, "cpu_us_per_op": per_op_us,
            "cpu_cores": {k: v / seconds for k, v in cpu.items()},
            "others_cores": (busy_b - busy_a - sum(cpu.values())) / seconds}
