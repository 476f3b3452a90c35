"""Command scenarios of `make bench`: operator API → queue → agent → result stored.

The API load comes from tools/apiload (C++, keep-alive HTTPS, paced), the agents
from agentsim (agent mode acks then answers every command). Round trips are the
server's own created_at → updated_at (the command completes after its result is
stored), so the pollers never inflate them; rates are measured commands over the
server window (first created_at → last updated_at).

  command_round_trip          embedded profile (sqlite, queue_memory)
  command_round_trip_redis    Redis profile (queue_redis, replay_redis,
                              identity_postgres, telemetry_postgres) on private
                              servers; baseline: raw hiredis XADD + XREADGROUP + XACK
                              loop (bench_queue_redis) against the same redis-server
  command_round_trip_redis_scale  the same backend with 10,000 connected agents
"""
import json
import os
import subprocess
import time

from .common import (ROOT, Backend, Proc, agentsim, children, cpu_seconds, free_port,
                     read_status, wait_until)


def _row(scenario, baseline_name, baseline, agenthost, unit, target, command,
         higher_is_better=True, note=""):
    ratio = None
    if isinstance(baseline, (int, float)) and isinstance(agenthost, (int, float)) and baseline:
        ratio = agenthost / baseline
    return {"scenario": scenario, "baseline_name": baseline_name, "baseline": baseline,
            "agenthost": agenthost, "unit": unit, "ratio": ratio, "target": target,
            "command": command, "higher_is_better": higher_is_better, "note": note}


def _reproduce(name):
    return f"make bench BENCH_ARGS='--only {name}'"


