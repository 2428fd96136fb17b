"""Typed facts collectors publish for one another (collectors never read another's cache)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class GoplsProcess:
    """One process the gopls collector last saw (server, telemetry sidecar or forwarder)."""

    pid: int
    kind: str | None = None
    create_time: float | None = None
    exe: str | None = None
    env: dict[str, str] = field(default_factory=dict)  # the kept variables (PATH, GOFLAGS, …)
    cwd: str | None = None
    roots: tuple[str, ...] = ()  # workspace roots read from its debug server
    editor_kind: str | None = None
    editor_exes: tuple[str, ...] = ()  # executables of its ancestry (up to 8)
    debug_host_port: tuple[str, int] | None = None  # its reachable debug server
    project_roots: tuple[str, ...] = ()  # module roots of the projects it serves

    @property
    def workspace_roots(self) -> tuple[str, ...]:
        """Its debug server's roots, else its working directory."""
        return self.roots or ((self.cwd,) if self.cwd else ())

    @classmethod
    def from_entry(cls, pid: int, entry: dict[str, Any]) -> GoplsProcess:
        """From the gopls collector's own record of the process."""
        projects = (entry.get("static") or {}).get("projects") or []
        return cls(
            pid=pid,
            kind=entry.get("kind"),
            create_time=entry.get("create_time"),
            exe=entry.get("exe"),
            env=entry.get("env") or {},
            cwd=entry.get("cwd"),
            roots=tuple(entry.get("roots") or ()),
            editor_kind=(entry.get("editor") or {}).get("kind"),
            editor_exes=tuple(entry.get("editor_exes") or ()),
            debug_host_port=entry.get("debug_host_port"),
            project_roots=tuple(
                p["root"] for p in projects if isinstance(p, dict) and p.get("root")
            ),
        )


@dataclass
class Facts:
    """What one collector learns and others need, each field written by one owner."""

    # gopls: every process it tracks, by pid, in the order it found them.
    gopls: dict[int, GoplsProcess] = field(default_factory=dict)
    # system: total and cached memory (bytes) from /proc/meminfo.
    meminfo: dict[str, int | None] = field(default_factory=dict)
    # go_toolchain: `go env -json` (kept when go later disappears) and the Go cache directories.
    go_env: dict[str, str] = field(default_factory=dict)
    cache_dirs: dict[str, Path] = field(default_factory=dict)
    # inotify: the kernel's inotify limits.
    inotify_limits: dict[str, int] = field(default_factory=dict)
    # the CLI's one-off reports (once, show, check): every static process fact in each sample.
    full_static: bool = False
