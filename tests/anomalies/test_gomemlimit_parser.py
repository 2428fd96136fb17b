"""GOMEMLIMIT validation equals the Go runtime's readGOMEMLIMIT / parseByteCount."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from apps.anomalies.advice import render_advice
from apps.anomalies.detectors import run_machine_rules
from apps.anomalies.detectors.facts import gomemlimit_bytes, gomemlimit_valid
from apps.anomalies.detectors.gomemlimit import parse_byte_count, read_gomemlimit
from apps.anomalies.thresholds import thresholds
from tests.anomalies.helpers import machine, proc, settings_entry

# The table of TestParseByteCount in golang/go src/runtime/string_test.go (input, bytes, ok).
RUNTIME_CASES = [
    ("1", 1, True), ("12345", 12345, True), ("012345", 12345, True),
    ("98765432100", 98765432100, True), ("9223372036854775807", 2**63 - 1, True),
    ("1B", 1, True), ("12345B", 12345, True), ("012345B", 12345, True),
    ("98765432100B", 98765432100, True), ("9223372036854775807B", 2**63 - 1, True),
    ("1KiB", 1 << 10, True), ("05KiB", 5 << 10, True), ("1MiB", 1 << 20, True),
    ("10MiB", 10 << 20, True), ("1GiB", 1 << 30, True), ("100GiB", 100 << 30, True),
    ("1TiB", 1 << 40, True), ("99TiB", 99 << 40, True),
    ("-0", 0, True), ("0", 0, True), ("0B", 0, True), ("0KiB", 0, True), ("0MiB", 0, True),
    ("0GiB", 0, True), ("0TiB", 0, True),
    ("", 0, False), ("-1", 0, False), ("a12345", 0, False), ("a12345B", 0, False),
    ("12345x", 0, False), ("0x12345", 0, False),
    ("9223372036854775808", 0, False), ("9223372036854775809", 0, False),
    ("18446744073709551615", 0, False), ("20496382327982653440", 0, False),
    ("18446744073709551616", 0, False), ("18446744073709551617", 0, False),
    ("9999999999999999999999", 0, False),
    ("9223372036854775808B", 0, False), ("9223372036854775809B", 0, False),
    ("18446744073709551615B", 0, False), ("20496382327982653440B", 0, False),
    ("18446744073709551616B", 0, False), ("18446744073709551617B", 0, False),
    ("9999999999999999999999B", 0, False),
    ("1Ki", 0, False), ("05Ki", 0, False), ("10Mi", 0, False), ("100Gi", 0, False),
    ("99Ti", 0, False), ("22iB", 0, False), ("B", 0, False), ("iB", 0, False),
    ("KiB", 0, False), ("MiB", 0, False), ("GiB", 0, False), ("TiB", 0, False),
    ("-120KiB", 0, False), ("-891MiB", 0, False), ("-704GiB", 0, False), ("-42TiB", 0, False),
    ("99999999999999999999KiB", 0, False), ("99999999999999999MiB", 0, False),
    ("99999999999999GiB", 0, False), ("99999999999TiB", 0, False), ("555EiB", 0, False),
    ("0KB", 0, False), ("0MB", 0, False), ("0GB", 0, False), ("0TB", 0, False),
    ("1KB", 0, False), ("05KB", 0, False), ("1MB", 0, False), ("10MB", 0, False),
    ("1GB", 0, False), ("100GB", 0, False), ("1TB", 0, False), ("99TB", 0, False),
    ("1K", 0, False), ("05K", 0, False), ("10M", 0, False), ("100G", 0, False),
    ("99T", 0, False), ("99999999999999999999KB", 0, False), ("99999999999999999MB", 0, False),
    ("99999999999999GB", 0, False), ("99999999999TB", 0, False), ("555EB", 0, False),
]  # fmt: skip


@pytest.mark.parametrize(("text", "out", "ok"), RUNTIME_CASES)
@pytest.mark.parametrize("go_minor", [None, 19, 25, 26, 27])
def test_parse_byte_count_matches_the_runtime_table_on_every_go_version(text, out, ok, go_minor):
    assert parse_byte_count(text, go_minor=go_minor) == (out if ok else None)


# Checked by running `GOMEMLIMIT=<v> go version` with go1.25.5, go1.26.0 and go1.27.3.
@pytest.mark.parametrize(
    ("value", "go125", "go126"),
    [
        ("", True, True),  # no limit
        ("off", True, True),  # no limit
        ("OFF", False, False),
        (" 5", False, False),
        ("5 ", False, False),
        ("4GB", False, False),
        ("0x10", False, False),
        ("5_000", False, False),
        ("1e9", False, False),
        ("+5", False, True),  # strconv.ParseInt from Go 1.26 takes a sign
        ("+5GiB", False, True),
        ("-0GiB", True, True),
    ],
)
def test_read_gomemlimit_follows_the_go_version_it_runs_on(value, go125, go126):
    assert read_gomemlimit(value, go_minor=25).ok is go125
    assert read_gomemlimit(value, go_minor=26).ok is go126
    assert read_gomemlimit(value).ok is go125  # unknown version: what every runtime accepts


def _reference(text: str, plus_ok: bool) -> int | None:
    """The runtime's documented grammar ^[+-]?[0-9]+(([KMGT]i)?B)?$ with its int64 bounds."""
    m = re.fullmatch(r"([+-]?)([0-9]+)((?:[KMGT]i)?B)?", text)
    if not m or (m.group(1) == "+" and not plus_ok):
        return None
    n = int(m.group(2))
    if n > 2**63 - 1 + (m.group(1) == "-"):
        return None
    if m.group(1) == "-":
        return 0 if n == 0 else None
    scale = {None: 1, "B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
    value = n * scale[m.group(3)]
    return value if value <= 2**63 - 1 else None


byte_counts = st.one_of(
    st.text(alphabet="0123456789+-KMGTiBEkb xO_f", max_size=24),
    st.builds(
        lambda sign, n, unit, pad: f"{pad}{sign}{n}{unit}",
        st.sampled_from(["", "", "+", "-"]),
        st.integers(0, 2**66),
        st.sampled_from(["", "B", "KiB", "MiB", "GiB", "TiB", "KB", "GB", "G", "EiB"]),
        st.sampled_from(["", "", " "]),
    ),
)


@given(byte_counts, st.sampled_from([None, 19, 25, 26, 30]))
@example("4GB", None)
@example(" 1024MiB", None)
@example("9223372036854775807B", 26)
def test_parser_agrees_with_the_runtime_grammar(text, go_minor):
    plus_ok = go_minor is not None and go_minor >= 26
    assert parse_byte_count(text, go_minor=go_minor) == _reference(text, plus_ok)


@given(st.text(max_size=30))
@example("off")
@example("")
def test_valid_values_have_a_limit_or_mean_none(value):
    parsed = read_gomemlimit(value)
    assert parsed.ok == gomemlimit_valid(value)
    if value in ("", "off"):
        assert parsed.ok
        assert parsed.limit_bytes is None
    elif parsed.ok:
        assert 0 <= parsed.limit_bytes <= 2**63 - 1
        assert gomemlimit_bytes(value) == float(parsed.limit_bytes)
    else:
        assert parsed.reason
        assert gomemlimit_bytes(value) is None


# ---- the rule -------------------------------------------------------------------------------


def bad_gomemlimit(snapshot):
    dets = run_machine_rules(snapshot, thresholds(), {"gomemlimit_bad_suffix"})
    return dets[0] if dets else None


def _machine(settings, go="go1.25.5", built="go1.25.1", **kw):
    p = proc(rss=3e8)
    p.go_version = built
    return machine(
        p,
        inventory={"editor_settings": [settings_entry(settings)], "go_env": {"GOVERSION": go}},
        **kw,
    )


@pytest.mark.parametrize("value", ["4GB", " 4GiB", "4GiB ", "9223372036854775808", "OFF"])
def test_malformed_tools_env_is_critical_and_says_gopls_and_go_abort(value):
    det = bad_gomemlimit(_machine({"go.toolsEnvVars": {"GOMEMLIMIT": value}}))
    assert det.severity == "critical"
    assert "gopls and every go command" in det.explanation
    assert "malformed GOMEMLIMIT" in det.explanation
    advice = render_advice(det.rule_id, platform="linux", editor="vscode", facts=det.facts)
    assert "abort" in advice["summary"]
    assert value in advice["summary"]


def test_malformed_build_env_says_every_go_command_gopls_runs_aborts():
    det = bad_gomemlimit(_machine({"gopls": {"build.env": {"GOMEMLIMIT": "2G"}}}))
    assert det.severity == "critical"
    assert det.evidence["values"][0]["setting"] == "gopls build.env"
    assert "every go command gopls runs" in det.explanation


@pytest.mark.parametrize("value", ["", "off", "3GiB", "3221225472", "-0"])
def test_values_the_runtime_accepts_are_not_flagged(value):
    assert bad_gomemlimit(_machine({"go.toolsEnvVars": {"GOMEMLIMIT": value}})) is None


def test_a_plus_sign_breaks_go_125_machines_but_not_go_126_machines():
    settings = {"go.toolsEnvVars": {"GOMEMLIMIT": "+4GiB"}}
    old = bad_gomemlimit(_machine(settings, go="go1.25.5", built="go1.25.1"))
    new = bad_gomemlimit(_machine(settings, go="go1.26.2", built="go1.26.1"))
    assert old is not None
    assert "1.26" in old.facts["reason"]
    assert new is None
    # gopls built with 1.26 but the go command still 1.25: go list aborts
    mixed = bad_gomemlimit(_machine(settings, go="go1.25.5", built="go1.26.1"))
    assert mixed is not None


def test_the_gopls_process_environment_is_read_with_its_own_go_version():
    old = proc(rss=3e8, env={"GOMEMLIMIT": "4G"})
    old.go_version = "go1.22.0"
    det = bad_gomemlimit(machine(old))
    assert det.evidence["values"][0]["setting"] == "environment"
    ancient = proc(rss=3e8, env={"GOMEMLIMIT": "4G"})
    ancient.go_version = "go1.17.13"  # before Go 1.19 the runtime ignores GOMEMLIMIT
    old_go = {"go_env": {"GOVERSION": "go1.17.13"}}
    assert bad_gomemlimit(machine(ancient, inventory=old_go)) is None


def test_a_malformed_build_env_value_is_not_also_the_placement_warning():
    bad = _machine({"gopls": {"build.env": {"GOMEMLIMIT": "4GB"}}})
    good = _machine({"gopls": {"build.env": {"GOMEMLIMIT": "4GiB"}}})
    rules = {"gomemlimit_in_build_env", "gomemlimit_bad_suffix"}
    assert {d.rule_id for d in run_machine_rules(bad, thresholds(), rules)} == {
        "gomemlimit_bad_suffix"
    }
    assert {d.rule_id for d in run_machine_rules(good, thresholds(), rules)} == {
        "gomemlimit_in_build_env"
    }
