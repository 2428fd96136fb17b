"""Detection settings with their defaults (config/settings.py sets them from the environment)."""

from __future__ import annotations

from django.conf import settings

DEFAULTS = {
    "DETECTION_WINDOW_HOURS": 6.0,  # history the trend rules read
    "DETECTION_BUCKET_S": 300,  # samples are aggregated to buckets of this size when loaded
    "DETECTION_SHORT_WINDOW_MINUTES": 30,  # history of the every-minute rules
    # Newest raw samples read per machine; older buckets come from the 5-minute rollups. Must
    # exceed the rollup task's re-roll period (apps.metrics.tasks.RECENT, 15 min).
    "DETECTION_RAW_TAIL_MINUTES": 20,
    "DETECTION_TREND_EVERY": 10,  # the beat pass runs the long-window rules on 1/N machines
    "DETECTION_CHUNK_SIZE": 500,  # machines per evaluation task
    "DETECTION_STALE_AFTER_S": 1800,  # machines silent longer are not evaluated (nor resolved)
    "DETECTION_RESOLVE_AFTER_S": 600,  # clear this long before a finding resolves
    "DETECTION_REOPEN_WITHIN_S": 86400,  # a finding firing again within this reopens
    "DETECTION_REQUEST_PROFILES": True,  # ask agents that allow it for a heap profile on leaks
}


def get(name: str):
    return getattr(settings, name, DEFAULTS[name])
