"""JSON shapes of findings and knowledge-base entries for the API."""

from __future__ import annotations

from apps.anomalies.models import Finding


def iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def finding(f: Finding, *, events: bool = False) -> dict:
    data = {
        "id": f.pk,
        "machine_id": f.machine.machine_id,
        "hostname": f.machine.hostname,
        "rule_id": f.rule_id,
        "subject": f.subject,
        "severity": f.severity,
        "state": f.state,
        "title": f.title,
        "summary": f.summary,
        "evidence": f.evidence,
        "advice": f.advice,
        "first_seen": iso(f.first_seen),
        "last_seen": iso(f.last_seen),
        "resolved_at": iso(f.resolved_at),
        "acknowledged_at": iso(f.acknowledged_at),
        "snoozed_until": iso(f.snoozed_until),
        "caused_by": f.caused_by_id,
        "top_allocations": f.top_allocations,
    }
    if events:
        data["events"] = [
            {"kind": e.kind, "at": iso(e.at), "severity": e.severity, "detail": e.detail}
            for e in f.events.all()
        ]
    return data
