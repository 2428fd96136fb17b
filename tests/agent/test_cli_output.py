"""What the agent tells its user: server reachability, upload and stop lines, an empty machine."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devfleet_agent import cli

pytest.importorskip("apps.fleet.services", reason="the devfleet server (apps.fleet) is not here")


@pytest.fixture(autouse=True)
def _generous_rate_limit(settings):
    settings.INGEST_BURST = 10_000.0
    settings.INGEST_RATE_PER_MINUTE = 60_000.0


def _bare_env(tmp_path: Path, state: Path, **values: str) -> dict[str, str]:
    """No Go anywhere: an empty PATH directory (plus Python's) and an empty home."""
    empty = tmp_path / "bin"
    empty.mkdir(exist_ok=True)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEVFLEET_AGENT_", "GO"))}
    env.update(
        PATH=f"{empty}{os.pathsep}{Path(sys.executable).parent}",
        HOME=str(home),
        DEVFLEET_AGENT_STATE_DIR=str(state),
        DEVFLEET_AGENT_COLLECT_INTERVAL_S="0.3",
        DEVFLEET_AGENT_UPLOAD_INTERVAL_S="0.5",
        DEVFLEET_AGENT_DRAIN_INTERVAL_S="0.1",
        DEVFLEET_AGENT_HTTP_TIMEOUT_S="5",
        DEVFLEET_AGENT_DISABLED_COLLECTORS="go_caches",
        DEVFLEET_AGENT_FOLLOW_SERVER_INTERVALS="false",
    )
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


def _enroll(env: dict[str, str], url: str) -> None:
    from apps.fleet.services import create_enrollment_token

    _, secret = create_enrollment_token("Platform")
    res = _cli(env, "enroll", "--server", url, "--token", secret, "--owner", "bob")
    assert res.returncode == 0, res.stderr


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_until(env: dict[str, str], lines: int, log: Path, timeout: float = 60) -> str:
    """`devfleet-agent run` until it logged `lines` upload lines (or timed out), then SIGTERM."""
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "devfleet_agent", "run"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
            text=True,
        )
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                text = log.read_text()
                if text.count(" uploaded ") + text.count(" not delivered ") >= lines:
                    break
                time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    return log.read_text()


@pytest.mark.django_db(transaction=True)
def test_status_says_reachable_for_a_real_server_without_an_http_code(live_server, tmp_path):
    env = _bare_env(tmp_path, tmp_path / "state")
    _enroll(env, live_server.url)
    out = _cli(env, "status").stdout
    assert f"server:       {live_server.url} reachable\n" in out
    assert "HTTP" not in out


def test_status_names_a_server_that_is_not_devfleet_and_one_that_is_down(tmp_path, capsys):
    from tests.agent.receiver import Receiver

    other = Receiver()
    other.default = (404, {"detail": "not here"}, {})
    try:
        assert "answers HTTP 404 for /api/v1/openapi.json" in cli.probe_server(other.url)
        assert other.requests[-1]["path"] == "/api/v1/openapi.json"
    finally:
        other.close()
    assert cli.probe_server(f"http://127.0.0.1:{_closed_port()}").startswith("NOT reachable")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_run_logs_one_line_per_upload_and_flushes_the_spool_when_it_stops(live_server, tmp_path):
    env = _bare_env(tmp_path, tmp_path / "state")
    _enroll(env, live_server.url)
    log = _run_until(env, 2, tmp_path / "agent.log")
    uploads = re.findall(
        r"INFO uploaded (\d+) samples: (\d+) accepted, (\d+) duplicates; "
        r"next upload in [\d.]+ s",
        log,
    )
    assert len(uploads) >= 2, log
    assert all(int(n) == int(acc) + int(dup) for n, acc, dup in uploads), log
    assert "HTTP" not in log
    assert "INFO stopped: spool flushed, nothing left to send" in log, log


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_run_against_a_server_that_is_down_says_what_it_keeps(live_server, tmp_path):
    state = tmp_path / "state"
    _enroll(_bare_env(tmp_path, state), live_server.url)
    down = _bare_env(tmp_path, state, server_url=f"http://127.0.0.1:{_closed_port()}")
    log = _run_until(down, 1, tmp_path / "agent.log")
    assert "WARNING upload not delivered (network: " in log, log
    kept = re.search(
        r"INFO stopped: (\d+) samples kept in the spool \(network: [^)]*\); they "
        r"are sent at the next start",
        log,
    )
    assert kept, log
    assert int(kept.group(1)) >= 1, log


def test_once_and_show_say_plainly_when_there_is_no_gopls_and_no_go(tmp_path, monkeypatch, capsys):
    env = _bare_env(tmp_path, tmp_path / "state")
    for key in [k for k in os.environ if k.startswith(("DEVFLEET_AGENT_", "GO"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PATH", env["PATH"])
    monkeypatch.setenv("HOME", env["HOME"])
    proc = tmp_path / "proc"
    (proc / "1").mkdir(parents=True)  # one process, and it is not gopls
    (proc / "1" / "comm").write_text("init\n")
    (proc / "1" / "cmdline").write_text("/sbin/init\0")
    (proc / "stat").write_text("cpu  100 0 100 800 0 0 0 0 0 0\nbtime 1700000000\n")
    common = [
        "--state-dir",
        str(tmp_path / "state"),
        "--proc-root",
        str(proc),
        "--fs-root",
        str(tmp_path / "home"),
    ]
    assert cli.main([*common, "show"]) == 0
    out, _ = capsys.readouterr()
    assert "# note: no gopls process is running" in out
    assert "# note: no Go toolchain found: `go` is not on PATH" in out
    assert cli.main([*common, "once", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert out.lstrip().startswith("{")  # stdout stays one JSON document
    assert "note: no gopls process is running" in err
    assert "note: no Go toolchain found" in err
