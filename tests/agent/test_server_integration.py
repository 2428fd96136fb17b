"""Acceptance C and D against the real Django server (live_server): delivery, outage, kill -9."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("apps.fleet.services", reason="the devfleet server (apps.fleet) is not here")
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _generous_rate_limit(settings):
    settings.INGEST_BURST = 10_000.0
    settings.INGEST_RATE_PER_MINUTE = 60_000.0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(state: Path, server: str | None = None, **values: str) -> dict[str, str]:
    env = dict(
        os.environ,
        DEVFLEET_AGENT_STATE_DIR=str(state),
        DEVFLEET_AGENT_COLLECT_INTERVAL_S="0.3",
        DEVFLEET_AGENT_UPLOAD_INTERVAL_S="0.5",
        DEVFLEET_AGENT_DRAIN_INTERVAL_S="0.1",
        DEVFLEET_AGENT_HTTP_TIMEOUT_S="5",
        DEVFLEET_AGENT_DISABLED_COLLECTORS="go_caches",
        DEVFLEET_AGENT_FOLLOW_SERVER_INTERVALS="false",
    )
    env.pop("DEVFLEET_AGENT_SERVER_URL", None)
    if server:
        env["DEVFLEET_AGENT_SERVER_URL"] = server
    env.update({f"DEVFLEET_AGENT_{k.upper()}": v for k, v in values.items()})
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "devfleet_agent", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _start(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "devfleet_agent", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _enroll(state: Path, url: str) -> str:
    from apps.fleet.services import create_enrollment_token

    _, secret = create_enrollment_token("Platform")
    res = _cli(_env(state), "enroll", "--server", url, "--token", secret, "--owner", "bob")
    assert res.returncode == 0, res.stderr
    return json.loads((state / "credential.json").read_text())["machine_id"]


def _stored(machine_id: str) -> list[str]:
    from apps.metrics.models import SystemSample

    return list(
        SystemSample.objects.filter(machine__machine_id=machine_id).values_list(
            "sample_uid", flat=True
        )
    )


def _spooled(state: Path) -> tuple[list[str], int]:
    db = sqlite3.connect(f"file:{state / 'spool.sqlite'}?mode=ro", uri=True)
    try:
        ids = [json.loads(b)["id"] for (b,) in db.execute("SELECT body FROM samples ORDER BY seq")]
        row = db.execute("SELECT value FROM meta WHERE key = 'dropped_samples'").fetchone()
        return ids, int(row[0]) if row else 0
    except sqlite3.OperationalError:  # the agent is still creating its tables
        return [], 0
    finally:
        db.close()


def _wait(pred, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


def test_an_enrolled_agent_delivers_reports_visible_in_the_api(live_server, tmp_path, admin_client):
    """C: enroll against the real server, `run`, and the machine's data shows in the API."""
    state = tmp_path / "state"
    mid = _enroll(state, live_server.url)
    agent = _start(_env(state))
    try:
        _wait(lambda: len(_stored(mid)) >= 2, 60, "samples stored by the server")
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)
    assert agent.returncode == 0, agent.stderr.read()
    resp = admin_client.get(f"/api/v1/machines/{mid}/")
    assert resp.status_code == 200
    body = json.dumps(resp.json())
    assert mid in body
    status = _cli(_env(state), "status")
    assert "last upload:  20" in status.stdout


def test_outage_and_kill_9_lose_nothing_and_store_each_sample_once(live_server, tmp_path):
    """D: server down (closed port) → kill -9 mid-run → restart both → each sample stored once."""
    state = tmp_path / "state"
    mid = _enroll(state, live_server.url)
    # 1. normal delivery for a moment
    agent = _start(_env(state, batch_max_samples="5"))
    _wait(lambda: len(_stored(mid)) >= 3, 60, "first samples")
    agent.send_signal(signal.SIGKILL)
    agent.wait(10)
    # 2. the server "goes down": the agent spools and retries against a closed port
    down = _env(state, f"http://127.0.0.1:{_closed_port()}", batch_max_samples="5")
    agent = _start(down)
    time.sleep(4)
    agent.send_signal(signal.SIGKILL)  # kill -9 mid-run
    agent.wait(10)
    during_outage, dropped = _spooled(state)
    assert len(during_outage) >= 8
    assert dropped == 0
    # 3. the server is back; the agent restarts and drains its backlog in bounded batches
    agent = _start(_env(state, batch_max_samples="5"))
    try:
        _wait(lambda: set(during_outage) <= set(_stored(mid)), 90, "the backlog to drain")
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)
    res = _cli(_env(state), "once")  # flush whatever the last cycles spooled
    assert res.returncode == 0, res.stderr
    stored = _stored(mid)
    assert len(stored) == len(set(stored)), "a sample was stored twice"
    assert set(during_outage) <= set(stored)
    left, dropped = _spooled(state)
    assert left == []
    assert dropped == 0


def test_over_the_spool_cap_the_oldest_are_dropped_and_counted(live_server, tmp_path):
    """D, over the cap: during an outage the spool keeps the newest samples and counts drops."""
    state = tmp_path / "state"
    mid = _enroll(state, live_server.url)
    down = _env(state, f"http://127.0.0.1:{_closed_port()}", spool_max_bytes="8000")
    agent = _start(down)
    _wait(
        lambda: (state / "spool.sqlite").exists() and _spooled(state)[1] >= 3,
        60,
        "the spool to go over its cap",
    )
    agent.send_signal(signal.SIGKILL)
    agent.wait(10)
    kept, dropped = _spooled(state)
    assert dropped > 0
    assert kept
    agent = _start(_env(state, spool_max_bytes="8000"))

    def arrived() -> bool:
        # the restarted agent keeps collecting while it drains, so it may still drop a few of
        # the oldest kept samples before their upload: those must be counted, not lost
        missing = set(kept) - set(_stored(mid))
        return len(missing) <= _spooled(state)[1] - dropped

    try:
        _wait(arrived, 60, "the kept samples to arrive")
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)
    stored = _stored(mid)
    assert len(stored) == len(set(stored)), "a sample was stored twice"
    missing = [i for i in kept if i not in set(stored)]
    assert missing == kept[: len(missing)], "only the oldest may be dropped"
    status = _cli(_env(state), "status")
    assert f"{_spooled(state)[1]} dropped" in status.stdout


def test_check_reports_a_bad_setting_with_its_fix_and_exits_1(live_server, tmp_path):
    """`devfleet-agent check` against the real detection endpoint (or exit 3 without one)."""
    state = tmp_path / "state"
    _enroll(state, live_server.url)
    home = tmp_path / "home"
    user = home / ".config" / "Code" / "User"
    user.mkdir(parents=True)
    (user / "settings.json").write_text(
        "{ // invented flags from a blog post\n"
        '  "go.languageServerFlags": ["-no-load-full-workspace"],\n'
        '  "go.goplsArgs": ["-rpc.trace"],\n}\n'
    )
    env = _env(state)
    env["HOME"] = str(home)
    env["XDG_CONFIG_HOME"] = str(home / ".config")
    res = _cli(env, "check")
    if res.returncode == 3:
        pytest.skip("the server has no /api/v1/check endpoint")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "worst severity: " in res.stdout
    assert "no-load-full-workspace" in res.stdout
    assert "go.goplsArgs" in res.stdout
