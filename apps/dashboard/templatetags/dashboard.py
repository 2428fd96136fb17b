"""Template filters for the dashboard: sizes, percentages, health labels, inventory values."""

from __future__ import annotations

import json

from django import template

from apps.anomalies.health import LEVEL_LABELS

register = template.Library()

# The one nav tab each page belongs to, by its namespaced view name (several apps use the same
# short names: alerts:me is not dashboard:me).
NAV_TABS = {
    "dashboard:fleet": "fleet",
    "dashboard:machine-list": "machines",
    "dashboard:machine": "machines",
    "dashboard:developer": "machines",
    "dashboard:findings": "findings",
    "dashboard:project-list": "projects",
    "dashboard:project": "projects",
    "dashboard:versions": "versions",
    "dashboard:rule-list": "rules",
    "dashboard:rule": "rules",
    "dashboard:me": "me",
    "alerts:silences": "silences",
}


@register.simple_tag(takes_context=True)
def nav_tab(context) -> str:
    """The nav tab to mark active on this page ("" for none)."""
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    if match is None:
        return ""
    tab = NAV_TABS.get(match.view_name)
    if tab is None and match.app_name == "alerts":
        return "alerts"
    if tab == "machines" and match.url_name == "developer":
        user = context.get("user")
        if user is not None and str(match.kwargs.get("user_id")) == str(user.pk):
            return "me"  # your own developer page is "My machines"
    return tab or ""


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


@register.filter
def os_with_version(machine) -> str:
    """ "macOS 15.0.1", not "macOS macOS 15.0.1": agents often send the name in the version."""
    name, version = machine.get_os_display(), (machine.os_version or "").strip()
    if version.lower().startswith(name.lower()):
        return version
    return f"{name} {version}".strip()
