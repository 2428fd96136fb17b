"""The knowledge base: one entry per rule, renders on every platform, never gives wrong advice."""

from __future__ import annotations

import re

import pytest

from apps.anomalies.advice import (
    PLATFORMS,
    knowledge_base,
    parse_constraint,
    render_advice,
    satisfies,
)
from apps.anomalies.detectors import REGISTRY

EDITORS = ["vscode", "neovim", ""]
# docs/facts.md §10: what the product detects, never recommends.
FORBIDDEN = [
    re.compile(r"no-load-full-workspace|skip-mod-download|max-parallel|memory-threshold"),
    re.compile(r"go\.goplsArgs"),
    re.compile(r"memoryMode"),
    re.compile(r"GOMEMLIMIT[\"']?\s*[:=]\s*[\"']?\d+\s*(GB|G|MB|M|KB|K|gb|mb)\b"),
    re.compile(r"build\.env[^\n]*GOMEMLIMIT"),
    re.compile(r"/etc/wsl\.conf[^\n]*\[wsl2\]|\[wsl2\][^\n]*/etc/wsl\.conf"),
    re.compile(r"DegradeClosed"),
    re.compile(r"gopls\.[^\s]*GiB-withnames|gopls bug\b"),
]


def advice_texts(entry) -> list[str]:
    """Everything a fix recommends; 'remove' fixes may name what is wrong."""
    out = []
    for fix in entry.fixes:
        if fix.get("kind") == "remove":
            continue
        out += [fix.get("text") or "", fix.get("command") or "", fix.get("setting") or ""]
    return out


def test_every_registered_rule_has_an_entry_and_every_entry_a_rule():
    assert set(knowledge_base()) == set(REGISTRY)


@pytest.mark.parametrize("rule_id", sorted(REGISTRY))
@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_entry_renders_steps_on_every_platform(rule_id, platform):
    for editor in EDITORS:
        advice = render_advice(rule_id, platform=platform, editor=editor)
        assert advice["summary"]
        assert advice["steps"], f"{rule_id} has no step for {platform}/{editor or 'unknown'}"
        assert all(s["text"] for s in advice["steps"])
        for step in advice["steps"]:
            for value in step.values():
                assert not re.search(r"\{[a-z_]+\}", value or ""), f"unfilled template in {value}"
        assert all(url.startswith("https://") for url in advice["sources"])


@pytest.mark.parametrize("rule_id", sorted(REGISTRY))
def test_fix_version_constraints_parse_and_entries_cite_sources(rule_id):
    entry = knowledge_base()[rule_id]
    assert entry.data["sources"]
    assert entry.data["severity"] in ("info", "warning", "critical")
    for fix in entry.fixes:
        for key in ("gopls", "go", "wsl"):
            parse_constraint(fix.get(key, ""))


@pytest.mark.parametrize("rule_id", sorted(REGISTRY))
def test_no_entry_recommends_what_the_fact_base_lists_as_wrong(rule_id):
    entry = knowledge_base()[rule_id]
    for text in advice_texts(entry):
        for pattern in FORBIDDEN:
            assert not pattern.search(text), f"{rule_id} recommends {pattern.pattern}: {text!r}"


@pytest.mark.parametrize("rule_id", sorted(REGISTRY))
def test_wsl_snippets_keep_experimental_keys_out_of_the_wsl2_section(rule_id):
    for fix in knowledge_base()[rule_id].fixes:
        section = None
        for line in (fix.get("setting") or "").splitlines():
            if line.startswith("["):
                section = line.strip()
            elif section == "[wsl2]":
                assert not line.startswith(("autoMemoryReclaim", "sparseVhd"))


def test_the_forbidden_scan_would_catch_bad_advice():
    bad = [
        '"go.toolsEnvVars": {"GOMEMLIMIT": "4GB"}',
        '"go.goplsArgs": ["-x"]',
        "gopls -no-load-full-workspace",
        '"gopls": {"build.memoryMode": "DegradeClosed"}',
    ]
    for text in bad:
        assert any(p.search(text) for p in FORBIDDEN), text


# A machine's safe GOMEMLIMIT as suggest.gomemlimit computes it (snippets need one).
SAFE = {"gomemlimit": "6GiB", "gomemlimit_bytes": 6 * 2**30, "gomemlimit_reason": "example"}


def test_version_bound_advice_follows_the_gopls_version():
    def settings(version):
        advice = render_advice(
            "gopls_memory_high", platform="linux", editor="vscode", gopls=version, facts=SAFE
        )
        return " ".join(s["setting"] or "" for s in advice["steps"])

    assert "memoryLimit" not in settings((0, 23, 0))
    assert "memoryLimit" in settings((0, 24, 0))
    pegged = render_advice("gopls_cpu_pegged", platform="linux", editor="vscode", gopls=(0, 14, 0))
    assert "diagnosticsTrigger" not in str(pegged)
    pegged = render_advice("gopls_cpu_pegged", platform="linux", editor="vscode", gopls=(0, 16, 0))
    assert "diagnosticsTrigger" in str(pegged)


def test_memory_limit_advice_is_flagged_unreleased():
    advice = render_advice(
        "gopls_memory_high", platform="darwin", editor="vscode", gopls=(0, 24, 1), facts=SAFE
    )
    (step,) = [s for s in advice["steps"] if "memoryLimit" in (s["setting"] or "")]
    assert "not yet released" in step["text"]


def test_gomemlimit_advice_uses_the_machine_figure_with_an_iec_suffix():
    advice = render_advice(
        "gopls_memory_leak", platform="wsl2", editor="vscode", facts={"gomemlimit": "6GiB"}
    )
    assert '"GOMEMLIMIT": "6GiB"' in str(advice["steps"])
    nvim = render_advice(
        "gopls_memory_leak", platform="linux", editor="neovim", facts={"gomemlimit": "6GiB"}
    )
    assert "go.toolsEnvVars" not in str(nvim)
    assert "env GOMEMLIMIT=6GiB gopls" in str(nvim)


def test_platform_specific_commands():
    facts = {"suggested_watches": 524288}
    linux = render_advice("inotify_watches", platform="linux", editor="vscode", facts=facts)
    mac = render_advice("inotify_watches", platform="darwin", editor="vscode", facts=facts)
    assert any("sysctl" in (s["command"] or "") for s in linux["steps"])
    assert not any("sysctl" in (s["command"] or "") for s in mac["steps"])
    win = render_advice("cache_disk_full", platform="windows")
    assert any("LOCALAPPDATA" in (s["command"] or "") for s in win["steps"])


def test_no_debug_server_advice_is_the_language_server_flag_at_a_free_port():
    advice = render_advice("gopls_no_debug_server", platform="linux", editor="vscode")
    assert advice["steps"][0]["setting"] == '"go.languageServerFlags": ["-debug=localhost:0"]'


def test_constraints():
    assert satisfies((0, 15, 1), ">=0.15.0, <0.15.3")
    assert not satisfies((0, 15, 3), ">=0.15.0, <0.15.3")
    assert satisfies(None, "<0.12.0")
    with pytest.raises(ValueError, match="bad version constraint"):
        parse_constraint("~0.15")
