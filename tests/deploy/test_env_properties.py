"""Property tests of the settings readers (config/env.py) and the signed acknowledge links:
any environment value is read or refused with ImproperlyConfigured; any link token is a
finding id we signed or None."""

from __future__ import annotations

import os
from unittest import mock

from django.core.exceptions import ImproperlyConfigured
from hypothesis import example, given
from hypothesis import strategies as st

from apps.alerts.tokens import ack_token, read_ack_token
from config import env

values = st.text(st.characters(exclude_characters="\0", exclude_categories=["Cs"]), max_size=40)


@given(values)
@example(" 12 ")
@example("1e3")
@example("١٢")
def test_any_environment_value_is_read_or_refused_with_improperly_configured(raw):
    with mock.patch.dict(os.environ, {"DEVFLEET_PROBE": raw}):
        for read in (
            lambda: env.env_bool("DEVFLEET_PROBE"),
            lambda: env.env_int("DEVFLEET_PROBE", 1, minimum=0),
            lambda: env.env_float("DEVFLEET_PROBE", 1.0),
            lambda: env.env_list("DEVFLEET_PROBE"),
            lambda: env.env_str("DEVFLEET_PROBE"),
        ):
            try:
                read()
            except ImproperlyConfigured as exc:
                assert "DEVFLEET_PROBE" in str(exc)  # noqa: PT017


@given(st.lists(values, max_size=6))
def test_lists_round_trip_through_commas(items):
    clean = [item.strip() for item in items if item.strip() and "," not in item]
    with mock.patch.dict(os.environ, {"DEVFLEET_PROBE": ",".join(clean)}):
        assert env.env_list("DEVFLEET_PROBE") == clean


@given(st.integers(0, 2**63 - 1))
def test_ack_links_round_trip_finding_ids(finding_id):
    assert read_ack_token(ack_token(finding_id)) == finding_id


@given(st.text(max_size=120))
@example("eyJmIjoxfQ:1abc:xyz")
@example(":" * 50)
def test_any_other_link_token_is_none(token):
    assert read_ack_token(token) is None
