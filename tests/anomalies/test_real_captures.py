"""Detectors over the real gopls captures in tests/fixtures/real-gopls, read as they are."""

from __future__ import annotations

from apps.anomalies.detectors import run_machine_rules
from apps.anomalies.detectors.facts import parse_version
from apps.anomalies.thresholds import thresholds
from tests.anomalies.captures import capture_snapshot
from tests.conftest import real_capture

REAL = real_capture()


def fired(name: str, **extra) -> dict:
    snapshot = capture_snapshot(REAL / name, **extra)
    return {d.rule_id: d for d in run_machine_rules(snapshot, thresholds()) if d.fired}


def test_goroot_src_load_is_high_memory_and_old_version_but_not_a_leak(settings):
    result = fired("goroot-src")
    assert "gopls_memory_leak" not in result
    high = result["gopls_memory_high"]
    assert high.evidence["rss_bytes"] > 3.5 * 2**30
    assert high.evidence["heap_inuse_bytes"] > 1 * 2**30
    old = result["gopls_version_known_bad"]
    assert old.evidence["estimated"] is True
    assert parse_version(old.evidence["as_version"]) < (0, 12, 0)
    assert old.evidence["issue"] == "golang/go#45457"


def test_goroot_src_never_looks_like_a_leak_at_any_point_of_the_load():
    snapshot = capture_snapshot(REAL / "goroot-src")
    proc = snapshot.processes[0]
    from apps.anomalies.detectors.memory import gopls_memory_leak

    for cut in proc.t[5::5]:
        cut_snapshot = capture_snapshot(REAL / "goroot-src")
        cut_proc = cut_snapshot.processes[0]
        keep = cut_proc.t <= cut
        cut_proc.t = cut_proc.t[keep]
        cut_proc.series = {k: v[keep] for k, v in cut_proc.series.items()}
        cut_proc.last_ts = cut_snapshot.now = float(cut)
        assert not [d for d in gopls_memory_leak(cut_snapshot, thresholds()) if d.fired]


def test_goldmark_edit_is_pegged_cpu_while_typing_without_a_leak():
    result = fired("goldmark-edit")
    assert "gopls_cpu_pegged" in result
    assert result["gopls_cpu_pegged"].evidence["minutes"] >= 5
    assert result["gopls_cpu_pegged"].evidence["mean_percent"] > 95
    assert "gopls_memory_leak" not in result
    assert "gopls_memory_high" not in result


def test_goldmark_short_run_has_only_the_version_finding():
    assert set(fired("goldmark")) == {"gopls_version_known_bad"}


def test_captures_run_with_a_debug_server_so_no_debug_server_advice():
    for name in ("goroot-src", "goldmark", "goldmark-edit"):
        assert "gopls_no_debug_server" not in fired(name)
