"""The live agent honours 429 Retry-After, backs off on 5xx and re-enrolls after a 401."""

from __future__ import annotations

import threading

import pytest

from apps.simulator import live
from apps.simulator.fleet import build_machine
from apps.simulator.live import Agent, HttpError, LiveConfig
from apps.simulator.reports import MachineSim
from apps.simulator.runner import Progress
from tests.simulator.conftest import END, TEAMS


class RecordingStop(threading.Event):
    def __init__(self):
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout=None):
        self.waits.append(timeout)
        return False


def agent() -> Agent:
    sim = MachineSim(build_machine(1, 0, TEAMS))
    return Agent(sim, "http://devfleet.invalid", LiveConfig(), RecordingStop())


def failing(*errors):
    calls = iter(errors)

    def call():
        error = next(calls, None)
        if error:
            raise error
        return {"accepted": 4}

    return call


def test_rate_limited_upload_waits_for_retry_after_then_succeeds():
    a = agent()
    assert a._with_retries(failing(HttpError(429, b"", retry_after=7))) == {"accepted": 4}
    assert a.stop.waits == [7]


def test_server_errors_and_network_errors_back_off_exponentially():
    a = agent()
    errors = [HttpError(503, b""), HttpError(500, b""), ConnectionError(), HttpError(502, b"")]
    a._with_retries(failing(*errors))
    assert a.stop.waits == [1.0, 2.0, 4.0, 8.0]


def test_a_rejected_batch_is_not_retried():
    with pytest.raises(HttpError):
        agent()._with_retries(failing(HttpError(400, b"invalid")))


def test_a_revoked_credential_is_renewed_by_enrolling_again(monkeypatch):
    a = agent()
    a.token, a.credential = "det_token", "old"
    posted = []

    def fake_post(url, data, credential, timeout):
        posted.append((url.rsplit("/", 1)[-1], credential))
        if url.endswith("/enroll"):
            return {"credential": "new"}
        if credential == "old":
            raise HttpError(401, b"revoked")
        return {"accepted": len(data["samples"])}

    monkeypatch.setattr(live, "post_json", fake_post)
    samples = a.sim.samples(END - 60, END)
    a.upload(samples, Progress(lambda line: None, 1, 4), batch=4)
    assert posted == [("reports", "old"), ("enroll", None), ("reports", "new")]
    assert a.pending == []
