"""Config lint of gopls settings against the settings table of the machine's gopls version."""

from __future__ import annotations

from apps.anomalies.detectors.base import REGISTRY, Detection, rule
from apps.anomalies.detectors.config_lint import _sources
from apps.anomalies.detectors.facts import format_version, gopls_version
from apps.anomalies.detectors.gopls_settings import check, deprecated, locate

# What the deprecation warning does not say (the table gives which names are deprecated).
NOTES = {
    "memoryMode": "no effect since v0.12, deprecated from v0.15",
    "experimentalWorkspaceModule": "removed in v0.12; use a go.work file",
    "experimentalWatchedFileDelay": "removed in v0.12",
    "experimentalPackageCacheKey": "removed in v0.12",
    "allowImplicitNetworkAccess": "removed in v0.17",
}


def machine_gopls(snapshot) -> tuple[tuple | None, bool]:
    """(gopls version, estimated) of the running gopls, else of the installed one."""
    for proc in snapshot.alive() or snapshot.processes:
        version, estimated = gopls_version(proc.version, proc.version_source)
        if version:
            return version, estimated
    tools = snapshot.inventory.get("tools") or {}
    return gopls_version(str(tools.get("gopls") or "") if isinstance(tools, dict) else "")


@rule("gopls_unknown_setting", category="config")
def gopls_unknown_setting(snapshot, th) -> list[Detection]:
    """Settings the machine's gopls does not accept (unknown, invented, not yet or no longer
    there) or values of the wrong JSON type (e.g. "memoryLimit": "2G")."""
    version, estimated = machine_gopls(snapshot)
    problems = []
    for where, _, _, block, _ in _sources(snapshot):
        for name, value in block.items():
            problem = check(name, value, version, estimated)
            if problem is not None:
                problems.append(problem.as_dict(where, value))
    if not problems:
        return []
    _, table_where = locate(version)
    first = problems[0]
    names = sorted({p["setting"] for p in problems})
    return [
        Detection(
            "gopls_unknown_setting",
            fired=True,
            severity="warning",
            subject="settings",
            evidence={
                "problems": problems[:30],
                "gopls_version": format_version(version),
                "version_estimated": estimated,
                "table": table_where,
            },
            explanation=f"gopls {format_version(version)}: {first['text']}"
            + (f" (and {len(names) - 1} more)" if len(names) > 1 else ""),
            facts={
                "gopls_version": format_version(version),
                "setting": first["setting"],
                "problem_text": first["text"],
                "settings": ", ".join(names[:10]),
            },
        )
    ]


def _analysis_settings(snapshot) -> list[dict]:
    """staticcheck: true and vulncheck: "Imports" wherever they are set."""
    out = []
    for where, _, _, block, _ in _sources(snapshot):
        for name, value in block.items():
            short = str(name).rsplit(".", 1)[-1]
            if short == "staticcheck" and value is True:
                out.append({"where": where, "setting": name, "value": True})
            elif short == "vulncheck" and isinstance(value, str) and value.lower() == "imports":
                out.append({"where": where, "setting": name, "value": value})
    return out


@rule("gopls_analysis_cpu", category="cpu")
def gopls_analysis_cpu(snapshot, th) -> list[Detection]:
    """A gopls pegging a core (or busy while idle) on a machine that turned on every
    staticcheck analyzer or govulncheck of imports: the likely cause of that CPU."""
    settings = _analysis_settings(snapshot)
    if not settings:
        return []
    busy = [
        d
        for rid in ("gopls_cpu_pegged", "gopls_cpu_busy_idle")
        for d in REGISTRY[rid].func(snapshot, th)
        if d.fired
    ]
    if not busy:
        return []
    version, _ = machine_gopls(snapshot)
    names = sorted({s["setting"] + "=" + str(s["value"]).lower() for s in settings})
    worst = max(busy, key=lambda d: d.evidence.get("minutes") or 0)
    return [
        Detection(
            "gopls_analysis_cpu",
            fired=True,
            severity="warning",
            subject="analysis_settings",
            evidence={
                "settings": settings[:10],
                "cpu_rule": worst.rule_id,
                "pid": worst.evidence.get("pid"),
                "minutes": worst.evidence.get("minutes"),
                "gopls_version": format_version(version),
            },
            explanation=f"gopls pid {worst.evidence.get('pid')} has kept a core busy for "
            f"{worst.evidence.get('minutes')} min and {', '.join(names)} is set: running every "
            "staticcheck analyzer or govulncheck on each change is the likely cause",
            facts={"settings": ", ".join(names), "gopls_version": format_version(version)},
        )
    ]


@rule("gopls_obsolete_setting", category="config")
def gopls_obsolete_setting(snapshot, th) -> list[Detection]:
    """Settings the machine's gopls answers with a deprecation warning (from the settings
    table), and memoryMode from v0.12 on, where it had no effect before being deprecated."""
    version, estimated = machine_gopls(snapshot)
    shown = format_version(version) if version else "this gopls"
    found = {}
    for w, _, _, block, _ in _sources(snapshot):
        for key in block:
            short = str(key).rsplit(".", 1)[-1]
            no_effect = short == "memoryMode" and (version is None or version >= (0, 12, 0))
            if deprecated(short, version, estimated) or no_effect:
                why = NOTES.get(short) or f"gopls {shown} answers it with a deprecation warning"
                found[short] = {"where": w, "why": why}
    if not found:
        return []
    return [
        Detection(
            "gopls_obsolete_setting",
            fired=True,
            severity="info",
            subject="settings",
            evidence={"settings": found, "gopls_version": format_version(version)},
            explanation=f"obsolete gopls settings: {', '.join(sorted(found))}",
            facts={"settings": ", ".join(sorted(found))},
        )
    ]
