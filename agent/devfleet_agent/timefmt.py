"""RFC 3339 timestamps in UTC, as the report schema wants them."""

from __future__ import annotations

import time
from datetime import datetime, timezone


def iso(ts: float | None = None) -> str:
    """Epoch seconds (default: now) → `2026-11-23T10:00:45.003Z`."""
    dt = datetime.fromtimestamp(time.time() if ts is None else ts, tz=timezone.utc)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> float:
    """RFC 3339 → epoch seconds (accepts a trailing Z)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
