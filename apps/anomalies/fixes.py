"""The closed loop on the server: which fixes a machine's agent may apply, what it applied,
and whether the fix helped (the finding resolved within its rule's window)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import F, Q, QuerySet

from apps.anomalies import conf
from apps.anomalies.fix_actions import finding_actions
from apps.anomalies.models import AppliedFix, Finding, FindingEvent
from apps.common.timestamps import parse_timestamp

# The evaluation pass runs every minute: one more pass after the resolve delay.
EVALUATION_SLACK_S = 120


def command(finding_id: int) -> str:
    return f"devfleet-agent fix {int(finding_id)}"


def machine_fixes(machine) -> list[dict]:
    """Open findings of one machine that carry an action the agent can apply."""
    out = []
    for f in Finding.objects.open().filter(machine=machine).order_by("pk"):
        actions = finding_actions(f.advice)
        if actions:
            out.append(
                {
                    "id": f.pk,
                    "rule_id": f.rule_id,
                    "severity": f.severity,
                    "title": f.title,
                    "subject": f.subject,
                    "first_seen": f.first_seen.isoformat().replace("+00:00", "Z"),
                    "actions": actions,
                    "command": command(f.pk),
                }
            )
    return out


def record_fixes(machine, items: list[dict], received_at: datetime) -> int:
    """Store the agent's applied-fix reports (once per journal entry) and note each on its
    finding. Findings of other machines are ignored: a credential speaks for its machine."""
    ids = {i["finding_id"] for i in items}
    findings = {f.pk: f for f in Finding.objects.filter(pk__in=ids, machine=machine)}
    stored = 0
    for item in items:
        finding = findings.get(item["finding_id"])
        if finding is None:
            continue
        applied_at = min(parse_timestamp(item["applied_at"]), received_at)
        fix, created = AppliedFix.objects.get_or_create(
            machine=machine,
            entry_id=item["id"],
            defaults={
                "finding": finding,
                "rule_id": finding.rule_id,
                "action_type": item["action"]["type"],
                "action": item["action"],
                "outcome": item["outcome"],
                "detail": str(item.get("detail") or "")[:500],
                "applied_at": applied_at,
                "received_at": received_at,
            },
        )
        if created:
            stored += 1
            FindingEvent.objects.create(
                finding=finding,
                kind=FindingEvent.Kind.FIX,
                at=applied_at,
                severity=finding.severity,
                detail={"outcome": fix.outcome, "action": fix.action, "entry": fix.entry_id},
            )
    return stored


def window(rule_id: str) -> timedelta:
    """How long after a fix its finding should resolve: the rule's evaluation window, the
    resolve delay and one more pass."""
    from apps.anomalies.evaluation import LONG_WINDOW_RULES

    if rule_id in LONG_WINDOW_RULES:
        span = conf.get("DETECTION_WINDOW_HOURS") * 3600
    else:
        span = conf.get("DETECTION_SHORT_WINDOW_MINUTES") * 60
    return timedelta(seconds=span + conf.get("DETECTION_RESOLVE_AFTER_S") + EVALUATION_SLACK_S)


@dataclass
class FixStatus:
    applied_at: datetime
    outcome: str
    action_type: str
    state: str  # pending | helped | did_not_help | undone | failed

    @property
    def message(self) -> str:
        when = self.applied_at.strftime("%Y-%m-%d %H:%M UTC")
        if self.outcome == "undone":
            return f"fix undone at {when} from the agent"
        if self.outcome == "failed":
            return f"fix failed at {when} on the agent"
        text = f"fix applied at {when} from the agent"
        if self.state == "did_not_help":
            return text + " — the fix did not help: the problem is still seen"
        if self.state == "helped":
            return text + " — it resolved the finding"
        return text + " — waiting for new samples to confirm"


def status_of(finding: Finding, fix: AppliedFix | None, now: datetime) -> FixStatus | None:
    if fix is None:
        return None
    state = "pending"
    if fix.outcome != AppliedFix.Outcome.APPLIED:
        state = fix.outcome
    elif finding.state == Finding.State.RESOLVED and finding.resolved_at >= fix.applied_at:
        state = "helped"
    elif now - fix.applied_at > window(finding.rule_id):
        state = "did_not_help"
    return FixStatus(fix.applied_at, fix.outcome, fix.action_type, state)


def annotate(findings: list[Finding], now: datetime) -> list[Finding]:
    """Set `fix_status` (latest fix reported for it) and `fix_command` on each finding."""
    latest: dict[int, AppliedFix] = {}
    for fix in AppliedFix.objects.filter(finding__in=[f.pk for f in findings]).order_by(
        "applied_at", "pk"
    ):
        latest[fix.finding_id] = fix
    for f in findings:
        f.fix_status = status_of(f, latest.get(f.pk), now)
        f.fix_command = command(f.pk) if finding_actions(f.advice) else ""
    return findings


def counts(fixes: QuerySet[AppliedFix]) -> dict[str, int]:
    """Fixes applied, and of those the ones whose finding resolved after the fix."""
    applied = fixes.filter(outcome=AppliedFix.Outcome.APPLIED)
    resolved = applied.filter(
        Q(finding__state=Finding.State.RESOLVED) & Q(finding__resolved_at__gte=F("applied_at"))
    )
    return {"applied": applied.count(), "resolved": resolved.count()}
