"""Version rules: known-bad gopls ranges, the team minimum, Go support, GOROOT consistency."""

from __future__ import annotations

from apps.anomalies.detectors.base import Detection, rule
from apps.anomalies.detectors.facts import format_version, go_minor, gopls_version, parse_version

# (first, last inclusive, severity, reason, issue) from docs/facts.md §3.3 and P12.
KNOWN_BAD = [
    (
        (0, 0, 0),
        (0, 11, 99),
        "warning",
        "before the v0.12 redesign, which saved about 75 % of memory: about 4× the memory",
        "45457",
    ),
    (
        (0, 12, 0),
        (0, 12, 99),
        "warning",
        "v0.12.x: file-cache GC walk keeps an idle gopls busy",
        "61049",
    ),
    (
        (0, 15, 0),
        (0, 15, 2),
        "warning",
        "v0.15.0–v0.15.2: views rebuilt on every configuration change",
        "66647",
    ),
]


def _versions(snapshot):
    """{version string: (parsed, estimated, source)} of the gopls binaries in use or installed."""
    out = {}
    for proc in snapshot.alive() or snapshot.processes:
        parsed, est = gopls_version(proc.version, proc.version_source)
        if parsed:
            out.setdefault(
                proc.version or format_version(parsed),
                (parsed, est, f"gopls pid {proc.pid}", proc.go_version),
            )
    if not out:
        for binary in snapshot.inventory.get("gopls_binaries") or []:
            parsed, est = gopls_version(
                binary.get("version") or "", binary.get("version_source") or ""
            )
            if parsed:
                out.setdefault(
                    binary.get("version") or format_version(parsed),
                    (parsed, est, binary.get("exe") or "gopls", binary.get("go_version")),
                )
    return out


@rule("gopls_version_known_bad", category="versions")
def gopls_version_known_bad(snapshot, th) -> list[Detection]:
    out = []
    for text, (v, estimated, where, _) in _versions(snapshot).items():
        for first, last, severity, reason, issue in KNOWN_BAD:
            if first <= v <= last:
                out.append(
                    Detection(
                        "gopls_version_known_bad",
                        fired=True,
                        severity=severity,
                        subject=f"gopls_version:{text}",
                        evidence={
                            "version": text,
                            "as_version": format_version(v),
                            "estimated": estimated,
                            "where": where,
                            "issue": f"golang/go#{issue}",
                        },
                        explanation=f"gopls {text}"
                        + (f" (about {format_version(v)})" if estimated else "")
                        + f": {reason}",
                        facts={
                            "gopls_version": v,
                            "range": [format_version(first), format_version(last)],
                        },
                    )
                )
    return out


@rule("gopls_below_team_minimum", category="versions")
def gopls_below_team_minimum(snapshot, th) -> list[Detection]:
    minimum = parse_version(snapshot.team_min_gopls)
    if not minimum:
        return []
    return [
        Detection(
            "gopls_below_team_minimum",
            fired=True,
            severity="warning",
            subject=f"gopls_version:{text}",
            evidence={"version": text, "minimum": snapshot.team_min_gopls, "where": where},
            explanation=f"gopls {text} is below the team's minimum {snapshot.team_min_gopls}",
            facts={"minimum": snapshot.team_min_gopls},
        )
        for text, (v, _, where, _) in _versions(snapshot).items()
        if v < minimum
    ]


@rule("gopls_go_unsupported", category="versions")
def gopls_go_unsupported(snapshot, th) -> list[Detection]:
    """From v0.18 gopls supports only the 2 newest go commands, and since v0.17 it is built with
    the newest Go: an installed go older than build-Go minus one is outside the window."""
    tools = snapshot.inventory.get("tools") or {}
    go_env = snapshot.inventory.get("go_env") or {}
    installed = go_minor(str(go_env.get("GOVERSION") or tools.get("go") or ""))
    if installed is None:
        return []
    out = []
    for text, (v, _, _where, built_with) in _versions(snapshot).items():
        built = go_minor(built_with)
        if v >= (0, 18, 0) and built is not None and installed < built - 1:
            out.append(
                Detection(
                    "gopls_go_unsupported",
                    fired=True,
                    severity="warning",
                    subject=f"gopls_version:{text}",
                    evidence={
                        "gopls_version": text,
                        "built_with": built_with,
                        "go_installed": f"go1.{installed}",
                    },
                    explanation=f"gopls {text} (built with {built_with}) "
                    "supports only the two newest "
                    f"go commands; go1.{installed} is installed",
                    facts={"go_installed": f"go1.{installed}"},
                )
            )
    return out


@rule("goroot_inconsistent", category="versions")
def goroot_inconsistent(snapshot, th) -> list[Detection]:
    check = snapshot.inventory.get("goroot_check") or {}
    if check.get("consistent") is not False and not check.get("problems"):
        return []
    return [
        Detection(
            "goroot_inconsistent",
            fired=True,
            severity="warning",
            subject="goroot",
            evidence={
                k: check.get(k)
                for k in (
                    "go_on_path",
                    "go_on_path_version",
                    "goroot",
                    "goroot_version",
                    "problems",
                )
            },
            explanation="the go on PATH and GOROOT disagree: "
            + "; ".join(str(p) for p in check.get("problems") or ["versions differ"]),
        )
    ]
