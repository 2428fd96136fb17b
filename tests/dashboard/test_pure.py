"""Pure helpers: LTTB downsampling, health classification, statistics, inventory diffs."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from apps.anomalies.health import CRITICAL, OFFLINE, OK, WARNING, assess
from apps.dashboard.inventory import diff_values, flatten
from apps.dashboard.stats import (
    iqr_outliers,
    median,
    quantile,
    quantiles,
    regressions,
    sorted_versions,
)
from apps.metrics.downsample import lttb, lttb_indices

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
GIB = 1024**3


def test_lttb_keeps_first_last_and_the_spike():
    points = [(float(i), math.sin(i / 50)) for i in range(10_000)]
    points[5_000] = (5_000.0, 40.0)
    thin = lttb(points, 500)
    assert len(thin) == 500
    assert thin[0] == points[0]
    assert thin[-1] == points[-1]
    assert (5_000.0, 40.0) in thin
    assert [p[0] for p in thin] == sorted(p[0] for p in thin)


def test_lttb_leaves_short_series_alone():
    assert lttb_indices([1, 2, 3], [1, 2, 3], 2000) == [0, 1, 2]
    with pytest.raises(ValueError):
        lttb_indices(list(range(10)), list(range(10)), 2)


def latest(**kw):
    base = {
        "mem_total_bytes": 16 * GIB,
        "mem_available_bytes": 8 * GIB,
        "inotify_watches_used": 1000,
        "inotify_watches_max": 100_000,
        "disk_free_min_bytes": 100 * 10**9,
        "gopls": [{"pid": 1, "rss_bytes": GIB}],
    }
    base.update(kw)
    return base


def test_a_quiet_machine_is_healthy():
    health = assess(latest(), NOW, NOW, timedelta(minutes=15))
    assert health.level == OK
    assert health.signals == []


def test_a_silent_machine_is_offline():
    assert assess(latest(), NOW - timedelta(hours=1), NOW, timedelta(minutes=15)).level == OFFLINE
    assert assess(latest(), None, NOW, timedelta(minutes=15)).level == OFFLINE


@pytest.mark.parametrize(
    ("change", "level", "text"),
    [
        ({"gopls": [{"pid": 7, "rss_bytes": 5 * GIB}]}, WARNING, "gopls 7 RSS 5.0 GiB"),
        ({"gopls": [{"pid": 7, "rss_bytes": 9 * GIB}]}, CRITICAL, "gopls 7 uses 56% of RAM"),
        ({"inotify_watches_used": 85_000}, WARNING, "inotify watches at 85% of the limit"),
        ({"inotify_watches_used": 99_000}, CRITICAL, "inotify watches at 99% of the limit"),
        ({"disk_free_min_bytes": 3 * 10**9}, CRITICAL, "2.8 GiB free disk"),
        ({"oom_kill_count": 2}, CRITICAL, "2 OOM kill(s) since boot"),
        ({"mem_available_bytes": GIB}, WARNING, "only 6% of memory available"),
    ],
)
def test_signals_follow_the_playbook_thresholds_but_never_set_the_level(change, level, text):
    # Issue 13.7: only an open finding (with advice) makes a machine Warning or Critical.
    health = assess(latest(**change), NOW, NOW, timedelta(minutes=15))
    assert health.level == OK
    assert health.signals[0].level == level
    assert health.signals[0].text == text


def test_wsl_cap_is_the_ram_that_counts_for_gopls():
    health = assess(
        latest(wsl_mem_total_bytes=8 * GIB, gopls=[{"pid": 3, "rss_bytes": 5 * GIB}]),
        NOW,
        NOW,
        timedelta(minutes=15),
    )
    assert health.signals[0].level == CRITICAL


def test_findings_set_the_level():
    assert assess(latest(), NOW, NOW, timedelta(minutes=15), finding_level=WARNING).level == WARNING
    assert assess(latest(), NOW, NOW, timedelta(minutes=15), finding_level=CRITICAL).level == (
        CRITICAL
    )


def test_quantiles_and_median():
    assert quantile([], 0.5) is None
    assert median([3, 1, 2]) == 2
    assert quantile([0, 10], 0.25) == 2.5


def test_outliers_are_far_above_the_upper_quartile():
    values = {f"m{i}": 1.0 + i / 100 for i in range(20)}
    values["hog"] = 50.0
    assert iqr_outliers(values) == {"hog"}
    assert iqr_outliers({"a": 1, "b": 100}) == set()


def test_versions_sort_semantically():
    assert sorted_versions(["v0.16.2", "v0.9.1", "v0.16.0", "(devel)", "v0.16.0-pre.1"]) == [
        "v0.9.1",
        "v0.16.0-pre.1",
        "v0.16.0",
        "v0.16.2",
        "(devel)",
    ]


def test_regressions_compare_with_the_previous_version():
    found = regressions({"v0.16.2": 400.0, "v0.17.0": 420.0, "v0.18.1": 900.0})
    assert set(found) == {"v0.18.1"}
    prev, rise = found["v0.18.1"]
    assert prev == "v0.17.0"
    assert rise == pytest.approx(900 / 420 - 1)
    sizes = {"v0.16.2": 40, "v0.17.0": 30, "v0.18.1": 2}
    assert regressions({"v0.17.0": 420.0, "v0.18.1": 900.0}, sizes=sizes, min_size=5) == {}


def test_inventory_diff_names_the_changed_keys():
    old = {"go": "go1.22.1", "gopls": "v0.15.0", "dlv": "1.22"}
    new = {"go": "go1.23.2", "gopls": "v0.15.0", "staticcheck": "2024.1"}
    assert diff_values(old, new) == [
        ("dlv", "1.22", None),
        ("go", "go1.22.1", "go1.23.2"),
        ("staticcheck", None, "2024.1"),
    ]
    assert flatten([{"settings": {"a": 1}}]) == {"[0].settings.a": 1}


def test_quantiles_match_one_by_one_quantiles_with_one_sort():
    values = [5, 1, 4, 2, 3, 9]
    qs = (0, 0.25, 0.5, 0.75, 1)
    assert quantiles(values, qs) == [quantile(values, q) for q in qs]
    assert quantiles([], qs) == [None] * 5
