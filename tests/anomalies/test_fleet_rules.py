"""Fleet rules: version regressions on memory, CPU and completion latency; advice rendered for
each machine's own platform."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from apps.anomalies.detectors.fleet import PeerSample, gopls_version_regression
from apps.anomalies.evaluation import evaluate_fleet_rules
from apps.anomalies.models import Finding
from apps.anomalies.thresholds import thresholds
from apps.fleet.models import GoplsProcess
from apps.metrics.models import GoplsRollup, Resolution
from tests.factories import enroll

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
MB = 1e6


def peers(old_cpu, new_cpu, *, old_lat=None, new_lat=None, mem=(700 * MB, 700 * MB)):
    out = [PeerSample(f"o{i}", "p", "v0.19.0", mem[0], old_cpu, old_lat) for i in range(4)]
    return out + [PeerSample(f"n{i}", "p", "v0.20.0", mem[1], new_cpu, new_lat) for i in range(4)]


def metrics(result) -> set[str]:
    return {d.evidence["metric"] for dets in result.values() for d in dets}


def test_a_new_version_using_clearly_more_cpu_is_a_regression():
    result = gopls_version_regression(peers(4.0, 20.0), thresholds())
    assert metrics(result) == {"cpu_percent"}
    assert set(result) == {f"n{i}" for i in range(4)}
    det = result["n0"][0]
    assert det.subject == "regression:p@v0.20.0:cpu_percent"
    assert det.evidence["old_median"] == 4.0
    assert det.evidence["new_median"] == 20.0
    assert "CPU" in det.explanation
    assert det.facts["metric_label"] == "CPU"


def test_small_cpu_differences_are_not_regressions_even_when_the_ratio_is_large():
    assert not gopls_version_regression(peers(1.0, 2.5), thresholds())


def test_slower_completion_is_a_regression():
    result = gopls_version_regression(peers(None, None, old_lat=80.0, new_lat=400.0), thresholds())
    assert metrics(result) == {"completion_p95_ms"}


def test_metrics_without_enough_machines_are_not_compared():
    sample = peers(4.0, 20.0)
    sample = [p if p.version == "v0.19.0" or p.machine == "n0" else p.__class__(
        p.machine, p.project, p.version, p.mem_bytes, None) for p in sample]  # fmt: skip
    assert "cpu_percent" not in metrics(gopls_version_regression(sample, thresholds()))


def test_memory_cpu_and_latency_each_get_their_own_finding():
    sample = peers(4.0, 30.0, old_lat=50.0, new_lat=300.0, mem=(700 * MB, 1400 * MB))
    assert metrics(gopls_version_regression(sample, thresholds())) == {
        "mem_bytes",
        "cpu_percent",
        "completion_p95_ms",
    }


def _machine(i: int, version: str, rss: float, cpu: float, *, wsl: bool = False):
    machine, _ = enroll(team_name="Fleet")
    machine.wsl_version = 2 if wsl else None
    machine.last_sample_at = machine.last_seen = NOW
    machine.latest = {
        "gopls": [
            {"pid": 100 + i, "rss_bytes": rss, "version": version, "project": "github.com/a/b"}
        ]
    }
    machine.save()
    proc = GoplsProcess.objects.create(
        machine=machine,
        pid=100 + i,
        start_time=NOW - timedelta(hours=3),
        version=version,
        first_seen=NOW - timedelta(hours=3),
        last_seen=NOW,
    )
    GoplsRollup.objects.bulk_create(
        GoplsRollup(
            machine=machine,
            process=proc,
            resolution=Resolution.FIVE_MINUTES,
            bucket=NOW - timedelta(minutes=5 * k),
            n=20,
            cpu_percent_avg=cpu,
            completion_p95_max=120.0,
        )
        for k in range(1, 12)
    )
    return machine


@pytest.mark.django_db
def test_the_fleet_pass_compares_versions_on_an_hour_of_cpu_from_the_rollups():
    old = [_machine(i, "v0.19.0", 700 * MB, 3.0) for i in range(3)]
    new = [_machine(10 + i, "v0.20.0", 700 * MB, 25.0) for i in range(3)]
    evaluate_fleet_rules(NOW, [m.pk for m in old + new])
    found = Finding.objects.filter(rule_id="gopls_version_regression")
    assert {f.machine_id for f in found} == {m.pk for m in new}
    assert {f.evidence["metric"] for f in found} == {"cpu_percent"}
    assert "CPU" in found[0].advice["summary"]


@pytest.mark.django_db
def test_fleet_advice_renders_for_each_machines_own_platform():
    linux = [_machine(i, "v0.20.0", 800 * MB + i * 10 * MB, 2.0) for i in range(5)]
    wsl_outlier = _machine(20, "v0.20.0", 5000 * MB, 2.0, wsl=True)
    linux_outlier = _machine(21, "v0.20.0", 5200 * MB, 2.0)
    evaluate_fleet_rules(NOW, [m.pk for m in [*linux, wsl_outlier, linux_outlier]])
    on_wsl = Finding.objects.get(rule_id="fleet_memory_outlier", machine=wsl_outlier)
    on_linux = Finding.objects.get(rule_id="fleet_memory_outlier", machine=linux_outlier)
    assert any("WSL" in step["text"] for step in on_wsl.advice["steps"])
    assert not any("WSL" in step["text"] for step in on_linux.advice["steps"])
