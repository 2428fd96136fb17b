"""Pure detectors in a registry; importing this package registers every rule."""

from apps.anomalies.detectors import (  # noqa: F401  (imported to register their rules)
    config_lint,
    config_settings,
    cpu,
    fleet,
    memory,
    modules,
    processes,
    system,
    versions,
    wsl,
    wsl_files,
)
from apps.anomalies.detectors.base import REGISTRY, SEVERITIES, Detection, Rule, worst

MACHINE_RULES = {rid: r for rid, r in REGISTRY.items() if r.scope == "machine"}
FLEET_RULES = {rid: r for rid, r in REGISTRY.items() if r.scope == "fleet"}


def run_machine_rules(snapshot, th: dict, only: set[str] | None = None) -> list[Detection]:
    """Every machine rule over one snapshot; a failing rule is skipped, never the whole pass."""
    import logging

    log = logging.getLogger(__name__)
    out: list[Detection] = []
    for rule_id, entry in MACHINE_RULES.items():
        if only is not None and rule_id not in only:
            continue
        try:
            out.extend(entry.func(snapshot, th))
        except Exception:  # one broken rule must not hide the others' findings
            log.exception("rule %s failed on machine %s", rule_id, snapshot.machine_id)
    return out


__all__ = ["FLEET_RULES", "MACHINE_RULES", "REGISTRY", "SEVERITIES", "Detection", "Rule", "worst"]
