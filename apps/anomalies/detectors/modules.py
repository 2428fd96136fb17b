"""Go module rules: a vendor directory inconsistent with go.mod while the go command uses it."""

from __future__ import annotations

import re

from apps.anomalies.detectors.base import Detection, rule
from apps.anomalies.detectors.config_lint import _sources


def mod_flag(goflags) -> str | None:
    """The -mod= value of a GOFLAGS string (the last one wins), or None."""
    value = None
    for word in str(goflags or "").split():
        if word.lstrip("-").startswith("mod="):
            value = word.split("=", 1)[1]
    return value


def goflags_mod(snapshot) -> tuple[str | None, str]:
    """(-mod value, where it was set) from what the go command run for gopls would see: the
    gopls process environment, go.toolsEnvVars, gopls build.env, then `go env`."""
    found: list[tuple[str, str]] = []
    for p in snapshot.alive():
        found.append((str((p.env or {}).get("GOFLAGS") or ""), f"gopls pid {p.pid} environment"))
    for where, _, env, block, _ in _sources(snapshot):
        found.append((str(env.get("GOFLAGS") or ""), f"go.toolsEnvVars in {where}"))
        for key in ("build.env", "env"):
            benv = block.get(key)
            if isinstance(benv, dict):
                found.append((str(benv.get("GOFLAGS") or ""), f"gopls {key} in {where}"))
    go_env = snapshot.inventory.get("go_env")
    if isinstance(go_env, dict):
        found.append((str(go_env.get("GOFLAGS") or ""), "go env GOFLAGS"))
    for flags, where in found:
        value = mod_flag(flags)
        if value:
            return value, where
    return None, ""


def _go_at_least_114(version) -> bool:
    m = re.match(r"1\.(\d+)", str(version or ""))
    return bool(m) and int(m.group(1)) >= 14


@rule("gomod_vendor_inconsistent", category="config")
def gomod_vendor_inconsistent(snapshot, th) -> list[Detection]:
    """GOFLAGS=-mod=vendor (or vendor/ with go ≥ 1.14, where vendor mode is the default) and a
    vendor/modules.txt that does not match go.mod: every go command in the module, and so
    gopls's go list, fails with 'inconsistent vendoring'."""
    entries = snapshot.inventory.get("vendor")
    if not isinstance(entries, list):
        return []
    mode, where = goflags_mod(snapshot)
    broken = []
    for e in entries:
        if not isinstance(e, dict) or e.get("consistent") is not False:
            continue
        by_default = mode is None and e.get("has_vendor_dir") and _go_at_least_114(e.get("go"))
        if mode == "vendor" or by_default:
            broken.append(
                {
                    "root": str(e.get("root") or "")[:300],
                    "go": e.get("go"),
                    "has_vendor_dir": bool(e.get("has_vendor_dir")),
                    "problems": [str(p)[:300] for p in (e.get("problems") or [])[:5]],
                    "problem_count": e.get("problem_count") or len(e.get("problems") or []),
                    "mode": f"-mod=vendor ({where})" if mode == "vendor" else "vendor/ (default)",
                }
            )
    if not broken:
        return []
    first = broken[0]
    example = first["problems"][0] if first["problems"] else "?"
    return [
        Detection(
            "gomod_vendor_inconsistent",
            fired=True,
            severity="critical",
            subject="vendor",
            evidence={"modules": broken[:10]},
            explanation=f"{first['root']}: vendor/modules.txt does not match go.mod "
            f"({first['problem_count']} differences, e.g. {example}) "
            f"while the go command reads vendor/ via {first['mode']}: every go command there "
            "fails with 'go: inconsistent vendoring', so gopls loads no packages",
            facts={"mode": first["mode"], "count": first["problem_count"]},
        )
    ]
