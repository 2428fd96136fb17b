"""Finding events write the outbox in their own transaction (see outbox.write_outbox)."""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from apps.anomalies.models import FindingEvent


@receiver(post_save, sender=FindingEvent, dispatch_uid="alerts-outbox")
def write_outbox_for_event(sender, instance: FindingEvent, created: bool, raw=False, **kwargs):
    if created and not raw:
        from apps.alerts.outbox import write_outbox

        write_outbox(instance)
