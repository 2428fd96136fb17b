"""Signals apps send one another, here so that senders import none of the apps that react."""

from django.dispatch import Signal

# Sent by apps.ingest once an upload has committed, with machine_pk (the Machine's primary key)
# and result (apps.ingest.services.IngestResult). Receivers: rollups of late samples and the
# ingest counters (apps.metrics), evaluation after an OOM kill (apps.anomalies).
report_stored = Signal()
