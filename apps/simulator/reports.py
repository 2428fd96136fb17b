"""Turns a machine's simulated state into schema-v1 samples and reports (uploads)."""

from __future__ import annotations

import hashlib
import time
import uuid

import numpy as np

from apps.simulator import inventory as inv
from apps.simulator import sections
from apps.simulator.catalog import AGENT_VERSION, MiB
from apps.simulator.fleet import MachineSpec
from apps.simulator.host import host_series
from apps.simulator.timeline import activity, boot_at, boot_time, grid, kills, lifetimes
from apps.simulator.traces import fd_limit, gopls_series

AGENT = {
    "version": AGENT_VERSION,
    "python": "3.11.7",
    "anonymized": False,
    "config": {"collect_interval_s": 15, "upload_interval_s": 60, "allow_profiles": False},
}


def iso(t: float) -> str:
    whole = int(t)
    ms = round((t - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{ms:03d}Z"


def iso_s(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(t)))


def sample_id(spec: MachineSpec, t: int) -> str:
    digest = hashlib.blake2b(f"{spec.seed}:{spec.machine_id}:{t}".encode(), digest_size=16)
    return str(uuid.UUID(bytes=digest.digest(), version=4))


class MachineSim:
    """Generates the samples of one machine for any time window, reproducibly."""

    def __init__(self, spec: MachineSpec, interval: int = 15):
        self.spec = spec
        self.interval = interval

    def samples(self, t0: float, t1: float) -> list[dict]:
        """Samples collected in (t0, t1], oldest first."""
        spec, interval = self.spec, self.interval
        T = grid(t0, t1, interval)
        if not len(T):
            return []
        act = activity(spec, T)
        rss_sum = np.zeros(len(T))
        cpu_sum = np.zeros(len(T))
        procs: list[list[dict]] = [[] for _ in T]
        boot = boot_at(spec, T)
        editor_start = boot + 600
        victims: dict[int, dict] = {}
        for slot in spec.slots:
            for life in lifetimes(spec, slot, t0, t1):
                idx = np.nonzero((life.start <= T) & (life.end > T))[0]
                if slot.role == "main":
                    editor_start[life.start <= T] = life.start
                if not len(idx):
                    continue
                cols = gopls_series(spec, slot, life, T[idx], interval)
                rss_sum[idx] += cols["rss"]
                cpu_sum[idx] += cols["cpu"]
                self._emit(slot, life, idx, cols, procs, T)
                if life.killed:
                    victims[life.end] = {
                        "pid": life.pid,
                        "name": "gopls",
                        "rss_bytes": int(cols["rss"][-1]),
                        "at": iso_s(life.end),
                    }
        host = host_series(
            spec, T, rss_sum, cpu_sum, act, boot, kills(spec, t0, t1), editor_start, interval
        )
        return self._assemble(T, host, procs, victims)

    def _emit(self, slot, life, idx, cols, procs, T) -> None:
        spec = self.spec
        root = inv.repo_root(spec, slot.project)
        static = {
            "pid": life.pid,
            "start_time": iso_s(life.start),
            "exe": inv.gopls_exe(spec),
            "argv": [inv.gopls_exe(spec), *inv.flags(spec, slot)]
            + (["serve"] if slot.editor not in ("vscode", "vscode-server", "cursor") else []),
            "version": spec.gopls_version,
            "version_source": None,
            "go_version": spec.gopls_go,
            "editor": inv.editor_info(spec, slot),
            "fd_limit": fd_limit(spec, slot),
            "cwd": root,
            "workspace_roots": [root],
            "projects": [{"module": slot.project, "root": root}],
            "env": inv.gopls_env(spec, slot),
        }
        addr = inv.debug_addr(spec, slot, life.pid)
        cgroup = self._cgroup()
        lists = {k: v.tolist() for k, v in cols.items()}
        rpc_due = ((T[idx] // self.interval) % 4 == 0).tolist()  # RPC stats every 4th cycle
        for j, i in enumerate(idx.tolist()):
            proc = dict(static)
            proc.update(
                rss_bytes=lists["rss"][j],
                cpu_percent=lists["cpu"][j],
                threads=lists["threads"][j],
                open_fds=lists["open_fds"][j],
                children={
                    "count": lists["children"][j],
                    "cpu_percent": lists["children_cpu"][j],
                    "top": [
                        {
                            "name": "go",
                            "count": lists["children"][j],
                            "cpu_percent": lists["children_cpu"][j],
                        }
                    ]
                    if lists["children"][j]
                    else [],
                },
            )
            if addr:
                proc["debug"] = {
                    "addr": addr,
                    "ok": True,
                    "error": None,
                    "heap_inuse_bytes": lists["heap_inuse"][j],
                    "heap_alloc_bytes": lists["heap_alloc"][j],
                    "sys_bytes": lists["sys"][j],
                    "next_gc_bytes": lists["next_gc"][j],
                    "num_gc": lists["num_gc"][j],
                    "gc_cpu_fraction": lists["gc_cpu"][j],
                    "max_rss_bytes": lists["rss"][j],
                    "goroutines": lists["goroutines"][j],
                }
                if rpc_due[j]:
                    proc["debug"]["rpc"] = sections.rpc_stats(
                        slot.size, lists["act"][j], lists["completions"][j]
                    )
            if cgroup is not None:
                current = lists["rss"][j] + 40 * MiB
                if cgroup["memory_max_bytes"]:
                    current = min(current, cgroup["memory_max_bytes"] - MiB)
                proc["cgroup"] = {**cgroup, "memory_current_bytes": current}
            procs[i].append(proc)

    def _cgroup(self) -> dict | None:
        spec = self.spec
        if spec.os != "linux" or spec.platform == "wsl1":
            return None
        low = spec.problem("cgroup_memory_low")
        if low:
            return {
                "path": "/system.slice/docker-3f9c2a71b0de.scope",
                "memory_max_bytes": low["memory_max_bytes"],
            }
        return {"path": "/user.slice/user-1000.slice/session-2.scope", "memory_max_bytes": None}

    def _assemble(self, T, host, procs, victims) -> list[dict]:
        spec, interval = self.spec, self.interval
        h = {k: v.tolist() for k, v in host.items()}
        disks = sections.disks(spec)
        wsl = spec.wsl_version
        drvfs = [inv.repo_root(spec, s.project) for s in spec.slots[:1]]
        drvfs = drvfs if spec.problem("workspace_on_drvfs") else []
        sidecars = (
            sum(1 for s in spec.slots if s.role != "crash") if spec.gopls_version >= "v0.16" else 0
        )
        out = []
        for i, t in enumerate(T.tolist()):
            ms = (t * 7919 + spec.index * 104729) % 997
            system = {
                "mem_total_bytes": spec.mem_total,
                "mem_available_bytes": h["mem_available"][i],
                "mem_cached_bytes": h["mem_cached"][i],
                "swap_total_bytes": 4 * 1024 * MiB,
                "swap_used_bytes": h["swap_used"][i],
                "cpu_count": spec.cpu_count,
                "cpu_percent": h["cpu"][i],
                "load": [
                    h["load1"][i],
                    round(h["load1"][i] * 0.8 + 0.02, 2),
                    round(h["load1"][i] * 0.6 + 0.05, 2),
                ],
                "uptime_s": round(h["uptime"][i], 1),
                "oom_kill_count": h["oom_kill_count"][i] if spec.os == "linux" else None,
                "disks": [dict(d, free_bytes=h["disk_free"][i]) for d in disks],
            }
            fresh = [v for k, v in victims.items() if t - interval < k <= t]
            if fresh:
                system["oom_victims"] = fresh
            sample = {
                "id": sample_id(spec, t),
                "collected_at": iso(t + ms / 1000),
                "interval_s": interval,
                "system": system,
                "gopls": procs[i],
                "gopls_excluded": {"telemetry_sidecars": sidecars, "forwarders": 0},
                "go": {
                    "caches": {
                        "gocache_bytes": h["gocache"][i],
                        "gomodcache_bytes": h["gomodcache"][i],
                        "gopls_cache_bytes": h["gopls_cache"][i],
                        "goimports_cache_bytes": h["goimports_cache"][i],
                        "measured_at": iso_s(t // 1800 * 1800),
                        "complete": True,
                    }
                },
                "agent": {
                    "cpu_ms": round(4 + (t % 7) * 0.6, 1),
                    "rss_bytes": 24 * MiB,
                    "spool_depth": (t // interval) % 4,
                    "dropped_samples": 0,
                    "rejected_batches": 0,
                },
                "errors": [],
            }
            if spec.inotify_max:
                sample["inotify"] = sections.inotify(spec, h["watches"][i], procs[i])
            if wsl:
                sample["wsl"] = {
                    "version": wsl,
                    "mem_total_bytes": spec.mem_total,
                    "mem_cached_bytes": h["mem_cached"][i],
                    "workspaces_on_drvfs": drvfs,
                }
            out.append(sample)
        return out

    def identity_facts(self, t: float) -> dict:
        spec = self.spec
        ident = spec.identity()
        facts = {k: ident[k] for k in ("hostname", "os", "os_version", "arch", "kernel", "wsl")}
        facts.update(
            cpu_count=spec.cpu_count,
            mem_total_bytes=spec.mem_total,
            boot_time=iso_s(boot_time(spec, t)),
        )
        return facts


def report(sim: MachineSim, samples: list[dict], sent_at: float, first: bool) -> dict:
    """One upload: the batch, plus identity and inventory on the first upload of a run."""
    payload = {"schema_version": 1, "sent_at": iso(sent_at), "agent": AGENT, "samples": samples}
    if first:
        payload["machine"] = sim.identity_facts(sent_at)
        payload["inventory"] = inv.inventory(sim.spec, samples[0]["collected_at"])
    return payload
