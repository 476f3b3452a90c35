"""The scenarios of `make bench`. Each returns rows for the results table and keeps
its own wall time under two minutes on 2 cores. Sizes can be scaled down with
--agents for a quick run; the figures in docs/PERFORMANCE.md use the defaults."""
import json
import os
import shutil
import sqlite3
import subprocess
import time

from . import baselines, commands
from .common import (ROOT, Backend, Proc, agentsim, agentsim_result, cpu_seconds, cpu_window,
                     read_status, rss_bytes, wait_until)


def row(scenario, baseline_name, baseline, agenthost, unit, target, command, higher_is_better=True,
        note=""):
    ratio = None
    if isinstance(baseline, (int, float)) and isinstance(agenthost, (int, float)) and baseline:
        ratio = agenthost / baseline
    return {"scenario": scenario, "baseline_name": baseline_name, "baseline": baseline,
            "agenthost": agenthost, "unit": unit, "ratio": ratio, "target": target,
            "command": command, "higher_is_better": higher_is_better, "note": note}


def reproduce(name):
    return f"make bench BENCH_ARGS='--only {name}'"


def _sum(f, pids):
    total = 0
    for p in pids:
        try:
            total += f(p)
        except OSError:
            pass
    return total


def _hold(ctx, label, port, pids, mode, n):
    """Connects n agentsim connections (agent or tls-hold mode), then samples RSS per
    connection and idle CPU of `pids`. Returns a dict of figures."""
    ws = ctx.ws
    time.sleep(1.0)  # let the freshly started server finish its own start-up work
    rss0 = _sum(rss_bytes, pids())
    status = ws.path(f"{label}.status.json")
    args = ["--agents", n, "--threads", 2, "--sources", 32, "--max-pending", 128,
            "--status-file", status, "--mode", mode]
    if ctx.shared_key:
        args.append("--shared-key")
    sim = agentsim(ws, port, args, ws.path(f"{label}.json"), ws.path(f"{label}.log"), wait=False)
    field = "welcomed" if mode == "agent" else "tls_ok"
    try:
        t0 = time.time()
        wait_until(lambda: (read_status(status) or {}).get(field, 0) >= n or not sim.alive(), 300,
                   0.2, what=f"{n} {label} connections")
        if not sim.alive():
            raise RuntimeError("agentsim exited:\n" + sim.tail())
        ramp_s = time.time() - t0
        time.sleep(3.0)  # settle: the last handshakes' allocations are released
        pids_now = pids()
        rss1 = _sum(rss_bytes, pids_now)
        cpu0 = _sum(cpu_seconds, pids_now)
        time.sleep(ctx.idle_window_s)
        cpu1 = _sum(cpu_seconds, pids_now)
        st = read_status(status) or {}
    finally:
        sim.close()
    report = json.load(open(ws.path(f"{label}.json")))
    return {"rss_per_conn": (rss1 - rss0) / n, "idle_cpu_pct": (cpu1 - cpu0) / ctx.idle_window_s *
            100, "ramp_s": ramp_s, "open": st.get("open", 0), "closes": st.get("closes", {}),
            "connects_per_s": report["rates"]["connects_per_s"], "rss0": rss0, "rss1": rss1}


def connection_scale(ctx):
    n = ctx.agents
    b = Backend(ctx.ws, name="scale", heartbeat_s=10, max_connections=n + 1000).start()
    try:
        a = _hold(ctx, "scale-agenthost", b.ports["agents"], lambda: [b.pid], "agent", n)
    finally:
        b.stop()
    ng = baselines.Nginx(ctx.ws, workers=1, connections=n).start()
    try:
        g = _hold(ctx, "scale-nginx", ng.port, ng.pids, "tls-hold", n)
    finally:
        ng.stop()
    ctx.details["connection_scale"] = {"agenthost": a, "nginx": g}
    cmd = reproduce("connection_scale")
    return [
        row(f"Connection scale: RSS per idle mTLS connection ({n:,} agents)", "nginx 1.22",
            g["rss_per_conn"] / 1024, a["rss_per_conn"] / 1024, "KiB", "≤ 1.5 × nginx", cmd,
            higher_is_better=False),
        row(f"Connection scale: idle CPU, {n:,} connections (heartbeat 10 s)", "nginx 1.22",
            g["idle_cpu_pct"], a["idle_cpu_pct"], "% of one core", "< 5 %", cmd,
            higher_is_better=False),
    ]


