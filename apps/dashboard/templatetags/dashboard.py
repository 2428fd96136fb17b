"""Template filters for the dashboard: sizes, percentages, health labels, inventory values."""

from __future__ import annotations

import json

from django import template

from apps.anomalies.health import LEVEL_LABELS

register = template.Library()


@register.filter
def may_silence(user) -> bool:
    """Whether the nav shows Silences: platform staff and team leads (apps.alerts decides)."""
    from apps.alerts.silences import may_manage_silences

    return may_manage_silences(user)


@register.filter
def bytes_(value) -> str:
    """1536 → "1.5 KiB"; None → "—"."""
    if not isinstance(value, (int, float)):
        return "—"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return "—"


@register.filter
def pct(value, digits: int = 0) -> str:
    if not isinstance(value, (int, float)):
        return "—"
    return f"{value:.{digits}f}%"


@register.filter
def ratio(used, limit) -> float | None:
    """used / limit as a percentage, or None."""
    if not isinstance(used, (int, float)) or not isinstance(limit, (int, float)) or not limit:
        return None
    return 100.0 * used / limit


@register.filter
def health_label(level: str) -> str:
    return LEVEL_LABELS.get(level, level)


@register.filter
def pretty(value) -> str:
    """A JSON value as readable text for an inventory cell."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


@register.filter
def get(mapping, key):
    return mapping.get(key) if isinstance(mapping, dict) else None
