"""Findings: one open per (machine, rule, subject), with evidence, advice and history."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class FindingQuerySet(models.QuerySet):
    def open(self) -> FindingQuerySet:
        return self.filter(state=Finding.State.OPEN)

    def visible_to(self, user) -> FindingQuerySet:
        from apps.fleet.models import Machine

        return self.filter(machine__in=Machine.objects.visible_to(user))

    def not_snoozed(self, now=None) -> FindingQuerySet:
        now = now or timezone.now()
        return self.filter(models.Q(snoozed_until__isnull=True) | models.Q(snoozed_until__lte=now))


class Finding(models.Model):
    class State(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    class Severity(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    machine = models.ForeignKey("fleet.Machine", on_delete=models.CASCADE, related_name="findings")
    rule_id = models.CharField(max_length=64)
    subject = models.CharField(max_length=255, default="machine")
    severity = models.CharField(max_length=16, choices=Severity.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    advice = models.JSONField(default=dict, blank=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    clear_since = models.DateTimeField(
        null=True, blank=True, help_text="First evaluation that found the condition clear."
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    snoozed_until = models.DateTimeField(null=True, blank=True)
    caused_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="explains",
        help_text="The root finding (WSL memory pressure, OOM kill) that explains this one.",
    )
    profile_request_id = models.CharField(max_length=64, blank=True)
    top_allocations = models.JSONField(default=list, blank=True)

    objects = FindingQuerySet.as_manager()

    class Meta:
        ordering = ["-last_seen"]
        constraints = [
            models.UniqueConstraint(
                fields=["machine", "rule_id", "subject"],
                condition=models.Q(state="open"),
                name="uniq_open_finding",
            )
        ]
        indexes = [
            models.Index(fields=["machine", "state"], name="finding_machine_state"),
            models.Index(fields=["state", "severity"], name="finding_state_severity"),
            models.Index(fields=["rule_id", "state"], name="finding_rule_state"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.subject} on {self.machine_id} ({self.state})"

    @property
    def is_snoozed(self) -> bool:
        return self.snoozed_until is not None and self.snoozed_until > timezone.now()


class FindingEvent(models.Model):
    """History of a finding: every state or severity change, acknowledgement and snooze."""

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        ESCALATED = "escalated", "Escalated"
        DEESCALATED = "deescalated", "Severity lowered"
        RESOLVED = "resolved", "Resolved"
        REOPENED = "reopened", "Reopened"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        UNACKNOWLEDGED = "unacknowledged", "Acknowledgement withdrawn"
        SNOOZED = "snoozed", "Snoozed"
        LINKED = "linked", "Linked to a root cause"
        PROFILE = "profile", "Heap profile attached"
        FIX = "fix", "Fix applied from the agent"

    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    at = models.DateTimeField()
    severity = models.CharField(max_length=16, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["finding", "at"], name="finding_event_at")]

    def __str__(self) -> str:
        return f"{self.kind} {self.finding_id} at {self.at:%Y-%m-%d %H:%M}"


class AppliedFix(models.Model):
    """A fix the developer applied (or undid) with `devfleet-agent fix`, as the agent reported
    it in an upload. `entry_id` is the agent's journal id: a resent report is stored once."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", "Applied"
        FAILED = "failed", "Failed"
        UNDONE = "undone", "Undone"

    machine = models.ForeignKey("fleet.Machine", on_delete=models.CASCADE, related_name="fixes")
    finding = models.ForeignKey(
        Finding, null=True, blank=True, on_delete=models.SET_NULL, related_name="fixes"
    )
    entry_id = models.CharField(max_length=64)
    rule_id = models.CharField(max_length=64)
    action_type = models.CharField(max_length=32)
    action = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    detail = models.CharField(max_length=500, blank=True)
    applied_at = models.DateTimeField()
    received_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "applied fixes"
        ordering = ["-applied_at"]
        constraints = [
            models.UniqueConstraint(fields=["machine", "entry_id"], name="uniq_fix_entry")
        ]
        indexes = [models.Index(fields=["applied_at"], name="fix_applied_at")]

    def __str__(self) -> str:
        return f"{self.action_type} {self.outcome} for finding {self.finding_id}"
