"""What advice needs to know about one machine: its versions, parsed strictly, and safe values.

Every rule's advice on a machine renders with the same context, so a fix gated on the installed
Go, the Go that built gopls or the WSL package version is filtered the same way in evaluation,
alerts (which send the stored advice) and /api/v1/check; and machine-wide values (GOMEMLIMIT
for its biggest gopls, a .wslconfig memory= for its VM) come from suggest.py, never from text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apps.anomalies import suggest
from apps.anomalies.detectors.facts import gomemlimit_suggestion, gopls_version
from apps.common import shapes


@dataclass(frozen=True)
class MachineContext:
    gopls: tuple | None = None
    go: tuple | None = None
    gopls_go: tuple | None = None
    wsl: tuple | None = None
    facts: dict = field(default_factory=dict)


def installed_go(snapshot) -> tuple | None:
    """The go command the developer uses (GOVERSION from go env, else the tools inventory)."""
    go_env = snapshot.inventory.get("go_env") or {}
    tools = snapshot.inventory.get("tools") or {}
    go_env = go_env if isinstance(go_env, dict) else {}
    tools = tools if isinstance(tools, dict) else {}
    return shapes.parse_go_version(go_env.get("GOVERSION")) or shapes.parse_go_version(
        tools.get("go")
    )


def machine_context(snapshot) -> MachineContext:
    alive = snapshot.alive() or snapshot.processes
    gopls = next((v for p in alive if (v := gopls_version(p.version, p.version_source)[0])), None)
    gopls_go = next((v for p in alive if (v := shapes.parse_go_version(p.go_version))), None)
    facts: dict = {}
    live = snapshot.alive()
    if live:
        biggest = max(live, key=lambda p: suggest.steady_bytes(p) or 0)
        facts.update(gomemlimit_suggestion(snapshot, biggest).facts("gomemlimit"))
    else:
        facts.update(suggest.gomemlimit(None, None).facts("gomemlimit"))
    if snapshot.platform.startswith("wsl"):
        wsl = suggest.wsl_memory(snapshot.wsl_cap_bytes(), snapshot.wsl_host_mem_bytes)
        facts.update({"suggested_wsl_memory": wsl.value, "wsl_memory_reason": wsl.reason})
        # fix_actions.wsl_memory checks a wslconfig action's value against the host again.
        facts["host_mem_total_bytes"] = snapshot.wsl_host_mem_bytes
    return MachineContext(
        gopls=gopls,
        go=installed_go(snapshot),
        gopls_go=gopls_go,
        wsl=shapes.parse_wsl_version(snapshot.wsl_package_version),
        facts=facts,
    )


def merge_facts(base: dict, evidence: dict, det_facts: dict) -> dict:
    """Machine facts, then the finding's scalar evidence, then the rule's own facts; a rule's
    None (no safe value for its process) overrides the machine's value."""
    out = dict(base)
    out.update({k: v for k, v in evidence.items() if isinstance(v, (str, int, float))})
    out.update(
        {k: v for k, v in det_facts.items() if v is None or isinstance(v, (str, int, float))}
    )
    return out
