"""Builds the simulated fleet: machine identities, editors, versions, projects, teams, problems."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from apps.simulator import catalog as C
from apps.simulator.problems import Problem, assign, by_id, expand
from apps.simulator.scenarios import SCENARIOS


def rng_for(seed: int, *key) -> np.random.Generator:
    """A generator that depends only on the seed and the key (order-independent, reproducible)."""
    digest = hashlib.blake2b(repr((seed, *key)).encode(), digest_size=16).digest()
    return np.random.default_rng(np.frombuffer(digest, dtype=np.uint32))


@dataclass
class Slot:
    """One gopls server a machine keeps running (one per editor window / project)."""

    name: str
    project: str
    size: str
    plateau: int  # live heap after the initial workspace load, bytes
    load_s: float
    editor: str
    mean_life_s: float
    restart_every_s: float | None = None  # fixed restarts (a user restarting a leaking gopls)
    restart_phase_s: float = 0.0  # those restarts come this much earlier (staggered leaks)
    leaking: bool = False  # runs the leaking gopls build (gopls_leak)
    debug: bool = True
    role: str = "main"  # main | extra | orphan | crash


@dataclass
class MachineSpec:
    index: int
    seed: int
    machine_id: str
    hostname: str
    owner: str
    team: str
    platform: str  # linux | darwin | windows | wsl2 | wsl1
    os: str
    os_version: str
    kernel: str
    arch: str
    cpu_count: int
    host_mem: int
    mem_total: int  # what the OS inside sees (the VM cap on WSL2)
    tz_offset_h: int
    editor: str
    gopls_version: str
    gopls_go: str
    go_version: str
    home: str
    disk_total: int
    inotify_max: int | None
    slots: list[Slot] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def wsl_version(self) -> int | None:
        return {"wsl2": 2, "wsl1": 1}.get(self.platform)

    def problem(self, scenario: str) -> dict | None:
        return by_id(self.problems).get(scenario)

    def identity(self) -> dict:
        wsl = None
        if self.wsl_version:
            wsl = {
                "version": self.wsl_version,
                "distro": self.os_version.split(" ")[0],
                "kernel": self.kernel,
                "interop": self.wsl_version == 2,
            }
        return {
            "machine_id": self.machine_id,
            "hostname": self.hostname,
            "os": self.os,
            "os_version": self.os_version,
            "arch": self.arch,
            "kernel": self.kernel,
            "agent_version": C.AGENT_VERSION,
            "owner": self.owner,
            "wsl": wsl,
        }


def _weighted(rng, mapping: dict, weight_of) -> str:
    keys = list(mapping)
    weights = np.array([weight_of(mapping[k]) for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=weights / weights.sum()))]


def team_projects(team: str, seed: int) -> list[tuple[str, str]]:
    """3-5 projects per team; the monorepo-style ones are shared across teams."""
    rng = rng_for(seed, "team-projects", team)
    picks = rng.choice(len(C.PROJECTS), size=int(rng.integers(3, 6)), replace=False)
    return [C.PROJECTS[i] for i in sorted(picks)]


def _team(seed: int, index: int, teams: list[str]) -> str:
    """Teams of different sizes: the first team is about 3x the size of the last of five."""
    weights = np.array([1.0 / (1 + 0.5 * k) for k in range(len(teams))])
    pick = rng_for(seed, "team", index).choice(len(teams), p=weights / weights.sum())
    return teams[int(pick)]


def _editor_for(rng, platform: str, needs_vscode: bool) -> str:
    if platform in ("wsl2", "wsl1"):
        return "vscode-server" if needs_vscode or rng.random() < 0.7 else "neovim"
    pool = {k: v for k, v in C.EDITORS.items() if platform in v[0] and v[3] > 0}
    if needs_vscode:
        pool = {k: v for k, v in pool.items() if k in C.VSCODE_FAMILY}
    return _weighted(rng, pool, lambda v: v[3])


def _second_editor(spec: MachineSpec) -> str:
    """The terminal editor a developer keeps next to the main one."""
    if spec.platform == "windows":
        return "sublime" if spec.editor != "sublime" else "vscode"
    return "neovim" if spec.editor != "neovim" else "helix"


def _inotify_max(rng, platform: str, kernel: str, mem: int) -> int | None:
    if platform in ("darwin", "windows", "wsl1"):
        return None
    if kernel in C.OLD_KERNELS:
        return 8192
    if rng.random() < 0.35:
        return 524288  # raised by the developer or the distro
    return int(min(1048576, max(8192, mem // 100 // 1338)))


def build_machine(
    seed: int, index: int, teams: list[str], prefix: str = "sim", force: list[str] | None = None
) -> MachineSpec:
    """Everything about machine `index` of the fleet `seed`; pure and reproducible.

    `force` injects exactly these scenarios (and their companions) instead of drawing them.
    """
    rng = rng_for(seed, "machine", index)
    platform = _weighted(rng, C.PLATFORMS, lambda v: v[0])
    if force:
        allowed = set.intersection(*(set(SCENARIOS[s].platforms) for s in force))
        platform = platform if platform in allowed else sorted(allowed)[0]
    _, os_name, versions, kernels = C.PLATFORMS[platform]
    if force is None:
        problems = assign(rng, platform)
    else:
        problems = expand(rng, [(s, SCENARIOS[s].params(rng)) for s in force], platform)
    needs_vscode = any(SCENARIOS[p.scenario].needs_vscode for p in problems)
    editor = _editor_for(rng, platform, needs_vscode)
    user = C.FIRST_NAMES[index % len(C.FIRST_NAMES)]
    if index >= len(C.FIRST_NAMES):
        user = f"{user}{index // len(C.FIRST_NAMES) + 1}"
    kernel = str(rng.choice(kernels))
    if platform == "linux" and rng.random() < 0.12:
        kernel = str(rng.choice(C.OLD_KERNELS))
    host_mem = int(rng.choice(C.RAM_CHOICES))
    mem_total = host_mem // 2 - 120 * C.MiB if platform == "wsl2" else host_mem - 300 * C.MiB
    spec = MachineSpec(
        index=index,
        seed=seed,
        machine_id=f"{prefix}-{seed}-{index:05d}",
        hostname=f"{user}-{rng.choice(C.HOST_WORDS[platform])}-{int(rng.integers(1, 99)):02d}",
        owner=user,
        team=_team(seed, index, teams),
        platform=platform,
        os=os_name,
        os_version=str(rng.choice(versions)),
        kernel=kernel,
        arch="arm64" if platform == "darwin" and rng.random() < 0.8 else "x86_64",
        cpu_count=int(rng.choice(C.CPU_CHOICES)),
        host_mem=host_mem,
        mem_total=mem_total,
        tz_offset_h=int(rng.choice([-8, -5, 0, 1, 2, 5, 8])),
        editor=editor,
        gopls_version="",
        gopls_go="",
        go_version="",
        home=_home(platform, user),
        disk_total=int(rng.choice([256, 512, 512, 1024, 2048])) * 10**9,
        inotify_max=None,
        problems=problems,
    )
    spec.inotify_max = _inotify_max(rng, platform, kernel, mem_total)
    exhausted = spec.problem("inotify_exhaustion")
    if exhausted:
        if platform == "wsl2":
            exhausted["max_user_watches"] = 65536
        elif exhausted["max_user_watches"] == 8192:
            spec.kernel = str(rng.choice(C.OLD_KERNELS))  # pre-5.11: the 8192 default
        spec.inotify_max = exhausted["max_user_watches"]
    old = spec.problem("old_gopls")
    version = old["version"] if old else str(rng.choice(C.HEALTHY_GOPLS, p=C.HEALTHY_WEIGHTS))
    _, spec.gopls_go, spec.go_version = C.release(version)
    spec.gopls_version = version
    _add_slots(rng, spec, team_projects(spec.team, seed))
    return spec


def _home(platform: str, user: str) -> str:
    return {"darwin": f"/Users/{user}", "windows": f"C:\\Users\\{user}"}.get(
        platform, f"/home/{user}"
    )


def _slot(rng, spec: MachineSpec, name: str, project: tuple[str, str], role: str) -> Slot:
    module, size = project
    (lo, hi), (llo, lhi) = C.SIZE_CLASSES[size]
    # the same project loads to about the same heap everywhere (±12%): peers are comparable
    base = rng_for(spec.seed, "project-plateau", module).uniform(lo, hi)
    plateau = int(base * rng.uniform(0.88, 1.12))
    load_s = float(rng.uniform(llo, lhi) * (8 / max(4, spec.cpu_count)) ** 0.5)
    return Slot(
        name=name,
        project=module,
        size=size,
        plateau=plateau,
        load_s=load_s,
        editor=spec.editor,
        mean_life_s=float(rng.uniform(8, 30)) * 3600,
        role=role,
    )


def _add_slots(rng, spec: MachineSpec, projects: list[tuple[str, str]]) -> None:
    # Healthy machines keep big projects for big machines: RSS stays a small share of RAM.
    fits = [p for p in projects if spec.mem_total >= C.SIZE_MIN_MEM[p[1]]]
    fits = fits or [p for p in C.PROJECTS if p[1] == "small"]
    order = rng.permutation(len(fits))
    count = 2 if rng.random() < 0.3 and len(fits) > 1 else 1
    if spec.problem("gopls_leak"):  # two workspaces, so a leak always shows (_stagger_leaks)
        count = 2
    many = spec.problem("too_many_gopls")
    if many:
        count = many["count"]
    for i in range(count):
        project = fits[int(order[i % len(fits)])]
        spec.slots.append(_slot(rng, spec, f"s{i}", project, "main" if i == 0 else "extra"))
    if count == 2 and not many:  # a second project open in a terminal editor: one gopls each
        spec.slots[1].editor = _second_editor(spec)
    if spec.problem("crash_loop"):
        spec.slots[0].role = "crash"
        del spec.slots[1:]
    if spec.problem("oom_kill"):  # a big project on a machine too small for its spikes
        spec.slots[0].plateau = int(spec.mem_total * rng.uniform(0.22, 0.3))
        spec.slots[0].load_s = 150.0
    if spec.problem("orphan_gopls"):
        orphan = _slot(rng, spec, "orphan", fits[int(order[0])], "orphan")
        orphan.editor = "none"
        spec.slots.append(orphan)
    if spec.problem("no_debug_server"):
        for slot in spec.slots:
            slot.debug = False
    outlier = spec.problem("memory_outlier")
    if outlier:  # RSS several times its peers', at least 800 MiB, below half the memory
        by_size = sorted(fits, key=lambda p: C.SIZE_MIN_MEM[p[1]])
        for candidate in [spec.slots[0], *(_slot(rng, spec, "s0", p, "main") for p in by_size)]:
            peer_rss = candidate.plateau * C.RSS_PER_LIVE + 22 * C.MiB
            factor = max(outlier["factor_vs_peers"], 800 * C.MiB / peer_rss)
            if 3.0 <= factor <= 0.45 * spec.mem_total / peer_rss:
                break
        spec.slots[0] = candidate
        outlier["factor_vs_peers"] = round(factor, 2)  # of RSS
    cgroup = spec.problem("cgroup_memory_low")
    if cgroup:  # a devcontainer whose memory.max is only just above what gopls needs
        need = spec.slots[0].plateau * C.RSS_PER_LIVE + 62 * C.MiB
        cgroup["memory_max_bytes"] = int(need / cgroup["usage_fraction"]) // 4096 * 4096
    main = spec.slots[0]
    if spec.problem("cpu_pegged") or spec.problem("oom_kill") or outlier:
        main.mean_life_s = 4 * 86400.0  # restarts would hide the problem
    leak = spec.problem("gopls_leak")
    if leak:
        _stagger_leaks(spec, leak)


def _stagger_leaks(spec: MachineSpec, leak: dict) -> None:
    """Two workspaces run the leaking gopls build; the developer restarts each one when it has
    grown to ~20 % of memory, half a cycle apart. A restarted gopls needs its load, the leak's
    onset and ~90 minutes of growth (under 2.3 h) before its leak shows, and the other one has
    then been leaking for half a cycle (3+ h): the machine always shows a detectable leak."""
    slots = [s for s in spec.slots if s.role in ("main", "extra")][:2]
    if not slots:
        return
    # at least +15 %/h of the live heap (+60 % in 4 h)
    floor = round(max(s.plateau for s in slots) / C.MiB * 0.15)
    leak["heap_slope_mb_per_h"] = max(leak["heap_slope_mb_per_h"], floor)
    slope = leak["heap_slope_mb_per_h"] * C.MiB
    room = min(0.2 * spec.mem_total / C.RSS_PER_LIVE - s.plateau for s in slots)
    hours = min(16.0, max(6.0, room / slope))
    step = hours * 3600 + max(s.load_s for s in slots) + leak["after_load_s"]
    for k, slot in enumerate(slots):
        slot.leaking = True
        slot.restart_every_s = step
        slot.restart_phase_s = k * step / 2
