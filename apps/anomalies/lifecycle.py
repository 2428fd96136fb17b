"""Finding transitions, one service function each, every one inside transaction.atomic.

The alerts app will write its outbox row inside these same transactions. Evaluation calls
`reconcile` with what the detectors found; people call `acknowledge` and `snooze`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
from django.db import IntegrityError, connection, transaction

from apps.anomalies import conf
from apps.anomalies.detectors.base import Detection, severity_rank
from apps.anomalies.models import Finding, FindingEvent


@dataclass
class Outcome:
    opened: list[Finding] = field(default_factory=list)
    reopened: list[Finding] = field(default_factory=list)
    changed: list[Finding] = field(default_factory=list)
    resolved: list[Finding] = field(default_factory=list)
    touched: int = 0

    def merge(self, other: Outcome) -> None:
        for name in ("opened", "reopened", "changed", "resolved"):
            getattr(self, name).extend(getattr(other, name))
        self.touched += other.touched


def _event(finding: Finding, kind: str, at: datetime, detail=None, actor=None) -> FindingEvent:
    return FindingEvent.objects.create(
        finding=finding,
        kind=kind,
        at=at,
        severity=finding.severity,
        detail=detail or {},
        actor=actor,
    )


def open_finding(machine_id: int, det: Detection, title: str, advice: dict, now: datetime):
    """Create an open finding; if one was opened concurrently, return that one instead."""
    try:
        with transaction.atomic():
            finding = Finding.objects.create(
                machine_id=machine_id,
                rule_id=det.rule_id,
                subject=det.subject[:255],
                severity=det.severity,
                title=title,
                summary=det.explanation,
                evidence=det.evidence,
                advice=advice,
                first_seen=now,
                last_seen=now,
            )
            _event(finding, FindingEvent.Kind.OPENED, now)
            return finding, True
    except IntegrityError:  # the partial unique index: another worker opened it first
        return Finding.objects.open().get(
            machine_id=machine_id, rule_id=det.rule_id, subject=det.subject[:255]
        ), False


def reopen_finding(finding: Finding, det: Detection, advice: dict, now: datetime) -> Finding:
    with transaction.atomic():
        finding.state = Finding.State.OPEN
        finding.severity, finding.summary = det.severity, det.explanation
        finding.evidence, finding.advice = det.evidence, advice
        finding.last_seen, finding.resolved_at, finding.clear_since = now, None, None
        finding.save()
        _event(finding, FindingEvent.Kind.REOPENED, now)
    return finding


def change_severity(finding: Finding, severity: str, now: datetime) -> Finding:
    with transaction.atomic():
        kind = (
            FindingEvent.Kind.ESCALATED
            if severity_rank(severity) > severity_rank(finding.severity)
            else FindingEvent.Kind.DEESCALATED
        )
        before = finding.severity
        finding.severity = severity
        Finding.objects.filter(pk=finding.pk).update(severity=severity)
        _event(finding, kind, now, {"from": before, "to": severity})
    return finding


def resolve_finding(finding: Finding, now: datetime) -> Finding:
    with transaction.atomic():
        finding.state, finding.resolved_at = Finding.State.RESOLVED, now
        Finding.objects.filter(pk=finding.pk).update(state=finding.state, resolved_at=now)
        _event(
            finding,
            FindingEvent.Kind.RESOLVED,
            now,
            {"clear_since": finding.clear_since.isoformat() if finding.clear_since else None},
        )
    return finding


def _audit(finding: Finding, changes: dict) -> None:
    """People's actions on findings go to the audit log too (attributed to the request)."""
    from apps.audit.models import AuditEvent
    from apps.audit.recording import record_event

    record_event(AuditEvent.Action.CHANGE, finding, changes)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def acknowledge(finding: Finding, user, now: datetime) -> Finding:
    """Mark a finding as seen by `user`: repeats stop. The dashboard, the alert links and the
    API all act through here (with snooze and unacknowledge), in one transaction with the
    finding event and the audit event."""
    with transaction.atomic():
        before = finding.acknowledged_at
        finding.acknowledged_at, finding.acknowledged_by = now, user
        Finding.objects.filter(pk=finding.pk).update(acknowledged_at=now, acknowledged_by=user)
        _event(finding, FindingEvent.Kind.ACKNOWLEDGED, now, actor=user)
        _audit(finding, {"acknowledged_at": [_iso(before), _iso(now)]})
    return finding


def unacknowledge(finding: Finding, user, now: datetime) -> Finding:
    """Undo an acknowledgement: the finding needs attention again (a snooze is left as is)."""
    with transaction.atomic():
        before = finding.acknowledged_at
        finding.acknowledged_at, finding.acknowledged_by = None, None
        Finding.objects.filter(pk=finding.pk).update(acknowledged_at=None, acknowledged_by=None)
        _event(finding, FindingEvent.Kind.UNACKNOWLEDGED, now, actor=user)
        _audit(finding, {"acknowledged_at": [_iso(before), None]})
    return finding


