"""Fleet rules over peers: memory outliers per (project, version), gopls version regressions."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from apps.anomalies.detectors.base import Detection, rule
from apps.anomalies.detectors.facts import human, parse_version
from apps.common.shapes import version_key, version_label


@dataclass(frozen=True)
class PeerSample:
    """One machine's typical gopls figures on one project and gopls version."""

    machine: int | str
    project: str
    version: str
    mem_bytes: float
    cpu_percent: float | None = None  # mean over the last hour when rollups have it
    completion_p95_ms: float | None = None  # median of the 5-minute p95s over the last hour


def robust_z(values: np.ndarray) -> np.ndarray:
    """(x - median) / (1.4826 × MAD); zero when the MAD is zero."""
    med = np.median(values)
    mad = 1.4826 * np.median(np.abs(values - med))
    if mad <= 0:
        mad = max(1e-9, 0.05 * abs(med))  # identical peers: only gross departures count
    return (values - med) / mad


def _peer_groups(peers: list[PeerSample], min_group: int) -> list[tuple[str, str, list]]:
    """(project, version label, members): same project and gopls version when that gives
    min_group machines; otherwise the same project across versions from v0.12 on (one memory
    architecture), so small fleets still get a comparison."""
    exact: dict[tuple, list[PeerSample]] = defaultdict(list)
    for peer in peers:
        # Only versions gopls really prints group machines: other text is unknown.
        if peer.project and version_label(peer.version):
            exact[(peer.project, peer.version)].append(peer)
    groups, leftovers = [], defaultdict(list)
    for (project, version), members in exact.items():
        if len(members) >= min_group:
            groups.append((project, version, members))
        elif (parse_version(version) or (0, 0, 0)) >= (0, 12, 0):
            leftovers[project].extend(members)
    for project, members in leftovers.items():
        others = [m for (p, _, ms) in groups if p == project for m in ms]
        pool = members + others
        if len(pool) >= min_group:
            groups.append((project, "v0.12+", pool))
    return groups


@rule("fleet_memory_outlier", category="fleet", scope="fleet")
def fleet_memory_outlier(peers: list[PeerSample], th) -> dict:
    p = th["fleet_memory_outlier"]
    out: dict = defaultdict(list)
    for project, version, members in _peer_groups(peers, p["min_group"]):
        mem = np.array([m.mem_bytes for m in members], float)
        z = robust_z(mem)
        median = float(np.median(mem))
        for member, score in zip(members, z):
            if version == "v0.12+" and parse_version(member.version) is None:
                continue
            big = member.mem_bytes >= max(p["min_bytes"], p["min_ratio"] * median)
            if score >= p["z"] and big:
                if any(d.subject.startswith(f"outlier:{project}") for d in out[member.machine]):
                    continue
                out[member.machine].append(
                    Detection(
                        "fleet_memory_outlier",
                        fired=True,
                        severity="warning",
                        subject=f"outlier:{project}",
                        evidence={
                            "project": project,
                            "version": member.version,
                            "peer_versions": version,
                            "mem_bytes": member.mem_bytes,
                            "peer_median_bytes": median,
                            "robust_z": round(float(score), 1),
                            "peers": len(members),
                        },
                        explanation=f"gopls {member.version} on {project} uses "
                        f"{human(member.mem_bytes)}, {member.mem_bytes / median:.1f}× the median "
                        f"of {len(members)} peers ({version})",
                    )
                )
    return out


# metric → (threshold keys: ratio, minimum absolute difference; words for the explanation)
REGRESSION_METRICS = {
    "mem_bytes": ("ratio", None, "memory"),
    "cpu_percent": ("cpu_ratio", "cpu_min_diff", "CPU"),
    "completion_p95_ms": ("latency_ratio", "latency_min_diff_ms", "completion latency (p95)"),
}


def _regression(metric: str, before: float, after: float, p: dict) -> bool:
    ratio_key, diff_key, _ = REGRESSION_METRICS[metric]
    if before <= 0:
        return False
    worse = after / before >= p[ratio_key]
    return worse and (diff_key is None or after - before >= p[diff_key])


def _figure(metric: str, value: float) -> str:
    if metric == "mem_bytes":
        return human(value)
    return f"{value:.1f} %" if metric == "cpu_percent" else f"{value:.0f} ms"


@rule("gopls_version_regression", category="fleet", scope="fleet")
def gopls_version_regression(peers: list[PeerSample], th) -> dict:
    """On each project, the newest gopls version's median memory, CPU (mean over an hour per
    machine) and completion latency against the previous version's; machines on the new
    version get one finding per worse metric. A metric needs min_machines on each side."""
    p = th["gopls_version_regression"]
    by_project: dict[str, dict[str, list[PeerSample]]] = defaultdict(lambda: defaultdict(list))
    for peer in peers:
        # Strict versions only: `v0.16.1;curl …|sh` is unknown, never ranked nor substituted
        # into the pin command of the advice.
        if peer.project and parse_version(peer.version):
            by_project[peer.project][peer.version].append(peer)
    out: dict = defaultdict(list)
    for project, versions in by_project.items():
        ranked = sorted(
            (v for v in versions if len(versions[v]) >= p["min_machines"]), key=version_key
        )
        if len(ranked) < 2:
            continue
        old, new = ranked[-2], ranked[-1]
        for metric, (_, _, words) in REGRESSION_METRICS.items():
            a = [getattr(x, metric) for x in versions[old] if getattr(x, metric) is not None]
            b = [getattr(x, metric) for x in versions[new] if getattr(x, metric) is not None]
            if len(a) < p["min_machines"] or len(b) < p["min_machines"]:
                continue
            before, after = float(np.median(a)), float(np.median(b))
            if not _regression(metric, before, after, p):
                continue
            for member in versions[new]:
                out[member.machine].append(
                    Detection(
                        "gopls_version_regression",
                        fired=True,
                        severity="info",
                        subject=f"regression:{project}@{new}:{metric}",
                        evidence={
                            "project": project,
                            "metric": metric,
                            "old_version": old,
                            "new_version": new,
                            "old_median": before,
                            "new_median": after,
                            "ratio": round(after / before, 2),
                            "machines": [len(a), len(b)],
                        },
                        explanation=f"on {project}, gopls {new} has {after / before:.1f}× the "
                        f"median {words} of {old} ({_figure(metric, after)} against "
                        f"{_figure(metric, before)})",
                        facts={"old_version": old, "new_version": new, "metric_label": words},
                    )
                )
    return out
