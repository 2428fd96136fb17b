"""Channels, routes, silences and the notification outbox with its delivery attempts."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class Channel(models.Model):
    """Where messages go: a team channel, or a developer's personal one (owner set)."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        SLACK = "slack", "Slack"
        TEAMS = "teams", "Microsoft Teams"
        MATTERMOST = "mattermost", "Mattermost"
        DISCORD = "discord", "Discord"
        GOOGLECHAT = "googlechat", "Google Chat"
        WEBHOOK = "webhook", "Webhook (JSON, HMAC-signed)"
        APPRISE = "apprise", "Apprise URL (100+ services)"

    team = models.ForeignKey("fleet.Team", on_delete=models.CASCADE, related_name="channels")
    name = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    target = models.CharField(
        max_length=2000, help_text="Email address(es, comma-separated), webhook URL or Apprise URL."
    )
    secret = models.CharField(
        max_length=200, blank=True, help_text="HMAC-SHA256 key for the webhook signature header."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alert_channels",
        help_text="Set for a developer's opt-in channel: messages about their own machines only.",
    )
    min_severity = models.CharField(
        max_length=16,
        choices=Severity.choices,
        default=Severity.WARNING,
        help_text="Lowest severity a personal channel receives.",
    )
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=500, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["team__name", "name", "id"]

    def __str__(self) -> str:
        return self.name or f"{self.get_kind_display()} {self.target[:40]}"

    @property
    def label(self) -> str:
        """How messages name this channel: never its target (a URL can hold a secret)."""
        return self.name or f"{self.get_kind_display()} channel #{self.pk}"

    def clean(self) -> None:
        from apps.alerts.targets import check_target

        if self.kind in self.Kind.values:  # an unknown kind is the field's own error
            check_target(self.kind, self.target, personal=self.owner_id is not None)

    @property
    def healthy(self) -> bool:
        if not self.enabled:
            return False
        if self.last_error_at is None:
            return True
        return self.last_success_at is not None and self.last_success_at > self.last_error_at


class Route(models.Model):
    """Findings of a team (optionally one project, rule, minimum severity) go to channels."""

    team = models.ForeignKey("fleet.Team", on_delete=models.CASCADE, related_name="alert_routes")
    project = models.ForeignKey("fleet.Project", null=True, blank=True, on_delete=models.CASCADE)
    rule_id = models.CharField(max_length=64, blank=True, help_text="Empty: every rule.")
    min_severity = models.CharField(
        max_length=16, choices=Severity.choices, default=Severity.WARNING
    )
    channels = models.ManyToManyField(Channel, related_name="routes")
    repeat_hours = models.FloatField(
        null=True, blank=True, help_text="Repeat while open and unacknowledged; empty: default."
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["team__name", "id"]

    def __str__(self) -> str:
        scope = " ".join(x for x in (self.rule_id, self.project and self.project.slug) if x)
        return f"{self.team} {scope or 'all'} ≥{self.min_severity}"


class SilenceQuerySet(models.QuerySet):
    def active(self, now=None) -> SilenceQuerySet:
        return self.filter(expires_at__gt=now or timezone.now())


class Silence(models.Model):
    """Mute matching findings until expiry; empty fields match anything."""

    team = models.ForeignKey("fleet.Team", null=True, blank=True, on_delete=models.CASCADE)
    machine = models.ForeignKey("fleet.Machine", null=True, blank=True, on_delete=models.CASCADE)
    project = models.ForeignKey("fleet.Project", null=True, blank=True, on_delete=models.CASCADE)
    rule_id = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField()
    reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = SilenceQuerySet.as_manager()

    class Meta:
        ordering = ["-expires_at"]

    def __str__(self) -> str:
        return f"silence {self.rule_id or '*'} until {self.expires_at:%Y-%m-%d %H:%M}"


class Notification(models.Model):
    """Outbox row: one message for one channel, written with the finding change it reports."""

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        ESCALATED = "escalated", "Escalated"
        REPEAT = "repeat", "Still open"
        RESOLVED = "resolved", "Resolved"
        TEST = "test", "Test message"
        CHANNEL_DISABLED = "channel_disabled", "Channel disabled"
        DIGEST = "digest", "Weekly digest"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        GROUPED = "grouped", "Sent within a grouped message"
        SUPPRESSED = "suppressed", "Suppressed"
        FAILED = "failed", "Failed"

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="notifications")
    finding = models.ForeignKey(
        "anomalies.Finding",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    event = models.ForeignKey(
        "anomalies.FindingEvent", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    dedupe_key = models.CharField(max_length=120)
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    rule_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=300, blank=True)
    context = models.JSONField(default=dict, blank=True)
    group_leader = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="group_members"
    )
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    not_before = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["finding", "event", "channel"],
                condition=models.Q(event__isnull=False),
                name="uniq_notification_event_channel",
            ),
            models.UniqueConstraint(fields=["channel", "dedupe_key"], name="uniq_notification_key"),
        ]
        indexes = [
            models.Index(fields=["status", "not_before"], name="notification_due"),
            models.Index(fields=["channel", "status", "sent_at"], name="notification_rate"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.channel} ({self.status})"


class DeliveryAttempt(models.Model):
    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="delivery_attempts"
    )
    at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    permanent = models.BooleanField(default=False)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{'ok' if self.ok else 'error'} {self.notification_id} at {self.at:%H:%M:%S}"
