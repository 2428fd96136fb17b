"""Agent footprint benchmark: CPU ms per collection cycle, steady RSS, cache-walk cost per GB.

usage: .venv/bin/python bench/agent_footprint.py [--cycles 60] [--skip-real-gopls]

Scenarios
  1. one real gopls (tools/real-gopls.sh + tools/lspdrive.py with -debug), if installable;
  2. 50 fake gopls processes (a tiny Go or C program named `gopls`, idle);
  3. the cache walk alone, over a real Go tree (GOROOT of the real Go, else sys.prefix).

CPU is time.process_time() of this process around one full agent cycle (collectors + spool
write), run in-process with a simulated clock advancing collect_interval_s (15 s) per cycle, so
interval-based collectors (inotify every 60 s, inventory every 300 s) run at their real cadence.
The budgeted cache walk is excluded from the cycle figures and measured separately (scenario 3).
RSS is reported twice: of this bench process after the cycles (includes the bench itself), and
of a separate `python -m devfleet_agent run` subprocess after ~20 s of 1 s cycles.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

from devfleet_agent.agent import Agent
from devfleet_agent.collectors.caches import CacheWalk
from devfleet_agent.config import validate

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / "tools"
REAL = Path(os.environ.get("DEVFLEET_REAL_GOPLS_DIR", "/tmp/devfleet-real-gopls"))
GOAL_CPU_MS = 10.0
GOAL_RSS_MB = 30.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure_cycles(cycles: int, state: Path, pause: float = 0.05) -> dict[str, float]:
    cfg = validate({"state_dir": str(state), "disabled_collectors": ["go_caches"]})
    agent = Agent(cfg)
    clock = [time.monotonic()]
    agent.ctx.monotonic = lambda: clock[0]
    costs = []
    for i in range(cycles + 1):
        t0 = time.process_time()
        agent.spool_cycle()
        cost = (time.process_time() - t0) * 1000.0
        if i:  # the first cycle runs every inventory collector and fills caches
            costs.append(cost)
        clock[0] += cfg.collect_interval_s
        time.sleep(pause)
    rss = psutil.Process().memory_info().rss / 2**20
    gopls = len(agent.ctx.facts.gopls)
    return {"median": statistics.median(costs), "p99": percentile(costs, 0.99),
            "max": max(costs), "first": cost if cycles == 0 else costs[0], "rss_mb": rss,
            "gopls_seen": gopls}


def start_real_gopls() -> tuple[subprocess.Popen, int] | None:
    if not (REAL / "bin" / "gopls").exists():
        r = subprocess.run(["bash", str(TOOLS / "real-gopls.sh"), str(REAL)],
                           capture_output=True, check=False)
        if r.returncode != 0:
            return None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PATH=f"{REAL / 'bin'}:{os.environ['PATH']}", GOFLAGS="-mod=mod",
               GOPROXY="off")
    os.environ["PATH"] = env["PATH"]
    drive = subprocess.Popen([sys.executable, str(TOOLS / "lspdrive.py"),
                              str(REAL / "bin" / "gopls"), str(REAL / "synth"), "600",
                              f"localhost:{port}"], stdout=subprocess.DEVNULL, env=env)
    for _ in range(90):
        try:
            urllib.request.urlopen(f"http://localhost:{port}/debug/pprof/goroutine?debug=1",
                                   timeout=2).close()
            time.sleep(3)
            return drive, port
        except OSError:
            time.sleep(0.5)
    drive.kill()
    return None


def build_fake_gopls(tmp: Path) -> Path | None:
    """A tiny idle program named gopls: Go if available, else C."""
    go = shutil.which("go") or (str(REAL / "bin" / "go") if (REAL / "bin" / "go").exists()
                                else None)
    exe = tmp / "fake" / "gopls"
    exe.parent.mkdir(parents=True, exist_ok=True)
    if go:
        src = tmp / "fakegopls"
        src.mkdir(exist_ok=True)
        (src / "go.mod").write_text("module fakegopls\n\ngo 1.21\n")
        (src / "main.go").write_text("package main\n\nimport \"time\"\n\n"
                                     "func main() { for { time.Sleep(time.Hour) } }\n")
        r = subprocess.run([go, "build", "-o", str(exe), "."], cwd=src, capture_output=True,
                           env=dict(os.environ, GOFLAGS="-mod=mod", GOPROXY="off"), check=False)
        if r.returncode == 0:
            return exe
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc:
        (tmp / "g.c").write_text("#include <unistd.h>\nint main(){for(;;)pause();}\n")
        if subprocess.run([cc, "-o", str(exe), str(tmp / "g.c")], check=False).returncode == 0:
            return exe
    return None


def cache_walk_cost(root: Path) -> dict[str, float]:
    walk = CacheWalk({"gocache": root})
    t0, w0 = time.process_time(), time.perf_counter()
    while not walk.done:
        walk.step(10.0)
    cpu, wall = time.process_time() - t0, time.perf_counter() - w0
    gb = (walk.sizes["gocache"] or 0) / 2**30
    return {"gb": gb, "entries": walk.entries, "cpu_s": cpu, "wall_s": wall,
            "cpu_s_per_gb": cpu / gb if gb else float("nan"),
            "cpu_ms_per_10k_entries": cpu * 1000 / max(1, walk.entries) * 10000}


def subprocess_rss(tmp: Path, seconds: float = 20.0) -> float | None:
    env = dict(os.environ, DEVFLEET_AGENT_STATE_DIR=str(tmp / "sub-state"),
               DEVFLEET_AGENT_COLLECT_INTERVAL_S="1", DEVFLEET_AGENT_DISABLED_COLLECTORS="")
    proc = subprocess.Popen([sys.executable, "-m", "devfleet_agent", "run"], env=env,
                            stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        time.sleep(seconds)
        return psutil.Process(proc.pid).memory_info().rss / 2**20
    except psutil.Error:
        return None
    finally:
        proc.terminate()
        proc.wait(10)


def report(name: str, r: dict[str, float]) -> None:
    ok = "meets" if r["median"] <= GOAL_CPU_MS else "MISSES"
    print(f"{name:<28} median {r['median']:6.2f} ms  p99 {r['p99']:6.2f} ms  "
          f"max {r['max']:6.2f} ms  (gopls servers seen: {r['gopls_seen']}; {ok} the "
          f"≤ {GOAL_CPU_MS:.0f} ms median goal)  bench-process RSS {r['rss_mb']:.1f} MB")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=60)
    ap.add_argument("--skip-real-gopls", action="store_true")
    ap.add_argument("--walk-root", type=Path)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="devfleet-bench-"))
    print(__doc__.split("\n\n", 1)[1].split("\n\n")[1].strip() + "\n")
    print(f"CPU ms per 15 s collection cycle ({args.cycles} cycles, cache walk excluded):")
    report("baseline (no gopls)", measure_cycles(args.cycles, tmp / "s0"))
    if not args.skip_real_gopls:
        started = start_real_gopls()
        if started is None:
            print("one real gopls:             skipped (cannot install/run the real gopls)")
        else:
            drive, _port = started
            try:
                report("one real gopls (-debug)", measure_cycles(args.cycles, tmp / "s1"))
            finally:
                drive.kill()
                drive.wait(10)
                subprocess.run(["pkill", "-P", str(drive.pid)], check=False)
    fake = build_fake_gopls(tmp)
    if fake is None:
        print("50 fake gopls processes:    skipped (no go or cc to build a fake gopls)")
    else:
        procs = [subprocess.Popen([str(fake), "-rpc.trace"], stdin=subprocess.DEVNULL)
                 for _ in range(50)]
        try:
            time.sleep(0.5)
            report("50 fake gopls processes", measure_cycles(args.cycles, tmp / "s2"))
        finally:
            for p in procs:
                p.kill()
            for p in procs:
                p.wait(5)
    root = args.walk_root or (REAL / "venv" / "lib" / f"python{sys.version_info[0]}."
                              f"{sys.version_info[1]}" / "site-packages" / "go")
    if not root.is_dir():
        root = Path(sys.prefix)
    w = cache_walk_cost(root)
    print(f"\ncache walk over {root}: {w['gb']:.2f} GB, {w['entries']} entries, "
          f"{w['cpu_s']:.2f} s CPU ({w['wall_s']:.2f} s wall) → {w['cpu_s_per_gb']:.2f} s CPU "
          f"per GB, {w['cpu_ms_per_10k_entries']:.0f} ms per 10k entries; run at most hourly "
          "in slices of cache_walk_budget_ms (40 ms) per cycle")
    rss = subprocess_rss(tmp)
    verdict = "meets" if rss is not None and rss <= GOAL_RSS_MB else "MISSES"
    print(f"\nsteady RSS of `python -m devfleet_agent run` (separate process, after 20 s of "
          f"1 s cycles): {rss:.1f} MB ({verdict} the ≤ {GOAL_RSS_MB:.0f} MB goal)"
          if rss is not None else "steady RSS of a separate agent process: unavailable")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
