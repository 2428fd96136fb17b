"""Secrets: team enrollment tokens, per-machine credentials and personal API tokens.

Only a SHA-256 digest of each secret is stored. The secrets are 256-bit random strings, so a
fast digest is enough (the same choice GitHub and healthchecks make for API keys); a slow
password hash would only slow every agent upload down.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


def new_secret(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


class SecretQuerySet(models.QuerySet):
    def active(self) -> SecretQuerySet:
        return self.filter(revoked_at__isnull=True)

    def matching(self, secret: str) -> SecretQuerySet:
        return self.active().filter(token_hash=digest(secret))


class Secret(models.Model):
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=12, editable=False, help_text="First characters, to recognise it."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = SecretQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def set_secret(self, secret: str) -> None:
        self.token_hash = digest(secret)
        self.prefix = secret[:12]

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])


class EnrollmentToken(Secret):
    PREFIX = "dfe"
    team = models.ForeignKey(
        "fleet.Team", on_delete=models.CASCADE, related_name="enrollment_tokens"
    )
    label = models.CharField(max_length=100, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    enrollments = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="No enrollment after this time (empty: never expires)."
    )
    max_uses = models.PositiveIntegerField(
        null=True, blank=True, help_text="At most this many enrollments (empty: no limit)."
    )

    def __str__(self) -> str:
        return f"{self.prefix}… for {self.team}"

    def refusal(self, now, uses: int = 1) -> str:
        """Why this token cannot enroll `uses` more machines now, or "" when it can."""
        if self.revoked_at is not None:
            return "enrollment token revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "enrollment token expired"
        if self.max_uses is not None and self.enrollments + uses > self.max_uses:
            return "enrollment token used up"
        return ""

    @property
    def status(self) -> str:
        return self.refusal(timezone.now()).replace("enrollment token ", "") or "active"


class MachineCredential(Secret):
    PREFIX = "dfm"
    machine = models.ForeignKey(
        "fleet.Machine", on_delete=models.CASCADE, related_name="credentials"
    )
    enrollment_token = models.ForeignKey(
        EnrollmentToken, null=True, blank=True, on_delete=models.SET_NULL
    )

    def __str__(self) -> str:
        return f"{self.prefix}… for {self.machine}"


class ApiToken(Secret):
    PREFIX = "dfp"

    class Scope(models.TextChoices):
        READ = "read", "Read only"
        WRITE = "write", "Read and write (acknowledge, snooze)"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.READ)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) of {self.user}"
