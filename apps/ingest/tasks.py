"""Celery hand-offs after an upload is stored."""

from __future__ import annotations

import logging

from django.db import transaction

log = logging.getLogger(__name__)

# Hooks other apps register (machine_id, IngestResult) -> None, e.g. detection triggering an
# immediate evaluation when a sample crosses a hard line. Kept as a list so ingest does not
# import the apps that depend on it.
AFTER_INGEST_HOOKS: list = []


def after_ingest(machine_pk: int, result) -> None:
    """Run each hook once the upload has committed.

    Robust: the samples are stored by then, so a hook that fails (Redis down) is logged and
    neither turns the upload into a 500, which the agent would resend only to find duplicates,
    nor keeps the other hooks from running."""
    for hook in AFTER_INGEST_HOOKS:
        transaction.on_commit(lambda hook=hook: hook(machine_pk, result), robust=True)
