"""Cause chains: a root finding (memory pressure, OOM kill, bad config) explains others."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from apps.anomalies.models import Finding, FindingEvent

# Root rule → the rules whose findings it can explain, most specific root first. A crash loop
# is explained by what makes gopls exit at start: an invalid flag ('flag provided but not
# defined'), a malformed GOMEMLIMIT, or (v0.18+) a full disk for its persistent index.
ROOTS = {
    "gopls_invalid_flags": {"gopls_crash_loop"},
    "gomemlimit_bad_suffix": {"gopls_crash_loop"},
    "cache_disk_full": {"gopls_crash_loop"},
    "wsl_memory_pressure": {
        "gopls_memory_high",
        "gopls_memory_leak",
        "gopls_crash_loop",
        "oom_kill",
        "wsl_default_cap_large_gopls",
        "gopls_cpu_busy_idle",
        "gopls_rpc_latency",
    },
    "oom_kill": {"gopls_memory_high", "gopls_memory_leak", "gopls_crash_loop"},
}


def link_causes(open_findings: list[Finding], now: datetime) -> int:
    """Point each explained open finding at its root (caused_by) and record the root's
    `explains` list in its evidence, so one alert can name everything it covers. Idempotent.
    """
    by_rule: dict[str, Finding] = {}
    for finding in open_findings:
        if finding.rule_id in ROOTS and finding.state == Finding.State.OPEN:
            by_rule.setdefault(finding.rule_id, finding)
    changed = 0
    for finding in open_findings:
        root = next(
            (
                by_rule[r]
                for r in ROOTS
                if r in by_rule and finding.rule_id in ROOTS[r] and by_rule[r].pk != finding.pk
            ),
            None,
        )
        if root is None or finding.caused_by_id == root.pk:
            continue
        with transaction.atomic():
            finding.caused_by = root
            Finding.objects.filter(pk=finding.pk).update(caused_by=root)
            FindingEvent.objects.create(
                finding=finding,
                kind=FindingEvent.Kind.LINKED,
                at=now,
                severity=finding.severity,
                detail={"root": root.pk, "root_rule": root.rule_id},
            )
        changed += 1
    for root in by_rule.values():
        explains = sorted(f.pk for f in open_findings if f.caused_by_id == root.pk)
        if root.evidence.get("explains") != explains:
            root.evidence = {**root.evidence, "explains": explains}
            Finding.objects.filter(pk=root.pk).update(evidence=root.evidence)
    return changed
