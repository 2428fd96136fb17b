"""Ground truth of a run: which machine got which injected problem, with parameters and onset."""

from __future__ import annotations

import collections

from apps.simulator.fleet import MachineSpec
from apps.simulator.reports import iso_s
from apps.simulator.timeline import kills, lifetimes

MANIFEST_VERSION = 1


def onset(spec: MachineSpec, scenario: str, t0: float, t1: float) -> float | None:
    """When the problem's signature first shows in the window: the window start if it already
    shows there, None if it does not show in this window at all (e.g. no OOM kill yet)."""
    main = spec.slots[0]
    params = spec.problem(scenario) or {}
    lives = lifetimes(spec, main, t0, t1)
    if scenario == "oom_kill":
        inside = [k for k in kills(spec, t0, t1).tolist() if t0 < k <= t1]
        return inside[0] if inside else None
    if scenario == "crash_loop":
        return max(t0, lives[0].start) if lives else None
    delay = {
        "gopls_leak": main.load_s + params.get("after_load_s", 0),
        "cpu_pegged": main.load_s + params.get("after_start_s", 0),
    }.get(scenario)
    if scenario == "gopls_leak":  # in any of the leaking workspaces
        lives = [lt for slot in _leaking(spec) for lt in lifetimes(spec, slot, t0, t1)]
    if delay is not None:
        starts = [lt.start + delay for lt in lives if lt.start + delay < min(lt.end, t1)]
        return max(t0, min(starts)) if starts else None
    return t0


def machine_entry(spec: MachineSpec, t0: float, t1: float) -> dict:
    problems = []
    for problem in spec.problems:
        at = onset(spec, problem.scenario, t0, t1)
        problem.onset = iso_s(at) if at is not None else None
        problems.append(problem.as_dict())
    return {
        "machine_id": spec.machine_id,
        "index": spec.index,
        "hostname": spec.hostname,
        "team": spec.team,
        "owner": spec.owner,
        "platform": spec.platform,
        "os": spec.os,
        "editor": spec.editor,
        "gopls_version": spec.gopls_version,
        "go_version": spec.go_version,
        "mem_total_bytes": spec.mem_total,
        "cpu_count": spec.cpu_count,
        "projects": sorted({s.project for s in spec.slots}),
        "gopls_servers": len(spec.slots),
        "healthy": not spec.problems,
        "problems": problems,
    }


def build(specs: list[MachineSpec], seed: int, t0: float, t1: float, interval: int) -> dict:
    """The manifest (`--manifest PATH`), JSON:

    {"manifest_version": 1, "seed", "window": {"start", "end"}, "interval_s",
     "machines": [{"machine_id", "index", "hostname", "team", "owner", "platform"
                   (linux|darwin|windows|wsl2|wsl1), "os", "editor", "gopls_version",
                   "go_version", "mem_total_bytes", "cpu_count", "projects", "gopls_servers",
                   "healthy", "problems": [{"scenario", "params", "caused_by", "onset",
                                            "in_window", "expected", "may_also_show",
                                            ("peers", "note" for memory_outlier)}]}],
     "scenarios": {scenario id: [machine_id, ...]}, "healthy": [machine_id, ...]}

    A detector passes when every problem with expected=true gives its finding on its machine,
    findings listed in may_also_show are tolerated there, and healthy machines get none.
    `caused_by` links consequences (crash_loop caused by gomemlimit_bad_suffix, ...).
    """
    machines = [machine_entry(spec, t0, t1) for spec in specs]
    _mark_outliers_without_peers(specs, machines)
    _mark_restarted_leaks(specs, machines, t1)
    by_scenario: dict[str, list[str]] = collections.defaultdict(list)
    for entry in machines:
        for problem in entry["problems"]:
            by_scenario[problem["scenario"]].append(entry["machine_id"])
    return {
        "manifest_version": MANIFEST_VERSION,
        "seed": seed,
        "window": {"start": iso_s(t0), "end": iso_s(t1)},
        "interval_s": interval,
        "machines": machines,
        "scenarios": dict(sorted(by_scenario.items())),
        "healthy": [m["machine_id"] for m in machines if m["healthy"]],
    }


# Leaking this long in the gopls running at the window's end, a leak is detectable: the
# detector wants ~15 minutes of settling and 50+ minutes of growth (DEFAULTS in thresholds.py).
LEAK_DETECTABLE_S = 90 * 60


def _leaking(spec: MachineSpec) -> list:
    return [slot for slot in spec.slots if slot.leaking] or spec.slots[:1]


def leak_detectable(spec: MachineSpec, t: float) -> bool:
    """Whether a gopls running at t has itself leaked long enough to be detected: a leak
    finding is about one gopls lifetime and ends when that process exits (the advice is to
    restart gopls), and a restarted one takes its load, the onset and LEAK_DETECTABLE_S."""
    params = spec.problem("gopls_leak") or {}
    for slot in _leaking(spec):
        delay = slot.load_s + params.get("after_load_s", 0)
        running = [lt for lt in lifetimes(spec, slot, t - 1, t) if lt.end > t]
        if running and t - (running[-1].start + delay) >= LEAK_DETECTABLE_S:
            return True
    return False


def _mark_restarted_leaks(specs: list[MachineSpec], machines: list[dict], t1: float) -> None:
    """A leak is expected only if a gopls running at the window's end has leaked long enough
    (the leaking workspaces are restarted half a cycle apart, so one of them has, except
    within ~2.3 h of a reboot)."""
    for spec, entry in zip(specs, machines):
        for problem in entry["problems"]:
            if problem["scenario"] != "gopls_leak" or not problem["expected"]:
                continue
            if not leak_detectable(spec, t1):
                problem["expected"] = False
                problem["note"] = (
                    "the leaking gopls were restarted; none running has leaked long enough "
                    "to be detected yet"
                )


def _mark_outliers_without_peers(specs: list[MachineSpec], machines: list[dict]) -> None:
    """A fleet outlier needs peers: 3+ machines of this run on the same project with no memory
    problem of their own; otherwise the problem is listed but not expected to be found."""
    memory = {"gopls_leak", "memory_outlier", "oom_kill", "cgroup_memory_low"}
    for spec, entry in zip(specs, machines):
        for problem in entry["problems"]:
            if problem["scenario"] != "memory_outlier":
                continue
            project = spec.slots[0].project
            peers = sum(
                1
                for other in specs
                if other is not spec
                and any(s.project == project and s.role != "orphan" for s in other.slots)
                and not memory & {p.scenario for p in other.problems}
            )
            problem["peers"] = peers
            if peers < 3:
                problem["expected"] = False
                problem["note"] = "fewer than 3 peers on the same project in this fleet"


def summary_lines(manifest: dict) -> list[str]:
    """A fixed-width table: one line per machine, then counts per scenario."""
    lines = [f"{'machine':<16} {'platform':<8} {'editor':<13} {'gopls':<8} {'team':<15} problems"]
    for m in manifest["machines"]:
        problems = ", ".join(p["scenario"] for p in m["problems"]) or "-"
        lines.append(
            f"{m['machine_id']:<16} {m['platform']:<8} {m['editor']:<13} "
            f"{m['gopls_version']:<8} {m['team'][:15]:<15} {problems}"
        )
    counts = ", ".join(f"{k}={len(v)}" for k, v in manifest["scenarios"].items())
    lines.append(f"healthy: {len(manifest['healthy'])}/{len(manifest['machines'])}; {counts}")
    return lines
