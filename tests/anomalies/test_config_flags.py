"""Flag lint: -rpc.trace follows Go's bool-flag rules, -debug on all interfaces is flagged."""

from __future__ import annotations

import pytest

from apps.anomalies.advice import render_advice
from apps.anomalies.detectors import run_machine_rules
from apps.anomalies.detectors.config_lint import bool_flag_on, exposed_debug_addr, flag_values
from apps.anomalies.thresholds import thresholds
from tests.anomalies.helpers import machine, proc, settings_entry


def run(snapshot, rule_id):
    return [d for d in run_machine_rules(snapshot, thresholds(), {rule_id}) if d.fired]


def with_flags(flags, argv=None):
    return machine(
        proc(rss=3e8, argv=argv or ["gopls"]),
        inventory={"editor_settings": [settings_entry({"go.languageServerFlags": flags})]},
    )


@pytest.mark.parametrize(
    ("flags", "on"),
    [
        (["-rpc.trace"], True),
        (["-rpc.trace=true"], True),
        (["--rpc.trace=1"], True),
        (["-rpc.trace=false"], False),
        (["-rpc.trace=0"], False),
        (["-rpc.trace=F"], False),
        (["-rpc.trace", "-rpc.trace=false"], False),  # the last one wins
        (["-rpc.trace=false", "-rpc.trace"], True),
        (["-rpc.trace", "false"], True),  # a bool flag takes no separate value
        ([], False),
    ],
)
def test_rpc_trace_is_on_only_when_go_would_set_it(flags, on):
    assert bool_flag_on(flags, "rpc.trace") is on
    assert bool(run(with_flags(flags), "gopls_rpc_trace_on")) is on


def test_rpc_trace_false_in_settings_and_on_in_a_running_gopls_is_still_reported():
    off = with_flags(["-rpc.trace=false"], argv=["gopls", "-rpc.trace=false", "serve"])
    on = with_flags(["-rpc.trace=false"], argv=["gopls", "-rpc.trace", "serve"])
    assert run(off, "gopls_rpc_trace_on") == []
    assert run(on, "gopls_rpc_trace_on")[0].evidence["where"] == ["gopls pid 100 argv"]


@pytest.mark.parametrize(
    ("addr", "exposed"),
    [
        (":6060", True),
        ("0.0.0.0:6060", True),
        ("[::]:6060", True),
        (":::6060", True),
        ("192.168.1.20:6060", True),
        ("devbox.example.com:0", True),
        ("localhost:0", False),
        ("localhost:6060", False),
        ("127.0.0.1:6060", False),
        ("127.1.2.3:1", False),
        ("[::1]:6060", False),
        ("LOCALHOST:0", False),
        ("localhost", False),  # no port: gopls cannot listen at all
        ("", False),
    ],
)
def test_debug_addresses_beyond_loopback_are_exposed(addr, exposed):
    assert exposed_debug_addr(addr) is exposed


@pytest.mark.parametrize(
    ("flags", "addr"),
    [
        (["-debug=:6060"], ":6060"),
        (["-debug", "0.0.0.0:7070"], "0.0.0.0:7070"),
        (["-remote=auto", "-remote.debug=[::]:0"], "[::]:0"),
    ],
)
def test_a_debug_server_on_all_interfaces_is_flagged_with_localhost_advice(flags, addr):
    (det,) = run(with_flags(flags), "gopls_debug_exposed")
    assert det.facts["addr"] == addr
    advice = render_advice(det.rule_id, platform="linux", editor="vscode", facts=det.facts)
    assert addr in advice["summary"]
    assert advice["steps"][0]["setting"] == '"go.languageServerFlags": ["-debug=localhost:0"]'
    nvim = render_advice(det.rule_id, platform="darwin", editor="neovim", facts=det.facts)
    assert "localhost:0" in nvim["steps"][0]["command"]


def test_loopback_debug_servers_are_fine_and_running_processes_are_checked_too():
    assert run(with_flags(["-debug=localhost:0"]), "gopls_debug_exposed") == []
    running = with_flags(["-debug=localhost:0"], argv=["gopls", "-debug=:6060", "serve"])
    (det,) = run(running, "gopls_debug_exposed")
    assert det.evidence["servers"][0]["where"] == "gopls pid 100 argv"


def test_flag_values_keep_go_flag_semantics():
    assert flag_values(["-debug", "localhost:0", "-rpc.trace", "serve"]) == [
        ("debug", "localhost:0"),
        ("rpc.trace", None),
    ]
    assert flag_values(["-logfile=auto", "--debug=:1"]) == [("logfile", "auto"), ("debug", ":1")]
