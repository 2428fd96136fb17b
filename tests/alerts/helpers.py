"""Open findings through the real lifecycle, cheaply, for alert tests."""

from __future__ import annotations

from datetime import datetime, timezone

from apps.anomalies.detectors.base import Detection
from apps.anomalies.lifecycle import open_finding
from tests.factories import enroll

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
ADVICE = {
    "summary": "Upgrade gopls.",
    "steps": [{"text": "Upgrade gopls", "command": "go install golang.org/x/tools/gopls@latest"}],
}


def machine(owner: str = "", team: str = "Platform", **kw):
    return enroll(team, owner=owner, **kw)[0]


def leak(m, now=NOW, rule="gopls_memory_leak", severity="warning", title="gopls memory grows"):
    det = Detection(
        rule_id=rule,
        fired=True,
        severity=severity,
        evidence={"slope_mb_per_hour": 117.1, "rss_bytes": 4539743644, "series": [[1, 2]]},
        explanation="Heap in use grows 117 MB/h.",
    )
    return open_finding(m.pk, det, title, ADVICE, now)[0]
