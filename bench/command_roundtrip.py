#!/usr/bin/env python3
"""Command round-trip benchmark (embedded profile), not a test.

Starts a backend and one gateway from the shipped dev configs (rendered into a temp
dir with a fresh PKI), enqueues N `builtin.echo` commands through the operator API
at a steady rate, waits for every one to succeed, and reports the round trip
operator API -> queue -> agent -> result stored, as the backend recorded it
(created_at -> updated_at of the succeeded command), as p50/p90/p99/max.

usage: command_roundtrip.py BUILD_DIR [N] [RATE_PER_S]
"""
import http.client, json, os, shutil, socket, ssl, subprocess, sys, tempfile, time
from datetime import datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
N = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
RATE = float(sys.argv[3]) if len(sys.argv) > 3 else 200.0
BIN = os.path.join(BUILD, "bin", "agenthost")
AGENT = "gw-dev-01"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout.strip()


def ts(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() * 1000.0


def main():
    tmp = tempfile.mkdtemp(prefix="agenthost-bench-")
    dev = os.path.join(tmp, "dev")
    os.makedirs(os.path.join(dev, "keys"), mode=0o700)
    for d in ("state/backend", "state/gateway"):
        os.makedirs(os.path.join(dev, d), mode=0o700)
    sh(os.path.join(ROOT, "deploy/pki/dev-pki.sh"), os.path.join(dev, "pki"), AGENT)
    master = os.path.join(dev, "keys/k1.key")
    with open(os.open(master, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(sh("openssl", "rand", "-base64", "32") + "\n")
    agent_key = os.path.join(dev, f"keys/{AGENT}.k1.key")
    with open(os.open(agent_key, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(sh(BIN, "keys", "derive", "--kid", "k1", "--agent", AGENT, "--master", master))
    token = sh("openssl", "rand", "-hex", "24")
    token_sha = sh("sh", "-c", f"printf '%s' {token} | sha256sum | cut -d' ' -f1")
    pin = sh(BIN, "pin", os.path.join(dev, "pki/backend.crt"))
    ports = {"8444": free_port(), "8443": free_port(), "9090": free_port()}

    def render(name):
        text = open(os.path.join(ROOT, "configs", name)).read()
        text = text.replace("../.dev", dev).replace("../build/plugins", os.path.join(BUILD, "plugins"))
        text = text.replace("sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", pin)
        text = text.replace("level: info", "level: warn")
        for old, new in ports.items():
            text = text.replace(f"port: {old}", f"port: {new}").replace(f":{old}/", f":{new}/")
        lines = [l if "token_sha256" not in l else l.split("token_sha256:")[0] + f"token_sha256: {token_sha} }}" for l in text.splitlines()]
        out = os.path.join(tmp, name)
        open(out, "w").write("\n".join(lines) + "\n")
        return out

    procs = []
    try:
        backend = subprocess.Popen([BIN, "run", "-c", render("dev.yaml")], stdout=open(os.path.join(tmp, "backend.log"), "w"), stderr=subprocess.STDOUT)
        procs.append(backend)
        ctx = ssl.create_default_context(cafile=os.path.join(dev, "pki/ca.crt"))
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        conn = None

        def api(method, path, body=None):
            nonlocal conn
            for _ in range(2):
                try:
                    if conn is None:
                        conn = http.client.HTTPSConnection("127.0.0.1", ports["8443"], context=ctx, timeout=10)
                    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
                    r = conn.getresponse()
                    return r.status, json.loads(r.read() or b"null")
                except (OSError, http.client.HTTPException):
                    conn = None
            return 0, None

        deadline = time.time() + 30
        while time.time() < deadline and api("GET", "/api/v1/agents")[0] != 200:
            time.sleep(0.05)
        procs.append(subprocess.Popen([BIN, "run", "-c", render("gateway-dev.yaml")], stdout=open(os.path.join(tmp, "gateway.log"), "w"), stderr=subprocess.STDOUT))
        deadline = time.time() + 30
        while time.time() < deadline:
            st, a = api("GET", f"/api/v1/agents/{AGENT}")
            if st == 200 and a.get("state") == "online":
                break
            time.sleep(0.05)
        ids, start = [], time.time()
        for i in range(N):
            wait = start + i / RATE - time.time()
            if wait > 0:
                time.sleep(wait)
            st, c = api("POST", f"/api/v1/agents/{AGENT}/commands", {"name": "builtin.echo", "args": {"text": f"bench {i}"}})
            if st != 202:
                raise SystemExit(f"enqueue {i} answered {st}: {c}")
            ids.append(c["command_id"])
        lat, deadline = [], time.time() + 120
        for cid in ids:
            while True:
                st, c = api("GET", f"/api/v1/commands/{cid}")
                if c and c.get("state") in ("succeeded", "failed", "rejected", "timed_out", "dead_lettered"):
                    break
                if time.time() > deadline:
                    raise SystemExit(f"command {cid} never finished")
                time.sleep(0.01)
            if c["state"] != "succeeded":
                raise SystemExit(f"command {cid} ended {c['state']}")
            lat.append(ts(c["updated_at"]) - ts(c["created_at"]))
        lat.sort()
        pct = lambda p: lat[min(len(lat) - 1, int(p / 100.0 * len(lat)))]
        result = {"scenario": "command round trip (embedded)", "commands": N, "rate_per_s": RATE,
                  "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99), "max_ms": lat[-1]}
        print("| scenario | commands | rate/s | p50 ms | p90 ms | p99 ms | max ms |")
        print("|---|---|---|---|---|---|---|")
        print(f"| {result['scenario']} | {N} | {RATE:g} | {result['p50_ms']:.0f} | {result['p90_ms']:.0f} | {result['p99_ms']:.0f} | {result['max_ms']:.0f} |")
        out = os.path.join(BUILD, "bench-results")
        os.makedirs(out, exist_ok=True)
        json.dump(result, open(os.path.join(out, "command_roundtrip.json"), "w"), indent=2)
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
