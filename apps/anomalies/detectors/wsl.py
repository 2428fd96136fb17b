"""WSL rules: VM memory near its cap, misplaced wsl.conf keys, workspaces on /mnt/<drive>."""

from __future__ import annotations

import numpy as np

from apps.anomalies import suggest
from apps.anomalies.detectors.base import Detection, rule
from apps.anomalies.detectors.facts import gomemlimit_suggestion, human
from apps.anomalies.detectors.trend import clean


def _is_wsl2(snapshot) -> bool:
    return snapshot.platform == "wsl2"


def _wsl_inventory(snapshot) -> dict:
    value = snapshot.inventory.get("wsl")
    return value if isinstance(value, dict) else {}


def _used_ratio(snapshot) -> tuple[float | None, float | None, float | None]:
    """(used/cap over the last 5 minutes (median), cap, cached) inside the VM."""
    s = snapshot.system
    t, avail = clean(s.t, s.get("mem_available"))
    cap = snapshot.wsl_cap_bytes()
    if not cap or avail.size == 0:
        return None, cap, None
    recent = avail[t >= t[-1] - 300]
    return 1 - float(np.median(recent)) / cap, cap, s.last("mem_cached")


def _vm_facts(snapshot, cap: float | None) -> dict:
    """A safe .wslconfig memory= for this VM and host, and GOMEMLIMIT for its biggest gopls."""
    alive = snapshot.alive()
    biggest = max(alive, key=lambda p: suggest.steady_bytes(p) or 0) if alive else None
    gomemlimit = (
        gomemlimit_suggestion(snapshot, biggest)
        if biggest is not None
        else suggest.gomemlimit(None, cap, "wsl_cap")
    )
    wsl = suggest.wsl_memory(cap, snapshot.wsl_host_mem_bytes)
    return {
        **gomemlimit.facts("gomemlimit"),
        "suggested_wsl_memory": wsl.value,
        "wsl_memory_reason": wsl.reason,
    }


@rule("wsl_memory_pressure", category="wsl")
def wsl_memory_pressure(snapshot, th) -> list[Detection]:
    if not _is_wsl2(snapshot):
        return []
    p = th["wsl_memory_pressure"]
    ratio, cap, cached = _used_ratio(snapshot)
    if ratio is None:
        return []
    # docs/facts.md P7: the VM near its cap, or a page cache over half of it that WSL 2 does not
    # hand back to Windows while the VM is busy.
    cache_share = (cached or 0) / cap
    cache_heavy = cache_share >= p["cached_ratio"] and ratio >= p["cached_used_ratio"]
    fired = ratio >= p["ratio"] or cache_heavy
    hold = ratio >= p["clear_ratio"] or (
        cache_share >= p["cached_ratio"] - 0.05 and ratio >= p["cached_used_ratio"] - 0.05
    )
    if not (fired or hold):
        return []
    gopls = sum(proc.last("rss") or 0 for proc in snapshot.alive())
    return [
        Detection(
            "wsl_memory_pressure",
            fired=fired,
            hold=not fired,
            severity="critical" if ratio >= p["critical_ratio"] else "warning",
            subject="wsl_vm",
            evidence={
                "used_ratio": round(ratio, 3),
                "cached_ratio": round(cache_share, 3),
                "vm_cap_bytes": cap,
                "cached_bytes": cached,
                "gopls_rss_bytes": gopls,
                "window": [float(snapshot.system.t[0]), float(snapshot.system.t[-1])],
            },
            explanation=(
                f"the WSL VM uses {ratio:.0%} of its {human(cap)} cap ({cache_share:.0%} page "
                f"cache); gopls holds {human(gopls)}"
            ),
            facts={"vm_cap_bytes": cap, **_vm_facts(snapshot, cap)},
        )
    ]


@rule("wsl_default_cap_large_gopls", category="wsl")
def wsl_default_cap_large_gopls(snapshot, th) -> list[Detection]:
    """No memory= under [wsl2] in .wslconfig (default: 50 % of Windows RAM) and a big gopls."""
    if not _is_wsl2(snapshot):
        return []
    wslconfig = _wsl_inventory(snapshot).get("wslconfig") or {}
    sections = wslconfig.get("sections") or {}
    if "memory" in {k.lower() for k in (sections.get("wsl2") or {})}:
        return []
    cap = snapshot.wsl_cap_bytes()
    big = [
        proc
        for proc in snapshot.alive()
        if (proc.last("rss") or 0)
        >= th["wsl_default_cap_large_gopls"]["gopls_ratio"] * (cap or float("inf"))
    ]
    if not big:
        return []
    rss = max(proc.last("rss") or 0 for proc in big)
    return [
        Detection(
            "wsl_default_cap_large_gopls",
            fired=True,
            severity="warning",
            subject="wsl_vm",
            evidence={
                "vm_cap_bytes": cap,
                "gopls_rss_bytes": rss,
                "wslconfig_found": bool(wslconfig.get("found")),
            },
            explanation=(
                f"the WSL VM runs with the default memory cap ({human(cap)}, 50% of Windows RAM)"
                f" and one gopls holds {human(rss)}"
            ),
            facts={"vm_cap_bytes": cap, **_vm_facts(snapshot, cap)},
        )
    ]


@rule("wsl_conf_misplaced_keys", category="wsl")
def wsl_conf_misplaced_keys(snapshot, th) -> list[Detection]:
    wsl_conf = _wsl_inventory(snapshot).get("wsl_conf") or {}
    keys = [str(k) for k in wsl_conf.get("misplaced_keys") or []]
    wslconfig = _wsl_inventory(snapshot).get("wslconfig") or {}
    # autoMemoryReclaim / sparseVhd belong under [experimental] in .wslconfig, not [wsl2].
    wsl2 = (wslconfig.get("sections") or {}).get("wsl2") or {}
    keys += [f".wslconfig wsl2.{k}" for k in wsl2 if k in ("autoMemoryReclaim", "sparseVhd")]
    if not keys:
        return []
    return [
        Detection(
            "wsl_conf_misplaced_keys",
            fired=True,
            severity="warning",
            subject="wsl_conf",
            evidence={"keys": keys[:20]},
            explanation="WSL settings in the wrong file or section do nothing: "
            + ", ".join(keys[:5]),
            facts={"keys": keys[:20]},
        )
    ]


@rule("wsl_workspace_on_drvfs", category="wsl")
def wsl_workspace_on_drvfs(snapshot, th) -> list[Detection]:
    if not snapshot.platform.startswith("wsl"):
        return []
    roots = list(snapshot.drvfs_workspaces)
    for proc in snapshot.alive():
        if proc.cwd.startswith("/mnt/") and len(proc.cwd) > 6 and proc.cwd[6:7] in ("/", ""):
            roots.append(proc.cwd)
    roots = sorted(set(roots))
    if not roots:
        return []
    return [
        Detection(
            "wsl_workspace_on_drvfs",
            fired=True,
            severity="warning",
            subject="drvfs",
            evidence={"workspaces": roots[:10]},
            explanation=f"workspace on the Windows drive through 9P/DrvFs: {roots[0]}",
            facts={"workspaces": roots[:10]},
        )
    ]
