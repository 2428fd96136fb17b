"""Config lint of gopls settings against the settings table of the machine's gopls version."""

from __future__ import annotations

from apps.anomalies.detectors.base import Detection, rule
from apps.anomalies.detectors.config_lint import _sources
from apps.anomalies.detectors.facts import format_version, gopls_version
from apps.anomalies.detectors.gopls_settings import check, locate


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