def handshake_rate(ctx):
    results = {}
    for label in ("agenthost", "nginx"):
        if label == "agenthost":
            srv = Backend(ctx.ws, name="hs").start()
            port, pids = srv.ports["agents"], (lambda s=srv: [s.pid])
        else:
            srv = baselines.Nginx(ctx.ws, workers=2, connections=4000).start()
            port, pids = srv.port, srv.pids
        try:
            time.sleep(1.0)
            c0 = _sum(cpu_seconds, pids())
            r = agentsim(ctx.ws, port, ["--mode", "handshake", "--agents", ctx.hs_concurrency,
                                        "--threads", 2, "--sources", 32, "--warmup", 2,
                                        "--duration", ctx.hs_duration_s],
                         ctx.ws.path(f"hs-{label}.json"), ctx.ws.path(f"hs-{label}.log"))
            c1 = _sum(cpu_seconds, pids())
        finally:
            srv.stop()
        total = r["totals"]["handshakes"]
        results[label] = {"per_s": r["rates"]["handshakes_per_s"],
                          "cpu_ms": (c1 - c0) * 1000 / total if total else None,
                          "errors": r["totals"]["errors"], "closes": r["totals"]["closes"],
                          "p50_ms": r["round_trip"]["p50_ms"], "p99_ms": r["round_trip"]["p99_ms"]}
    ctx.details["handshake_rate"] = results
    a, g = results["agenthost"], results["nginx"]
    cmd = reproduce("handshake_rate")
    return [
        row("Handshake rate: full mTLS handshakes/s (TLS 1.3, ECDSA P-256, "
            f"{ctx.hs_concurrency} concurrent)", "nginx 1.22, ssl_verify_client on", g["per_s"],
            a["per_s"], "handshakes/s", "≥ 0.8 × nginx", cmd),
        row("Handshake rate: server CPU per handshake", "nginx 1.22", g["cpu_ms"], a["cpu_ms"],
            "ms CPU", "—", cmd, higher_is_better=False),
    ]


def frame_path(ctx):
    path = os.path.join(ctx.out, "bench_frame_path.json")
    if not os.path.exists(path):
        return []
    data = json.load(open(path))
    rates = {}
    for b in data.get("benchmarks", []):
        per_s = b.get("items_per_second") or b.get("frames_per_s") or b.get("frames/s")
        if per_s is None:
            for k, v in b.items():
                if isinstance(v, (int, float)) and "per" in k and "second" in k:
                    per_s = v
        if per_s is not None:
            rates[b["name"]] = per_s
    ctx.details["frame_path"] = rates
    full = rates.get("BM_VerifyAndParseTelemetry")
    raw = rates.get("BM_RawHmacSha256")
    if full is None or raw is None:
        return []
    return [row("Frame path: verified 512-byte telemetry frames/s, one core", "raw HMAC-SHA256",
                raw, full, "frames/s", "≥ 250,000 frames/s", "make bench (bench_frame_path)")]


RT_SIM_THREADS = 2  # agentsim / echo_floor client threads in message_round_trips
RT_FALLBACK_PAYLOAD = 503  # floor payload without Node: ws-echo's frame size in session 6


def _rt_window(ctx, sim, status, server_pid, count):
    """CPU per round trip of the server and the client over the middle of their run."""
    return cpu_window(status, count, {"server": server_pid, "client": sim.pid}, 2,
                      ctx.rt_duration_s - 2, sim.alive)


