"""Simulated agents for bench/soak.py: the real agent spool and uploader, fed in compressed time.

Each simulated machine is a real `devfleet_agent` Spool (SQLite on disk) and Uploader thread
(backoff, 429/5xx handling, batching), exactly as `devfleet-agent run` drives them; only the
collectors are replaced by apps/simulator's trace generator, whose samples carry simulated
collection times. The simulated clock runs `speed` times faster than the wall clock and stays
behind it, so the server sees an agent draining a recent backlog (no clock-skew correction:
`sent_at` is the real time of the upload). Writes, in the work directory:

  generated.tsv   machine id, sample id, gopls processes in the sample (one line per sample)
  uploads.tsv     wall time, machine index, outcome kind, detail (one line per attempt)
  summary.json    per machine: spool stats at the end (depth, dropped, rejected)

usage: python bench/soak_agents.py CONFIG.json   (written by bench/soak.py)
"""

from __future__ import annotations

import json
import random
import signal
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "agent")]

from apps.simulator import inventory as sim_inventory  # noqa: E402
from apps.simulator.catalog import TEAMS  # noqa: E402
from apps.simulator.fleet import MachineSpec, build_machine  # noqa: E402
from apps.simulator.reports import MachineSim, iso  # noqa: E402
from devfleet_agent import transport  # noqa: E402
from devfleet_agent.config import validate  # noqa: E402
from devfleet_agent.spool import Spool  # noqa: E402
from devfleet_agent.state import State  # noqa: E402
from devfleet_agent.uploader import Outcome, Uploader  # noqa: E402

COLLECT_S, UPLOAD_S, DRAIN_S = 15.0, 60.0, 5.0  # the agent's defaults, in simulated seconds


def fleet(cfg: dict) -> list[MachineSpec]:
    """The soak fleet: `machines` drawn at random plus one machine per forced scenario."""
    specs = [build_machine(cfg["seed"], i, list(TEAMS), "soak") for i in range(cfg["machines"])]
    for index, scenario in cfg.get("forced", []):
        specs.append(build_machine(cfg["seed"], index, list(TEAMS), "soak", [scenario]))
    return specs


class SimClock:
    """Simulated epoch seconds: sim_t0 at wall_t0, advancing `speed` times the wall clock."""

    def __init__(self, sim_t0: float, wall_t0: float, speed: float) -> None:
        self.sim_t0, self.wall_t0, self.speed = sim_t0, wall_t0, speed

    def now(self) -> float:
        return self.sim_t0 + (time.time() - self.wall_t0) * self.speed


class RecordingUploader(Uploader):
    """The real uploader; each attempt's outcome is appended to a shared log."""

    log: list[tuple[float, int, str, str]] = []
    index = -1

    def upload_once(self) -> Outcome:
        outcome = super().upload_once()
        if outcome.kind != "idle":
            detail = " ".join(outcome.detail.split())[:120]  # one line in uploads.tsv
            self.log.append((time.time(), self.index, outcome.kind, detail))
        return outcome


def enroll(server: str, token: str, spec: MachineSpec, state: State, stop) -> None:
    """What `devfleet-agent enroll` does, with the simulated machine's identity."""
    delay = 1.0
    while not stop.is_set():
        try:
            resp = transport.post_json(
                server + "/api/v1/enroll", {"token": token, **spec.identity()}, compress=False
            )
            if resp.status in (200, 201):
                body = resp.body
                state.save_credential(
                    {
                        "server_url": server,
                        "machine_id": body["machine_id"],
                        "credential": body["credential"],
                        "report_url": body.get("report_url") or "/api/v1/reports",
                    }
                )
                return
        except transport.TransportError:
            pass
        stop.wait(delay)
        delay = min(10.0, delay * 2)


def main(config_path: str) -> int:
    cfg = json.loads(Path(config_path).read_text())
    work = Path(cfg["work"])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    clock = SimClock(cfg["sim_t0"], cfg["wall_t0"], cfg["speed"])
    speed = cfg["speed"]
    specs = fleet(cfg)
    sims, spools, uploaders = [], [], []
    for index, spec in enumerate(specs):
        state = State(work / "agents" / spec.machine_id)
        enroll(cfg["server"], cfg["tokens"][spec.team], spec, state, stop)
        spool = Spool(state.spool_file)
        spool.set_json("pending_inventory", sim_inventory.inventory(spec, iso(cfg["sim_t0"])))
        config = validate(
            {
                "server_url": cfg["server"],
                "state_dir": str(state.dir),
                "collect_interval_s": COLLECT_S / speed,
                "upload_interval_s": UPLOAD_S / speed,
                "drain_interval_s": DRAIN_S / speed,
                "follow_server_intervals": False,
                "http_timeout_s": 15.0,
            }
        )
        sim = MachineSim(spec)
        uploader = RecordingUploader(
            config, spool, state, machine=lambda sim=sim: sim.identity_facts(clock.now())
        )
        uploader.index = index
        sims.append(sim)
        spools.append(spool)
        uploaders.append(uploader)
    print(f"agents: {len(specs)} machines enrolled", flush=True)

    threads = [
        threading.Thread(
            target=u.run,
            args=(stop, None, random.uniform(0, UPLOAD_S / speed)),
            name=f"uploader-{i}",
            daemon=True,
        )
        for i, u in enumerate(uploaders)
    ]
    for thread in threads:
        thread.start()
    generated = (work / "generated.tsv").open("a", encoding="utf-8")
    uploads = (work / "uploads.tsv").open("a", encoding="utf-8")
    last = [cfg["sim_t0"]] * len(specs)
    feeding = True
    drain_deadline = None
    while not stop.is_set():
        now = min(clock.now(), cfg["sim_end"])
        if feeding:
            for i, (sim, spool) in enumerate(zip(sims, spools)):
                for sample in sim.samples(last[i], now):
                    spool.add(sample)  # as the agent's collection cycle does
                    gopls = len(sample.get("gopls") or [])
                    generated.write(f"{sim.spec.machine_id}\t{sample['id']}\t{gopls}\n")
                last[i] = now
            generated.flush()
            if now >= cfg["sim_end"]:
                feeding = False
                drain_deadline = time.time() + cfg["drain_timeout_s"]
                print("agents: simulated period over; draining spools", flush=True)
        flush_log(uploads)
        if not feeding and (all(not s.peek(1) for s in spools) or time.time() > drain_deadline):
            break
        stop.wait(COLLECT_S / speed)
    stop.set()
    for thread in threads:
        thread.join(timeout=20)
    flush_log(uploads)
    summary = {spec.machine_id: spool.stats() for spec, spool in zip(specs, spools)}
    (work / "summary.json").write_text(json.dumps(summary, indent=1))
    left = sum(s["spool_depth"] for s in summary.values())
    print(f"agents: stopped; {left} samples left in spools", flush=True)
    return 0


def flush_log(out) -> None:
    log = RecordingUploader.log
    while log:
        at, index, kind, detail = log.pop(0)
        out.write(f"{at:.3f}\t{index}\t{kind}\t{detail}\n")
    out.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
