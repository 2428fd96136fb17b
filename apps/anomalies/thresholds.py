"""Detector thresholds: code defaults, then settings.DETECTION_THRESHOLDS, then the team's."""

from __future__ import annotations

import copy

from django.conf import settings

# HEURISTIC values from docs/facts.md §9 where it gives one; the others are ours.
DEFAULTS: dict[str, dict] = {
    "gopls_memory_leak": {
        "bucket_s": 300,
        "settle_minutes": 15,
        "max_settle_minutes": 120,
        "settle_rate_fraction": 0.03,
        "steady_rate_ratio": 0.85,
        "steady_max_fraction": 0.25,
        "resettle_minutes": 30,
        "jump_bytes": 300e6,
        "jump_fraction": 0.2,
        "min_span_minutes": 50,
        "min_points": 8,
        "windows_h": [1, 2, 4, 0],
        "alpha": 0.001,
        "min_slope_mb_h": 25,
        "clear_slope_mb_h": 12,
        "min_growth_mb": 30,
        "min_growth_ratio": 0.05,
        "decel_ratio": 0.5,
        "critical_hours_to_ceiling": 6,
    },
    "gopls_memory_high": {
        "info_heap_bytes": 1024**3,
        "info_rss_bytes": 1.5 * 1024**3,
        "warning_rss_bytes": 4 * 1024**3,
        "warning_ratio": 0.25,
        "critical_ratio": 0.5,
        "clear_factor": 0.9,
        "recent_s": 60,
    },
    "gopls_goroutine_growth": {
        "bucket_s": 300,
        "settle_minutes": 15,
        "min_span_minutes": 60,
        "alpha": 0.01,
        "min_per_hour": 100,
        "min_count": 500,
    },
    "gopls_cpu_pegged": {"percent": 95, "minutes": 5, "clear_percent": 80, "window_minutes": 60},
    "gopls_cpu_busy_idle": {"percent": 10, "minutes": 10, "pegged_percent": 95},
    "gopls_children_cpu": {"percent": 100, "minutes": 10},
    "gopls_rpc_latency": {"completion_p95_ms": 1000, "clear_ms": 800, "recent_s": 900},
    "inotify_watches": {"ratio": 0.8, "critical_ratio": 0.95, "clear_ratio": 0.75},
    "inotify_instances": {"ratio": 0.8, "critical_ratio": 0.95, "clear_ratio": 0.75},
    "wsl_memory_pressure": {
        "ratio": 0.9,
        "critical_ratio": 0.97,
        "clear_ratio": 0.85,
        "cached_ratio": 0.5,
        "cached_used_ratio": 0.8,
    },
    "wsl_default_cap_large_gopls": {"gopls_ratio": 0.4},
    "oom_kill": {"lookback_hours": 24},
    "cache_disk_full": {
        "min_free_bytes": 5e9,
        "critical_free_bytes": 1e9,
        "hours_to_full": 48,
        "gopls_cache_bytes": 3e9,
        "cache_share": 0.5,
    },
    "gopls_fd_near_limit": {"ratio": 0.8, "critical_ratio": 0.95, "clear_ratio": 0.7},
    "cgroup_memory_low": {"ratio": 0.8, "critical_ratio": 0.95, "clear_ratio": 0.7},
    "too_many_gopls": {"max_per_editor": 1, "max_total": 4},
    "gopls_crash_loop": {"short_lifetime_s": 120, "count": 3, "lookback_minutes": 120},
    "fleet_memory_outlier": {
        "z": 3.5,
        "min_group": 3,
        "min_bytes": 512 * 1024**2,
        "min_ratio": 2.0,
    },
    "gopls_version_regression": {
        "ratio": 1.3,  # memory
        "min_machines": 3,
        "cpu_ratio": 1.5,
        "cpu_min_diff": 5.0,  # percentage points of one core: 1 % → 2 % is no regression
        "latency_ratio": 1.5,
        "latency_min_diff_ms": 50.0,
    },
}


def _merge(base: dict, extra: dict | None) -> dict:
    for rule_id, values in (extra or {}).items():
        if isinstance(values, dict):
            base.setdefault(rule_id, {}).update(values)
    return base


def thresholds(team_overrides: dict | None = None) -> dict[str, dict]:
    """All thresholds by rule id for one team."""
    merged = _merge(copy.deepcopy(DEFAULTS), getattr(settings, "DETECTION_THRESHOLDS", {}))
    return _merge(merged, team_overrides)
