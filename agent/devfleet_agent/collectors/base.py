"""CollectorContext (injectable roots, clock, subprocess runner) and the collector registry."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from devfleet_agent.collectors.facts import Facts
from devfleet_agent.config import AgentConfig

SAMPLE = "sample"
INVENTORY = "inventory"


class CollectorUnsupported(Exception):
    """The collector does not apply on this machine (e.g. WSL collector outside WSL)."""


@dataclass
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


def run_command(argv: list[str], timeout: float = 10.0, env: dict[str, str] | None = None,
                cwd: str | None = None) -> CommandResult:
    """Run a short command with a hard timeout; never a shell."""
    kwargs: dict[str, Any] = {}
    if sys.platform == "win32":  # pragma: no cover
        kwargs["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0)
    proc = subprocess.run(
        argv, capture_output=True, timeout=timeout, env=env, cwd=cwd, check=False,
        stdin=subprocess.DEVNULL, **kwargs,
    )
    return CommandResult(proc.returncode, proc.stdout.decode("utf-8", "replace"),
                         proc.stderr.decode("utf-8", "replace"))


@dataclass
class CollectorContext:
    """Everything a collector may touch. Tests point the roots at fake trees."""

    config: AgentConfig
    proc_root: Path = Path("/proc")
    sys_root: Path = Path("/sys")
    fs_root: Path = Path("/")
    home: Path = field(default_factory=Path.home)
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    platform: str = sys.platform
    now: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    run: Callable[..., CommandResult] = run_command
    state_dir: Path | None = None
    caches: dict[str, dict[str, Any]] = field(default_factory=dict)
    facts: Facts = field(default_factory=Facts)  # what collectors publish for one another

    def cache(self, name: str) -> dict[str, Any]:
        """Per-collector memory that survives between cycles, private to the collector `name`
        (what others need goes through `facts`)."""
        return self.caches.setdefault(name, {})

    def host_path(self, path: str | Path) -> Path:
        """Map an absolute host path into fs_root (tests use a fake filesystem root)."""
        p = Path(path)
        if str(self.fs_root) in ("/", ""):
            return p
        return self.fs_root / str(p).lstrip("/\\")

    def read_text(self, path: Path, max_bytes: int = 1 << 20) -> str:
        with open(path, "rb") as fh:
            return fh.read(max_bytes).decode("utf-8", "replace")

    def read_bytes(self, path: Path, max_bytes: int = 1 << 20) -> bytes:
        with open(path, "rb") as fh:
            return fh.read(max_bytes)


@dataclass
class Collector:
    name: str
    func: Callable[[CollectorContext], dict[str, Any]]
    section: str = SAMPLE
    # AgentConfig attribute holding the interval; None = every cycle
    interval_key: str | None = None
    budget_ms: float = 50.0
    platforms: frozenset[str] | None = None
    description: str = ""

    def interval(self, config: AgentConfig) -> float:
        return float(getattr(config, self.interval_key)) if self.interval_key else 0.0

    def applies(self, platform: str) -> bool:
        if self.platforms is None:
            return True
        return any(platform.startswith(p) for p in self.platforms)


REGISTRY: dict[str, Collector] = {}


def collector(name: str, *, section: str = SAMPLE, interval_key: str | None = None,
              budget_ms: float = 50.0, platforms: set[str] | None = None) -> Callable:
    """Register `func(ctx) -> dict` as a collector; the dict is merged into the sample/inventory."""

    def wrap(func: Callable[[CollectorContext], dict[str, Any]]) -> Callable:
        REGISTRY[name] = Collector(
            name=name, func=func, section=section, interval_key=interval_key,
            budget_ms=budget_ms, platforms=frozenset(platforms) if platforms else None,
            description=(func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else "",
        )
        return func

    return wrap
