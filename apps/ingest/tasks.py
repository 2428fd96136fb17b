"""Hand-offs after an upload is stored: the report_stored signal, sent once it has committed."""

from __future__ import annotations

from django.db import transaction

from apps.common.signals import report_stored


def _send(machine_pk: int, result) -> None:
    report_stored.send_robust(sender=None, machine_pk=machine_pk, result=result)


def after_ingest(machine_pk: int, result) -> None:
    """Send report_stored once the upload has committed.

    Robust: the samples are stored by then, so a receiver that fails (Redis down) is logged
    (by django.dispatch) and neither turns the upload into a 500, which the agent would resend
    only to find duplicates, nor keeps the other receivers from running."""
    transaction.on_commit(lambda: _send(machine_pk, result), robust=True)