def snooze(finding: Finding, until: datetime, user, now: datetime) -> Finding:
    with transaction.atomic():
        before = finding.snoozed_until
        finding.snoozed_until = until
        Finding.objects.filter(pk=finding.pk).update(snoozed_until=until)
        _event(finding, FindingEvent.Kind.SNOOZED, now, {"until": until.isoformat()}, actor=user)
        _audit(finding, {"snoozed_until": [_iso(before), _iso(until)]})
    return finding


TOUCH_FIELDS = ["last_seen", "clear_since", "evidence", "summary"]


def save_touched(findings: list[Finding]) -> None:
    """Write the refreshed fields of many findings in one statement per 1,000.

    On PostgreSQL an UPDATE … FROM (VALUES …): Django's bulk_update builds a CASE expression
    per row and field, which costs more Python time than the whole detection of a machine."""
    if not findings:
        return
    if connection.vendor != "postgresql":
        Finding.objects.bulk_update(findings, TOUCH_FIELDS, batch_size=500)
        return
    table = Finding._meta.db_table
    for start in range(0, len(findings), 1000):
        part = findings[start : start + 1000]
        rows = ", ".join(["(%s, %s::timestamptz, %s::timestamptz, %s::jsonb, %s)"] * len(part))
        params: list = []
        for f in part:
            evidence = orjson.dumps(f.evidence, option=orjson.OPT_SERIALIZE_NUMPY).decode()
            params += [f.pk, f.last_seen, f.clear_since, evidence, f.summary]
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS f SET last_seen = v.last_seen, clear_since = v.clear_since, "
                f"evidence = v.evidence, summary = v.summary "
                f"FROM (VALUES {rows}) AS v(id, last_seen, clear_since, evidence, summary) "
                f"WHERE f.id = v.id",
                params,
            )


def reconcile(
    machine_id: int,
    detections: list[Detection],
    existing: list[Finding],
    render,
    now: datetime,
    *,
    rules: set[str] | None = None,
    touched: list[Finding] | None = None,
    gone: set[str] | None = None,
) -> Outcome:
    """Apply one evaluation of a machine: open, reopen, change severity, touch, clear, resolve.

    Idempotent: running it again with the same detections only refreshes last_seen. Findings
    of rules not in `rules` (when given) are left alone. `render(det) -> (title, advice)`.
    Hysteresis: a `hold` detection keeps a finding open without opening one; a finding
    resolves only after its condition has been clear for DETECTION_RESOLVE_AFTER_S.
    With `touched`, refreshed findings are appended there for the caller to save in bulk
    (last_seen, clear_since, evidence, summary) instead of being saved here.
    `gone`: subjects (gopls lifetimes) known to have ended. Nothing opens, reopens or holds
    for them, and their open findings clear whatever rules this pass runs, so a finding about
    a restarted gopls resolves one resolve delay after the restart is seen.
    """
    out = Outcome()
    resolve_after = timedelta(seconds=conf.get("DETECTION_RESOLVE_AFTER_S"))
    open_by_key = {(f.rule_id, f.subject): f for f in existing if f.state == Finding.State.OPEN}
    gone = gone or set()
    seen: set[tuple[str, str]] = set()
    touch: list[Finding] = []
    for det in detections:
        key = (det.rule_id, det.subject[:255])
        if key in seen or not det.active or key[1] in gone:
            continue
        seen.add(key)
        finding = open_by_key.get(key)
        if finding is None:
            if not det.fired:
                continue
            title, advice = render(det)
            recent = _recently_resolved(machine_id, key, now)
            if recent is not None:
                out.reopened.append(reopen_finding(recent, det, advice, now))
            else:
                finding, created = open_finding(machine_id, det, title, advice, now)
                (out.opened if created else out.changed).append(finding)
            continue
        if det.fired and det.severity != finding.severity and det.severity != "ok":
            out.changed.append(change_severity(finding, det.severity, now))
        finding.last_seen, finding.clear_since = now, None
        if det.fired:
            finding.evidence, finding.summary = det.evidence, det.explanation
        touch.append(finding)
    for key, finding in open_by_key.items():
        in_pass = rules is None or finding.rule_id in rules or key[1] in gone
        if key in seen or not in_pass:
            continue
        if finding.clear_since is None:
            finding.clear_since = now
            touch.append(finding)
        elif now - finding.clear_since >= resolve_after:
            out.resolved.append(resolve_finding(finding, now))
    if touched is not None:
        touched.extend(touch)
    elif touch:
        save_touched(touch)
    out.touched = len(touch)
    return out


def _recently_resolved(machine_id: int, key: tuple[str, str], now: datetime) -> Finding | None:
    since = now - timedelta(seconds=conf.get("DETECTION_REOPEN_WITHIN_S"))
    return (
        Finding.objects.filter(
            machine_id=machine_id,
            rule_id=key[0],
            subject=key[1],
            state=Finding.State.RESOLVED,
            resolved_at__gte=since,
        )
        .order_by("-resolved_at")
        .first()
    )
