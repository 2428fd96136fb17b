"""Spool durability and cap, and the uploader's HTTP policy against a local receiver."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from devfleet_agent.spool import Spool
from devfleet_agent.state import State
from devfleet_agent.uploader import Uploader
from tests.agent.receiver import Receiver


def _sample(i: int, pad: int = 0) -> dict:
    return {
        "id": f"sample-{i:06d}-{uuid.uuid4().hex[:8]}",
        "collected_at": "2026-11-23T10:00:00.000Z",
        "interval_s": 15,
        "system": {"cpu_count": 2},
        "pad": "x" * pad,
    }


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def wired(tmp_path, make_config, receiver):
    cfg = make_config(server_url=receiver.url, drain_interval_s=5.0)
    state = State(tmp_path / "state")
    state.save_credential(
        {
            "server_url": receiver.url,
            "machine_id": "m-test-0001",
            "credential": "secret-cred",
            "report_url": "/api/v1/reports",
        }
    )
    spool = Spool(state.spool_file, cfg.spool_max_bytes)
    up = Uploader(
        cfg, spool, state, lambda: {"hostname": "box", "os": "linux"}, rng=random.Random(1)
    )
    return cfg, state, spool, up


def test_spool_keeps_samples_until_acked(tmp_path):
    sp = Spool(tmp_path / "s.sqlite")
    for i in range(5):
        sp.add(_sample(i))
    batch = sp.peek(3)
    assert [s["id"][:13] for s in batch] == [f"sample-{i:06d}" for i in range(3)]
    sp.ack([s["id"] for s in batch])
    assert sp.stats()["spool_depth"] == 2
    sp.add(batch[-1] | {"id": sp.peek(1)[0]["id"]})  # same id again: ignored, idempotent
    assert sp.stats()["spool_depth"] == 2


def test_spool_over_its_cap_drops_the_oldest_and_counts_them(tmp_path):
    sp = Spool(tmp_path / "s.sqlite", max_bytes=20_000)
    for i in range(20):
        sp.add(_sample(i, pad=1800))
    st = sp.stats()
    assert st["spool_bytes"] <= 20_000
    assert st["dropped_samples"] == 20 - st["spool_depth"]
    assert st["dropped_samples"] > 0
    kept = [s["id"][:13] for s in sp.peek(100)]
    assert kept[-1] == "sample-000019"
    assert kept[0] == f"sample-{20 - len(kept):06d}"


def test_spool_survives_kill_minus_9(tmp_path):
    path = tmp_path / "s.sqlite"
    code = textwrap.dedent(f"""
        import sys, time
        from devfleet_agent.spool import Spool
        sp = Spool(__import__("pathlib").Path({str(path)!r}))
        for i in range(50):
            sp.add({{"id": "kill9-%04d" % i, "collected_at": "2026-11-23T10:00:00Z"}})
        print("written", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "written"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    sp = Spool(path)
    assert sp.stats()["spool_depth"] == 50
    assert sp.peek(1)[0]["id"] == "kill9-0000"


def test_it_delivers_gzip_with_the_bearer_credential_and_acks(wired, receiver):
    _cfg, state, spool, up = wired
    for i in range(3):
        spool.add(_sample(i))
    spool.set_json("pending_inventory", {"tools": {"go": "go1.27.3"}})
    out = up.upload_once()
    assert out.kind == "ok"
    req = receiver.requests[0]
    assert req["path"] == "/api/v1/reports"
    assert req["headers"]["Authorization"] == "Bearer secret-cred"
    assert req["headers"]["Content-Encoding"] == "gzip"
    assert req["json"]["machine"]["hostname"] == "box"
    assert req["json"]["inventory"] == {"tools": {"go": "go1.27.3"}}
    assert len(req["json"]["samples"]) == 3
    assert spool.stats()["spool_depth"] == 0
    assert spool.get_json("pending_inventory") is None
    assert state.status()["last_result"] == "ok"
    spool.add(_sample(9))
    up.upload_once()
    assert "machine" not in receiver.requests[1]["json"]  # identity only on the first upload


def test_it_drains_a_backlog_at_a_bounded_rate(wired, receiver):
    cfg, _state, spool, up = wired
    for i in range(500):
        spool.add(_sample(i))
    out = up.upload_once()
    assert out.kind == "ok"
    assert out.more
    assert out.delay == cfg.drain_interval_s
    assert len(receiver.requests[0]["json"]["samples"]) == 240


def test_it_sets_aside_a_batch_rejected_with_400(wired, receiver):
    _cfg, state, spool, up = wired
    for i in range(3):
        spool.add(_sample(i))
    receiver.script.append(
        (
            400,
            {
                "error": "invalid_report",
                "errors": [{"path": "$.samples[0].collected_at", "message": "bad"}],
            },
            {},
        )
    )
    out = up.upload_once()
    assert out.kind == "rejected"
    st = spool.stats()
    assert st["spool_depth"] == 0
    assert st["rejected_batches"] == 1
    assert spool.rejected(1)[0]["status"] == 400
    assert state.status()["last_rejection"]["status"] == 400
    assert up.upload_once().kind == "idle"  # never retried in a loop
    assert len(receiver.requests) == 1


def test_a_400_about_the_inventory_keeps_the_samples(wired, receiver):
    _cfg, _state, spool, up = wired
    spool.add(_sample(1))
    spool.set_json("pending_inventory", {"tools": {"go": 5}})
    receiver.script.append(
        (
            400,
            {
                "error": "invalid_report",
                "errors": [{"path": "$.inventory.tools.go", "message": "not a string"}],
            },
            {},
        )
    )
    assert up.upload_once().kind == "rejected"
    assert spool.stats()["spool_depth"] == 1
    assert up.upload_once().kind == "ok"
    assert "inventory" not in receiver.requests[1]["json"]


def test_on_401_it_stops_sending_and_keeps_spooling(wired, receiver):
    _cfg, state, spool, up = wired
    spool.add(_sample(1))
    receiver.script.append((401, {"error": "unauthorized"}, {}))
    assert up.upload_once().kind == "auth"
    assert state.status()["auth_failed"] is True
    spool.add(_sample(2))
    assert up.upload_once().kind == "auth"
    assert len(receiver.requests) == 1
    assert spool.stats()["spool_depth"] == 2
    state.save_credential(
        {"server_url": receiver.url, "machine_id": "m-test-0001", "credential": "new-cred"}
    )  # re-enrolled
    assert up.upload_once().kind == "ok"
    assert receiver.requests[-1]["headers"]["Authorization"] == "Bearer new-cred"


def test_on_413_it_splits_the_batch_and_sets_aside_a_single_huge_sample(wired, receiver):
    _cfg, _state, spool, up = wired
    for i in range(4):
        spool.add(_sample(i))
    too_big = (413, {"error": "too_large"}, {})
    receiver.script.extend([too_big, too_big, too_big])
    assert up.upload_once().kind == "retry"
    assert up.batch_limit == 2
    assert up.upload_once().kind == "retry"
    assert up.batch_limit == 1
    assert up.upload_once().kind == "rejected"  # one sample still too big
    assert up.upload_once().kind == "ok"
    sizes = [len(r["json"]["samples"]) for r in receiver.requests]
    assert sizes == [4, 2, 1, 1]
    assert spool.stats()["spool_depth"] == 2


def test_it_honours_retry_after_on_429(wired, receiver):
    _cfg, _state, spool, up = wired
    spool.add(_sample(1))
    receiver.script.append((429, {"error": "slow_down"}, {"Retry-After": "42"}))
    out = up.upload_once()
    assert out.kind == "retry"
    assert out.delay == 42.0
    assert spool.stats()["spool_depth"] == 1


def test_server_errors_back_off_exponentially_with_full_jitter(wired, receiver):
    _cfg, _state, spool, up = wired
    spool.add(_sample(1))
    receiver.default = (503, {"error": "down"}, {})
    delays = [up.upload_once().delay for _ in range(12)]
    assert all(1.0 <= d <= 300.0 for d in delays)
    assert max(delays[8:]) > max(delays[:2])
    assert up.failures == 12
    assert spool.stats()["spool_depth"] == 1
    receiver.default = (200, None, {})
    assert up.upload_once().kind == "ok"
    assert up.failures == 0


def test_network_errors_back_off_and_keep_the_samples(wired):
    cfg, state, spool, up = wired
    spool.add(_sample(1))
    state.save_credential(
        {"server_url": "http://127.0.0.1:9", "machine_id": "m-test-0001", "credential": "c"}
    )
    up.config = cfg.__class__(**{**cfg.__dict__, "server_url": ""})
    out = up.upload_once()
    assert out.kind == "backoff"
    assert "network" in state.status()["last_error"]
    assert spool.stats()["spool_depth"] == 1


def test_415_turns_gzip_off_and_retries(wired, receiver):
    _cfg, _state, spool, up = wired
    spool.add(_sample(1))
    receiver.script.append((415, {"error": "unsupported_media_type"}, {}))
    assert up.upload_once().kind == "retry"
    assert up.upload_once().kind == "ok"
    assert "Content-Encoding" not in receiver.requests[1]["headers"]


def test_instructions_from_the_server_reach_the_agent(wired, receiver):
    _cfg, _state, spool, up = wired
    got = []
    up.on_instructions = got.append
    spool.add(_sample(1))
    receiver.script.append(
        (
            200,
            {
                "accepted": 1,
                "duplicates": 0,
                "instructions": {
                    "collect_interval_s": 30,
                    "upload_interval_s": 120,
                    "capture_profiles": [{"request_id": "r1", "pid": 5, "kinds": ["heap"]}],
                },
            },
            {},
        )
    )
    up.upload_once()
    assert up.upload_interval_s == 120
    assert got[0]["capture_profiles"][0]["request_id"] == "r1"
    assert json.dumps(got)
    time.sleep(0)


def test_profiles_ride_along_within_a_byte_budget_and_a_413_drops_them_first(wired, receiver):
    _cfg, _state, spool, up = wired
    spool.add(_sample(1))
    for i in range(3):
        spool.add_profile({"request_id": f"r{i}", "kind": "heap", "text": "x" * 700_000})
    out = up.upload_once()
    assert out.kind == "ok"
    assert [p["request_id"] for p in receiver.requests[0]["json"]["profiles"]] == ["r0", "r1"]
    spool.add(_sample(2))
    too_big = (413, {"error": "too_large"}, {})
    receiver.script.extend([too_big, too_big])
    assert up.upload_once().kind == "retry"  # first: one profile per upload
    assert up.upload_once().kind == "rejected"  # one sample + one profile: the profile goes
    assert spool.peek_profiles() == []
    assert spool.stats()["spool_depth"] == 1
    assert up.upload_once().kind == "ok"
