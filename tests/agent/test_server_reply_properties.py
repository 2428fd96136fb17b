"""Property tests of what the agent reads from the server (or whatever answers at its URL):
response bodies, instructions and profile requests never crash the uploader or the agent."""

from __future__ import annotations

import json
import queue
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from devfleet_agent import profiles, transport
from devfleet_agent.agent import Agent

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
instructions = st.dictionaries(
    st.sampled_from(["collect_interval_s", "upload_interval_s", "capture_profiles", "x"]),
    json_values,
)
profile_requests = st.dictionaries(
    st.sampled_from(["request_id", "pid", "start_time", "kinds"]), json_values
)


@given(st.one_of(st.binary(max_size=500), st.sampled_from([b"[" * 100_000, b'{"a":' * 5000])))
@example(b"\xff\xfe{")
def test_any_response_body_is_read_without_raising(data):
    response = transport._response(200, {"Content-Type": "application/json"}, data)
    assert response.status == 200
    assert len(response.text) <= 4000


@given(instructions)
@example({"capture_profiles": 5})
@example({"capture_profiles": [["heap"], {"request_id": []}]})
@example({"collect_interval_s": float("inf")})
def test_any_instructions_are_applied_without_raising(values):
    agent = SimpleNamespace(
        config=SimpleNamespace(follow_server_intervals=True),
        collect_interval_s=15.0,
        seen_requests=set(),
        requests=queue.Queue(),
    )
    Agent.on_instructions(agent, values)
    assert 5 <= agent.collect_interval_s <= 3600


@pytest.mark.parametrize("allow", [False, True])
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=profile_requests)
@example(request={"kinds": [["heap"]]})
@example(request={"kinds": 5, "pid": -1})
@example(request={"start_time": "2026-13-99", "pid": 1})
def test_any_profile_request_gives_one_entry_per_known_kind(make_ctx, make_config, allow, request):
    ctx = make_ctx(config=make_config(allow_profiles=allow))
    entries = profiles.capture(ctx, request)
    assert all(entry["kind"] in profiles.PATHS for entry in entries)
    assert all(entry["error"] for entry in entries)  # no gopls here: every capture explains why
    json.dumps(entries)
