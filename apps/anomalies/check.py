"""POST /api/v1/check: evaluate one report without storing it; the agent's `check` command."""

from __future__ import annotations

from apps.anomalies.detectors import run_machine_rules, worst
from apps.anomalies.detectors.base import severity_rank
from apps.anomalies.evaluation import renderer
from apps.anomalies.report_snapshot import snapshot_from_report
from apps.anomalies.thresholds import thresholds
from apps.ingest.services import ReportInvalid
from apps.ingest.validation import validate_report


def check_report(machine, payload) -> dict:
    """{worst_severity, findings: [{rule_id, severity, title, summary, evidence, advice}]}.

    Raises ReportInvalid like ingest. Only rules that fire are returned, worst first.
    """
    errors = validate_report(payload)
    if errors:
        raise ReportInvalid(errors)
    snapshot = snapshot_from_report(payload, machine)
    team = machine.team if machine is not None else None
    detections = [
        d
        for d in run_machine_rules(snapshot, thresholds(team.detector_overrides if team else None))
        if d.fired
    ]
    render = renderer(snapshot)
    findings = []
    for det in sorted(detections, key=lambda d: (-severity_rank(d.severity), d.rule_id)):
        title, advice = render(det)
        evidence = {k: v for k, v in det.evidence.items() if k != "series"}
        findings.append(
            {
                "rule_id": det.rule_id,
                "severity": det.severity,
                "title": title,
                "summary": det.explanation,
                "subject": det.subject,
                "evidence": evidence,
                "advice": advice,
            }
        )
    return {"worst_severity": worst(f["severity"] for f in findings), "findings": findings}