def _rt_agentsim(ctx, label, port, server_pid, extra):
    """agentsim with `extra` against `port`: (report, CPU window)."""
    status = ctx.ws.path(f"rt-{label}.status.json")
    out = ctx.ws.path(f"rt-{label}.json")
    sim = agentsim(ctx.ws, port, extra + ["--agents", ctx.rt_agents, "--echo", 1,
                                          "--threads", RT_SIM_THREADS, "--warmup", 2,
                                          "--duration", ctx.rt_duration_s,
                                          "--status-file", status],
                   out, ctx.ws.path(f"rt-{label}.log"), wait=False)
    try:
        window = _rt_window(ctx, sim, status, server_pid, lambda st: st["echo"]["received"])
        return agentsim_result(sim, out), window
    finally:
        sim.close()


def _rt_floor(ctx, exe, tls, server_threads, payload):
    """One echo_floor run (bench/floor): the client's report and the CPU window."""
    srv = baselines.EchoFloor(ctx.ws, exe, server_threads, tls).start()
    try:
        status = ctx.ws.path(f"floor-{srv.label}.status.json")
        sim = Proc([exe, "client", "--port", str(srv.port), "--connections", str(ctx.rt_agents),
                    "--threads", str(RT_SIM_THREADS), "--payload", str(payload),
                    "--warmup", "2", "--duration", str(ctx.rt_duration_s),
                    "--status-file", status] + srv.client_tls_args(),
                   ctx.ws.path(f"floor-{srv.label}-client.log"))
        try:
            window = _rt_window(ctx, sim, status, srv.pid, lambda st: st["round_trips"])
            if sim.p.wait(60) != 0:
                raise RuntimeError(f"echo_floor client failed ({sim.p.returncode}):\n" +
                                   sim.tail())
        finally:
            sim.close()
        lines = [ln for ln in open(sim.log) if ln.startswith("{")]
        return json.loads(lines[-1]), window
    finally:
        srv.stop()


def message_round_trips(ctx):
    n = ctx.rt_agents
    load_start = os.getloadavg()[0]
    b = Backend(ctx.ws, name="rt", plugins={"telemetry_sqlite": None,
                                            "telemetry_null": "{}"}).start()
    try:
        a, a_win = _rt_agentsim(ctx, "agenthost", b.ports["agents"], b.pid, [])
    finally:
        b.stop()
    node_modules, version = baselines.ensure_node_ws(ctx.build)
    g = g_win = None
    payload = RT_FALLBACK_PAYLOAD
    if node_modules:
        echo = baselines.NodeEcho(ctx.ws, node_modules).start()
        try:
            g, g_win = _rt_agentsim(ctx, "node", echo.port, echo.pid,
                                    ["--mode", "ws-echo", "--path", "/"])
            payload = echo.payload_bytes() or payload
        finally:
            echo.stop()
    # The floors: same connections, payload and thread counts, no protocol at all.
    floors = {}
    exe = baselines.echo_floor_bin(ctx.build)
    if exe:
        for tls in (False, True):
            rep, win = _rt_floor(ctx, exe, tls, b.loop_threads, payload)
            floors["mtls" if tls else "tcp"] = {"report": rep, "window": win}
    ctx.details["message_round_trips"] = {
        "agenthost": a, "node": g, "ws_version": version, "load_avg_1m_start": load_start,
        "payload_bytes": payload, "server_threads": b.loop_threads,
        "client_threads": RT_SIM_THREADS,
        # CPU µs per round trip of each process over an 8 s window inside each run.
        "window": {"agenthost": a_win, "node": g_win,
                   **{f"floor_{k}": v["window"] for k, v in floors.items()}},
        "floor": {k: v["report"] for k, v in floors.items()}}
    base_name = f"Node.js ws {version} echo" if node_modules else f"none ({version})"
    cmd = reproduce("message_round_trips")
    g_rate = g["rates"]["echo_round_trips_per_s"] if g else None
    a_rate = a["rates"]["echo_round_trips_per_s"]

    def cpu(win):
        return win["cpu_us_per_op"]["total"] if win else None

    def split(name, win):
        us = win["cpu_us_per_op"]
        return (f"{name}: server {us['server']:.1f} + client {us['client']:.1f} µs "
                f"(other processes: {win['others_cores']:.2f} cores)")

    load = f"load average {load_start:.2f} at start"
    rows = [
        row(f"Message round trips/s: {n} agents, telemetry → telemetry_ack, 1 in flight each",
            base_name, g_rate, a_rate, "round trips/s", "≥ 1.0 × node", cmd, note=load),
        row(f"Message round trip p50 / p99 ({n} agents)", base_name,
            f"{g['round_trip']['p50_ms']:.2f} / {g['round_trip']['p99_ms']:.2f}" if g else None,
            f"{a['round_trip']['p50_ms']:.2f} / {a['round_trip']['p99_ms']:.2f}", "ms", "—", cmd,
            higher_is_better=False),
        row("Message round trips: CPU per round trip, server + client", base_name, cpu(g_win),
            cpu(a_win), "µs CPU", "—", cmd, higher_is_better=False,
            note="; ".join(split(k, w) for k, w in (("agenthost", a_win), ("node", g_win)) if w)),
    ]
    names = {"tcp": "plain TCP echo floor (C++, epoll)",
             "mtls": "mutual-TLS echo floor (C++, OpenSSL)"}
    for k, f in floors.items():
        rows += [
            row(f"Message round trips/s vs the {names[k]}: {n} connections, {payload}-byte "
                "messages", names[k], f["report"]["rate"], a_rate, "round trips/s", "—", cmd),
            row(f"Message round trips: CPU per round trip, server + client, vs the {names[k]}",
                names[k], cpu(f["window"]), cpu(a_win), "µs CPU", "—", cmd,
                higher_is_better=False, note=split(names[k], f["window"])),
        ]
    return rows


