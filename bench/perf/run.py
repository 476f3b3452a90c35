"""`make bench` driver: runs the scenarios (each with its baseline in the same run)
and writes <build>/bench-results/performance.md (docs/PERFORMANCE.md-ready tables)
and results.json.

usage: python3 -m bench.perf.run BUILD [--only a,b] [--agents N] [--cmd-agents N]
       [--cmd-scale-agents N] [--cmd-rate R] [--cmd-paced-s S] [--cmd-burst N] [--keep]
"""
import argparse
import json
import os
import platform
import sys
import time
import traceback

from .common import Workspace, machine, raise_nofile
from .scenarios import SCENARIOS


class Ctx:
    pass


def fmt(v, unit=""):
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def markdown(rows, mach, stamp):
    out = [f"Measured {stamp} on {mach}; loopback; every baseline ran in the same run.", "",
           "| scenario | baseline | baseline figure | agenthost | ratio | target | machine | "
           "command to reproduce |",
           "|---|---|---|---|---|---|---|---|"]
    short = mach.split(",")[0] + ", " + mach.split(",")[1].strip() if "," in mach else mach
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") is not None else "—"
        out.append(f"| {r['scenario']} | {r['baseline_name']} | {fmt(r['baseline'])} "
                   f"{r['unit'] if r['baseline'] is not None else ''} | {fmt(r['agenthost'])} "
                   f"{r['unit']} | {ratio} | {r['target']} | {short} | `{r['command']}` |")
    notes = [f"- {r['scenario']}: {r['note']}" for r in rows if r.get("note")]
    if notes:
        out += ["", "Notes (machine load when measured, etc.):"] + notes
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bench.perf.run")
    ap.add_argument("build")
    ap.add_argument("--only", default="", help="comma-separated scenario names")
    ap.add_argument("--agents", type=int, default=10000, help="connection scale agents")
    ap.add_argument("--cmd-agents", type=int, default=100,
                    help="agents of the command scenarios")
    ap.add_argument("--cmd-scale-agents", type=int, default=10000,
                    help="connected agents of command_round_trip_redis_scale")
    ap.add_argument("--cmd-rate", type=float, default=1000,
                    help="paced command rate (commands/s) for the round-trip figures")
    ap.add_argument("--cmd-paced-s", type=float, default=10,
                    help="seconds of paced commands")
    ap.add_argument("--cmd-burst", type=int, default=20000,
                    help="commands enqueued at once for the max sustained rate")
    ap.add_argument("--keep", action="store_true", help="keep the temp workspace")
    ap.add_argument("--shared-key", action="store_true",
                    help="one EC key for all minted agent certificates")
    a = ap.parse_args(argv)
    raise_nofile()
    ctx = Ctx()
    ctx.build = os.path.abspath(a.build)
    ctx.out = os.path.join(ctx.build, "bench-results")
    os.makedirs(ctx.out, exist_ok=True)
    ctx.agents = a.agents
    ctx.shared_key = a.shared_key
    ctx.idle_window_s = 10
    ctx.hs_concurrency = 16
    ctx.hs_duration_s = 10
    ctx.rt_agents = 100
    ctx.rt_duration_s = 10
    ctx.cmd_agents = a.cmd_agents
    ctx.cmd_scale_agents = a.cmd_scale_agents
    ctx.cmd_rate = a.cmd_rate
    ctx.cmd_paced_s = a.cmd_paced_s
    ctx.cmd_burst = a.cmd_burst
    ctx.ingest_s = 10
    ctx.details = {}
    names = [n for n in a.only.split(",") if n] or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario(s) {unknown}; known: {', '.join(SCENARIOS)}")
    ctx.ws = Workspace(ctx.build, keep=a.keep)
    mach = machine()
    rows, failures, timings = [], {}, {}
    try:
        for name in names:
            print(f"=== {name}", flush=True)
            t0 = time.time()
            try:
                got = SCENARIOS[name](ctx)
                rows.extend(got)
                for r in got:
                    print(f"  {r['scenario']}: agenthost {fmt(r['agenthost'])} {r['unit']}, "
                          f"baseline {fmt(r['baseline'])}"
                          + (f", ratio {r['ratio']:.2f}" if r.get('ratio') is not None else ""),
                          flush=True)
            except Exception as e:  # a failed scenario is reported, the others still run
                failures[name] = f"{e}"
                traceback.print_exc()
            timings[name] = time.time() - t0
            print(f"  ({timings[name]:.0f} s)", flush=True)
    finally:
        ctx.ws.close()
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    md = markdown(rows, mach, stamp)
    if failures:
        md += "\nFailed scenarios: " + "; ".join(f"{k}: {v}" for k, v in failures.items()) + "\n"
    open(os.path.join(ctx.out, "performance.md"), "w").write(md)
    json.dump({"machine": mach, "python": platform.python_version(), "when": stamp,
               "rows": rows, "details": ctx.details, "failures": failures,
               "seconds": timings}, open(os.path.join(ctx.out, "results.json"), "w"), indent=2)
    print(md)
    print(f"results: {ctx.out}/performance.md, results.json")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