def _load():
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def _apiload(ctx, b, label, agents, prefix, count, rate, connections, warmup, timeout=None):
    """Runs tools/apiload against backend `b`; returns its JSON report."""
    ws = ctx.ws
    if timeout is None:  # generous: a loaded machine may drain at a few hundred/s
        timeout = max(100, count // 150)
    token = ws.path("operator.token")
    if not os.path.exists(token):
        with open(os.open(token, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(ws.token + "\n")
    out = ws.path(f"{label}.apiload.json")
    argv = [os.path.join(ws.build, "bin", "apiload"), "--port", b.ports["admin"],
            "--trust", ws.pki("ca.crt"), "--token-file", token, "--agents", agents,
            "--prefix", prefix, "--count", count, "--warmup", warmup, "--rate", rate,
            "--connections", connections, "--timeout", timeout, "--json", out, "--quiet"]
    p = Proc([str(a) for a in argv], ws.path(f"{label}.apiload.log"))
    try:
        p.p.wait(timeout + 30)
    except subprocess.TimeoutExpired:
        p.close()
        raise RuntimeError(f"apiload did not finish:\n{p.tail()}")
    if p.p.returncode != 0:
        raise RuntimeError(f"apiload failed ({p.p.returncode}):\n{p.tail()}")
    r = json.load(open(out))
    r["load"] = _load()
    if r["totals"]["unfinished"] or r["totals"]["rejected"]:
        raise RuntimeError(f"{label}: {r['totals']['unfinished']} commands unfinished, "
                           f"{r['totals']['rejected']} rejected (states {r['states']}):\n"
                           + p.tail())
    return r


def _agents(ctx, b, label, n, prefix, ramp_timeout=150):
    """Starts agentsim with n command-answering agents; waits until all are welcomed."""
    status = ctx.ws.path(f"{label}.status.json")
    args = ["--agents", n, "--threads", 2, "--prefix", prefix, "--status-file", status,
            "--shared-key"]
    if n > 1000:
        args += ["--sources", 32, "--max-pending", 128]
    sim = agentsim(ctx.ws, b.ports["agents"], args, ctx.ws.path(f"{label}.agents.json"),
                   ctx.ws.path(f"{label}.agents.log"), wait=False)
    t0 = time.time()
    try:
        wait_until(lambda: (read_status(status) or {}).get("welcomed", 0) >= n or
                   not sim.alive(), ramp_timeout, 0.2, what=f"{n} agents welcomed")
    except Exception:
        sim.close()
        raise
    if not sim.alive():
        raise RuntimeError("agentsim exited:\n" + sim.tail())
    return sim, time.time() - t0


def _rt(r):
    return f"{r['round_trip']['p50_ms']:.1f} / {r['round_trip']['p99_ms']:.1f}"


def _pace(ctx, r):
    """The rate label: '1000/s', or '1000/s paced, 522/s reached' when the enqueue fell
    behind (the round trip is then that of a saturated host)."""
    got = r["rates"]["enqueue_per_s"]
    text = f"{ctx.cmd_rate:g}/s"
    return text if got >= 0.95 * ctx.cmd_rate else f"{text} paced, {got:.0f}/s reached"


def _paced(ctx, b, label, n_agents, prefix):
    rate = ctx.cmd_rate
    count = max(int(rate * ctx.cmd_paced_s), 100)
    return _apiload(ctx, b, label, n_agents, prefix, count, rate, 8, count // 10)


def _burst(ctx, b, label, n_agents, prefix):
    count = ctx.cmd_burst
    return _apiload(ctx, b, label, n_agents, prefix, count, 0, 16, count // 10)


def command_round_trip(ctx):
    """Embedded profile: 100 agents; latency at a paced rate, then the max rate."""
    n = ctx.cmd_agents
    b = Backend(ctx.ws, name="cmd-embedded").start()
    try:
        sim, _ = _agents(ctx, b, "cmd-embedded", n, "cmd-")
        try:
            paced = _paced(ctx, b, "cmd-embedded-paced", n, "cmd-")
            burst = _burst(ctx, b, "cmd-embedded-burst", n, "cmd-")
        finally:
            sim.close()
    finally:
        b.stop()
    ctx.details["command_round_trip_embedded"] = {"paced": paced, "burst": burst}
    cmd = _reproduce("command_round_trip")
    return [
        _row(f"Command round trip p50 / p99 (created → result stored), {_pace(ctx, paced)}, "
             f"{n} agents (embedded)", "—", None, _rt(paced), "ms", "p99 < 10 ms", cmd,
             higher_is_better=False, note=paced["load"]),
        _row(f"Command throughput, max sustained, API → queue → agent → result stored, "
             f"{n} agents (embedded)", "—", None, burst["rates"]["completed_per_s"],
             "commands/s", "—", cmd, note=burst["load"]),
    ]


# ---- Redis profile ------------------------------------------------------------------

class RedisFromDeploy:
    """redis-server with deploy/redis/redis.conf as shipped (AOF, appendfsync always,
    noeviction), only the port, bind address and directories made private."""

    def __init__(self, ws, name):
        self.dir = ws.path(name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.proc = None

    def start(self):
        conf = os.path.join(ROOT, "deploy/redis/redis.conf")
        self.proc = Proc(["redis-server", conf, "--port", str(self.port), "--bind", "127.0.0.1",
                          "--dir", self.dir, "--daemonize", "no"],
                         os.path.join(self.dir, "redis.log"))

        def up():
            if not self.proc.alive():
                raise RuntimeError("redis-server exited:\n" + self.proc.tail())
            r = subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True,
                               text=True)
            return r.stdout.strip() == "PONG"
        wait_until(up, 30, 0.1, what="redis-server")
        fsync = subprocess.run(["redis-cli", "-p", str(self.port), "config", "get",
                                "appendfsync"], capture_output=True, text=True).stdout.split()
        self.appendfsync = fsync[-1] if fsync else "?"
        return self

    def stop(self):
        if self.proc:
            self.proc.close()


def _raw_redis_loop(ctx, url, chains):
    """bench_queue_redis's raw hiredis loop (XADD + XREADGROUP + XACK per command,
    `chains` streams with one command in flight each) against `url`: commands/s."""
    exe = os.path.join(ctx.build, "bench", "bench_queue_redis")
    out = ctx.ws.path(f"raw-redis-{chains}.json")
    subprocess.run([exe, f"--benchmark_filter=BM_RawRedisStreamLoop/{chains}/",
                    "--benchmark_min_time=2", f"--benchmark_out={out}",
                    "--benchmark_out_format=json"], check=True, capture_output=True, text=True,
                   env=dict(os.environ, AGENTHOST_BENCH_REDIS_URL=url), timeout=120)
    rates = [b["items_per_second"] for b in json.load(open(out))["benchmarks"]
             if b.get("run_type", "iteration") == "iteration"]
    if not rates:
        raise RuntimeError("bench_queue_redis reported no raw loop rate")
    return max(rates)


class RedisProfile:
    """Private PostgreSQL (scripts/test-services.sh) and Redis (deploy/redis/redis.conf)
    plus one backend with the Redis profile's plugins."""

    def __init__(self, ctx, name):
        self.ctx = ctx
        self.pg_dir = ctx.ws.path(f"{name}-pg")
        self.script = os.path.join(ROOT, "scripts/test-services.sh")
        self.pg_url = None
        self.redis = RedisFromDeploy(ctx.ws, f"{name}-redis")
        self.name = name
        self.backend = None

    def __enter__(self):
        try:
            self.pg_url = subprocess.run([self.script, "start", "postgres", self.pg_dir],
                                         check=True, capture_output=True,
                                         text=True).stdout.strip().splitlines()[-1]
            self.redis.start()
            url = self.redis.url
            plugins = {
                "identity_sqlite": None, "replay_memory": None, "queue_memory": None,
                "telemetry_sqlite": None,
                "identity_postgres": '{ url: "%s" }' % self.pg_url,
                "telemetry_postgres": '{ url: "%s" }' % self.pg_url,
                "replay_redis": '{ url: "%s" }' % url,
                "queue_redis": '{ url: "%s", max_depth: 100000 }' % url,
            }
            self.backend = Backend(self.ctx.ws, name=self.name, plugins=plugins,
                                   blocking_threads=4,
                                   max_connections=self.ctx.cmd_scale_agents + 1000).start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def server_pids(self):
        """The server processes a command costs CPU in: backend, PostgreSQL (postmaster
        and its backends), redis-server."""
        pids = {"backend": [self.backend.pid], "redis": [self.redis.proc.pid], "postgres": []}
        try:
            home = os.readlink(os.path.join(self.pg_dir, "data.home"))
            with open(os.path.join(home, "data", "postmaster.pid")) as f:
                pm = int(f.readline())
            pids["postgres"] = [pm] + children(pm)
        except (OSError, ValueError):
            pass
        return pids

    def __exit__(self, *exc):
        if self.backend:
            self.backend.stop()
        self.redis.stop()
        subprocess.run([self.script, "destroy", "postgres", self.pg_dir], capture_output=True)
        return False


def _cpu_of(pids):
    total = 0.0
    for p in pids:
        try:
            total += cpu_seconds(p)
        except OSError:  # a PostgreSQL backend that exited meanwhile
            pass
    return total


def command_round_trip_redis(ctx):
    """Raw Redis loop, then 100 agents: max sustained rate (with the servers' CPU per
    command, steadier than a rate on a shared machine) and paced round trip."""
    n = ctx.cmd_agents
    with RedisProfile(ctx, "cmd-redis") as prof:
        base = _raw_redis_loop(ctx, prof.redis.url, 100)
        base_load = _load()
        sim, _ = _agents(ctx, prof.backend, "cmd-redis", n, "cmd-")
        try:
            pids = prof.server_pids()
            c0 = {k: _cpu_of(v) for k, v in pids.items()}
            burst = _burst(ctx, prof.backend, "cmd-redis-burst", n, "cmd-")
            c1 = {k: _cpu_of(v) for k, v in pids.items()}
            paced = _paced(ctx, prof.backend, "cmd-redis-paced", n, "cmd-")
        finally:
            sim.close()
        fsync = prof.redis.appendfsync
    got = burst["rates"]["completed_per_s"]
    # The whole apiload run (warm-up and the poller's one GET per command included).
    count = burst["options"]["count"]
    cpu = {k: (c1[k] - c0[k]) / count * 1e6 for k in c0}
    cpu["total"] = sum(cpu.values())
    ctx.details["command_round_trip_redis"] = {
        "raw_redis_loop_per_s": base, "raw_load": base_load, "appendfsync": fsync,
        "burst": burst, "paced": paced, "ratio": got / base if base else None,
        "burst_server_cpu_us_per_command": cpu}
    cmd = _reproduce("command_round_trip_redis")
    base_name = (f"raw hiredis XADD + XREADGROUP + XACK loop, 100 streams, same redis-server "
                 f"(AOF, appendfsync {fsync})")
    return [
        _row(f"Command throughput, max sustained, API → queue_redis → agent → result in "
             f"PostgreSQL, {n} agents (Redis profile)", base_name, base, got, "commands/s",
             "≥ 0.25 × raw loop", cmd, note=burst["load"]),
        _row(f"Command round trip p50 / p99 (created → result stored), {_pace(ctx, paced)}, "
             f"{n} agents (Redis profile)", "—", None, _rt(paced), "ms", "p99 < 10 ms", cmd,
             higher_is_better=False, note=paced["load"]),
        _row(f"Server CPU per command (backend + PostgreSQL + Redis, /proc utime+stime), "
             f"max-rate run, {n} agents (Redis profile)", "—", None, round(cpu["total"]),
             "µs", "≈ 200 µs for 0.25 × raw loop on 2 cores", cmd, higher_is_better=False,
             note="backend %.0f, PostgreSQL %.0f, Redis %.0f µs; %s" % (
                 cpu["backend"], cpu["postgres"], cpu["redis"], burst["load"])),
    ]


def command_round_trip_redis_scale(ctx):
    """The Redis-profile backend with 10,000 connected agents: paced round trip."""
    n = ctx.cmd_scale_agents
    with RedisProfile(ctx, "cmd-redis-scale") as prof:
        sim, ramp_s = _agents(ctx, prof.backend, "cmd-redis-scale", n, "cmds-")
        try:
            paced = _paced(ctx, prof.backend, "cmd-redis-scale-paced", n, "cmds-")
        finally:
            sim.close()
    paced["ramp_s"] = ramp_s
    ctx.details["command_round_trip_redis_scale"] = paced
    return [
        _row(f"Command round trip p50 / p99 (created → result stored), {_pace(ctx, paced)}, "
             f"{n:,} connected agents (Redis profile)", "—", None, _rt(paced), "ms",
             "p99 ≪ 2 s (seed go/no-go bar: < 2 s)", _reproduce("command_round_trip_redis_scale"),
             higher_is_better=False, note=paced["load"]),
    ]


SCENARIOS = {
    "command_round_trip": command_round_trip,
    "command_round_trip_redis": command_round_trip_redis,
    "command_round_trip_redis_scale": command_round_trip_redis_scale,
}
