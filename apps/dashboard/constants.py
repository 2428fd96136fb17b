"""Dashboard constants: chart ranges, palette and health colours."""

from __future__ import annotations

from datetime import timedelta

# Colour-blind-friendly on a dark background (GitHub dark tones).
PALETTE = ["#58a6ff", "#3fb950", "#d2a8ff", "#ffa657", "#79c0ff", "#f778ba", "#a5d6ff", "#7ee787"]
HEALTH_COLORS = {
    "ok": "#3fb950",
    "warning": "#d29922",
    "critical": "#f85149",
    "offline": "#6e7681",
}
SEVERITY_COLORS = {
    "info": "#58a6ff",
    "warning": HEALTH_COLORS["warning"],
    "critical": HEALTH_COLORS["critical"],
}
RANGES = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
DEFAULT_RANGE = "6h"
MAX_POINTS = 2000
TOP_OFFENDERS = 10
TOP_PROJECTS = 15
