"""Agent test fixtures: the real-gopls captures, fake /proc trees, configs and contexts."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Any

import pytest

from devfleet_agent.collectors.base import CollectorContext
from devfleet_agent.config import AgentConfig, validate
from tests.conftest import real_capture

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA = REPO_ROOT / "docs" / "report.schema.json"


@contextlib.contextmanager
def install_lock(root: Path):
    """Serialise installs into a cached folder shared by concurrent test runs (CI runs two
    passes side by side): the second waits, then finds the first one's result."""
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture
def captures() -> Path:
    return real_capture()


def fake_procfs(
    root: Path, procs: dict[int, dict[str, Any]], files: dict[str, str] | None = None
) -> Path:
    """Build a fake /proc: {pid: {"comm", "ppid", "argv", "environ", "status", "fds", ...}}.

    fds: {fd: target} become symlinks under fd/, fdinfo: {fd: text}; any other str key is
    written as a file (e.g. "limits", "cwd" as a symlink when given as {"cwd": Path}).
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "stat").write_text("cpu  100 0 100 800 0 0 0 0 0 0\nbtime 1700000000\n")
    for name, text in (files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for pid, spec in procs.items():
        d = root / str(pid)
        d.mkdir()
        comm = spec.get("comm", "proc")
        ppid = spec.get("ppid", 1)
        ticks = spec.get("cpu_ticks", 0)
        start = spec.get("start_ticks", 1000)
        threads = spec.get("threads", 1)
        rss_kb = spec.get("rss_kb", 1000)
        pages = rss_kb * 1024 // os.sysconf("SC_PAGE_SIZE")
        (d / "stat").write_text(
            f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 0 0 0 0 0 {ticks} 0 0 0 20 0 {threads} 0 "
            f"{start} 1000 {pages} 0\n"
        )
        (d / "comm").write_text(comm + "\n")
        argv = spec.get("argv", [comm])
        (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
        env = spec.get("environ", {})
        (d / "environ").write_bytes(b"".join(f"{k}={v}\0".encode() for k, v in env.items()))
        (d / "status").write_text(
            spec.get("status")
            or (
                f"Name:\t{comm}\nPid:\t{pid}\nPPid:\t{ppid}\nUid:\t1000\t1000\t1000\t1000\n"
                f"VmRSS:\t{rss_kb} kB\nThreads:\t{threads}\n"
            )
        )
        if "limits" in spec:
            (d / "limits").write_text(spec["limits"])
        if "cwd" in spec:
            os.symlink(spec["cwd"], d / "cwd")
        if "exe" in spec:
            os.symlink(spec["exe"], d / "exe")
        (d / "fd").mkdir()
        (d / "fdinfo").mkdir()
        for fd, target in spec.get("fds", {}).items():
            os.symlink(target, d / "fd" / str(fd))
        for fd, text in spec.get("fdinfo", {}).items():
            (d / "fdinfo" / str(fd)).write_text(text)
    return root


@pytest.fixture
def make_config(tmp_path):
    def make(**values: Any) -> AgentConfig:
        values.setdefault("state_dir", str(tmp_path / "state"))
        return validate(values)

    return make


@pytest.fixture
def make_ctx(make_config, tmp_path):
    def make(
        proc_root: Path | None = None, config: AgentConfig | None = None, **kw: Any
    ) -> CollectorContext:
        cfg = config or make_config()
        kw.setdefault("home", tmp_path / "home")
        kw.setdefault("environ", {"PATH": os.environ.get("PATH", "")})
        kw.setdefault("platform", "linux")
        return CollectorContext(
            config=cfg,
            proc_root=proc_root or Path("/proc"),
            sys_root=kw.pop("sys_root", tmp_path / "sys"),
            state_dir=Path(cfg.state_path),
            **kw,
        )

    return make
