"""AuditEvent: one row per change of a configuration object."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class AuditEvent(models.Model):
    class Action(models.TextChoices):
        ADD = "add", "Added"
        CHANGE = "change", "Changed"
        REVOKE = "revoke", "Revoked"
        DELETE = "delete", "Deleted"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_repr = models.CharField(
        max_length=150, help_text="Username at the time, or 'system' outside a request."
    )
    action = models.CharField(max_length=8, choices=Action.choices)
    object_type = models.CharField(max_length=100, db_index=True, help_text="app.Model")
    object_id = models.CharField(max_length=64, db_index=True)
    object_repr = models.CharField(max_length=200)
    changes = models.JSONField(
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="field: [before, after]; secrets are redacted.",
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    path = models.CharField(max_length=200, blank=True, help_text="Request path, if any.")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.actor_repr} {self.action} {self.object_type} {self.object_repr}"