def _sqlite_baseline(path, batches, points):
    """Raw SQLite (WAL, synchronous=FULL) with telemetry_sqlite's table: one
    transaction of INSERT OR IGNORE per batch, same batch size. The storage floor."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE telemetry (agent_id TEXT NOT NULL, metric TEXT NOT NULL, "
               "ts_ms INTEGER NOT NULL, labels_key TEXT NOT NULL, value REAL NOT NULL, "
               "PRIMARY KEY (agent_id, metric, ts_ms, labels_key)) WITHOUT ROWID")
    db.execute("CREATE INDEX telemetry_by_time ON telemetry (agent_id, ts_ms)")
    t0 = time.time()
    ts = 0
    for b in range(batches):
        rows = []
        for _ in range(points):
            ts += 1
            rows.append((f"sim-{b % 20:06d}", "agentsim.value", ts, '{"sim":"1"}', 1.5))
        db.execute("BEGIN")
        db.executemany("INSERT OR IGNORE INTO telemetry VALUES (?,?,?,?,?)", rows)
        db.execute("COMMIT")
    dt = time.time() - t0
    db.close()
    return batches * points / dt


def telemetry_ingest(ctx, profile="embedded", plugins=None):
    points, agents, in_flight = 100, 20, 2
    b = Backend(ctx.ws, name=f"ingest-{profile}", plugins=plugins).start()
    try:
        a = agentsim(ctx.ws, b.ports["agents"], ["--agents", agents, "--echo", in_flight,
                                                 "--points", points, "--threads", 2,
                                                 "--warmup", 2, "--duration", ctx.ingest_s],
                     ctx.ws.path(f"ingest-{profile}.json"), ctx.ws.path(f"ingest-{profile}.log"))
    finally:
        b.stop()
    base = None
    if profile == "embedded":
        base = _sqlite_baseline(ctx.ws.path("raw-sqlite.db"), 400, points)
    ctx.details[f"telemetry_ingest_{profile}"] = {"agenthost": a["rates"], "raw_rows_per_s": base}
    return [row(f"Telemetry ingest rows/s: {agents} agents × {in_flight} batches of {points} "
                f"points in flight ({profile})",
                "raw SQLite, same table, 1 txn per batch" if base else "—", base,
                a["rates"]["points_accepted_per_s"], "rows/s", "—",
                reproduce("telemetry_ingest"))]


def _pg_baseline(url, batches, points):
    """Raw PostgreSQL on telemetry_postgres's table of the same server: one psql
    (libpq) session, per transaction one COPY of `points` rows into a temp table and
    one INSERT … SELECT … ON CONFLICT DO NOTHING (the fastest idempotent upsert we
    found, see bench_telemetry_pg Raw_*). Returns rows/s."""
    import tempfile
    d = tempfile.mkdtemp(prefix="pgraw-")
    data = os.path.join(d, "rows.tsv")
    with open(data, "w") as f:
        for i in range(points):
            f.write(f"raw-{i % 100:03d}\tagentsim.value\t{i}\t12345\t{{\"sim\":\"1\"}}\t1.5\n")
    script = os.path.join(d, "load.sql")
    with open(script, "w") as f:
        f.write("CREATE TEMP TABLE s (LIKE telemetry) ON COMMIT DELETE ROWS;\n")
        for b in range(batches):
            f.write("BEGIN;\n\\copy s FROM '" + data + "'\n")
            f.write(f"INSERT INTO telemetry SELECT agent_id, metric, ts_ms + {(b + 1) * points * 10},"
                    " labels_hash, labels, value FROM s ON CONFLICT DO NOTHING;\nCOMMIT;\n")
    t0 = time.time()
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-f", script, url], check=True,
                   capture_output=True)
    dt = time.time() - t0
    shutil.rmtree(d, ignore_errors=True)
    return batches * points / dt


def telemetry_ingest_postgres(ctx):
    """telemetry_postgres end to end: 100 agentsim gateways over mTLS → backend → a
    private PostgreSQL 15, 2 batches of 100 points in flight each; then the raw
    baseline on the same server and table. b/a is the issue's target (>= 0.6)."""
    svc = ctx.ws.path("pg-ingest")
    script = os.path.join(ROOT, "scripts/test-services.sh")
    url = subprocess.run([script, "start", "postgres", svc], check=True, capture_output=True,
                         text=True).stdout.strip().splitlines()[-1]
    try:
        points, agents, in_flight = 100, 100, 2
        plugins = {"telemetry_sqlite": None, "telemetry_postgres": '{ url: "%s" }' % url}
        b = Backend(ctx.ws, name="ingest-postgres", plugins=plugins, blocking_threads=4).start()
        try:
            a = agentsim(ctx.ws, b.ports["agents"], ["--agents", agents, "--echo", in_flight,
                                                     "--points", points, "--threads", 2,
                                                     "--warmup", 2, "--duration", ctx.ingest_s],
                         ctx.ws.path("ingest-postgres.json"), ctx.ws.path("ingest-postgres.log"))
        finally:
            b.stop()
        base = _pg_baseline(url, 40, 10000)
    finally:
        subprocess.run([script, "destroy", "postgres", svc], capture_output=True)
    got = a["rates"]["points_accepted_per_s"]
    ctx.details["telemetry_ingest_postgres"] = {"agenthost": a["rates"], "raw_rows_per_s": base,
                                                "ratio": got / base if base else None}
    return [row(f"Telemetry ingest rows/s: {agents} agents × {in_flight} batches of {points} "
                "points in flight (telemetry_postgres)",
                "raw libpq COPY + INSERT … ON CONFLICT, same table", base, got, "rows/s",
                "b/a >= 0.6", reproduce("telemetry_ingest_postgres"))]


SCENARIOS = {
    "connection_scale": connection_scale,
    "handshake_rate": handshake_rate,
    "frame_path": frame_path,
    "message_round_trips": message_round_trips,
    "telemetry_ingest": telemetry_ingest,
    "telemetry_ingest_postgres": telemetry_ingest_postgres,
}
# The command scenarios (tools/apiload as the API client) live in commands.py.
SCENARIOS.update(commands.SCENARIOS)
