"""Process table access: /proc parsers on Linux (also fake roots in tests), psutil elsewhere."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import psutil

from devfleet_agent.probes import procfs

ENV_KEEP = frozenset({"GOMEMLIMIT", "GOGC", "GOFLAGS", "GOPLSCACHE", "GOTOOLCHAIN", "GOWORK"})
ENV_INTERNAL = frozenset({"PATH", "GO_TELEMETRY_CHILD"})  # read to locate go / classify; not sent


class Gone(Exception):
    """The process vanished or became unreadable while we were reading it."""


class PsutilSource:
    """Live processes through psutil, with cheap /proc fast paths on Linux."""

    def __init__(self, proc_root: Path = Path("/proc")) -> None:
        self.proc_root = proc_root
        self._procs: dict[int, psutil.Process] = {}

    def pids(self) -> list[int]:
        return psutil.pids()

    def scan(self, pid: int) -> tuple[str, int] | None:
        """(name, ppid) of a process, or None if it is gone or unreadable."""
        try:
            p = psutil.Process(pid)
            with p.oneshot():
                return p.name(), p.ppid()
        except (psutil.Error, OSError):
            return None

    def _proc(self, pid: int, create_time: float | None = None) -> psutil.Process:
        p = self._procs.get(pid)
        if p is None or (create_time and abs(p.create_time() - create_time) > 0.5):
            p = psutil.Process(pid)
            self._procs[pid] = p
        return p

    def forget(self, live: set[int]) -> None:
        for pid in list(self._procs):
            if pid not in live:
                del self._procs[pid]

    def static(self, pid: int) -> dict[str, Any]:
        """Facts that never change for a process: argv, exe, create time, ppid, environment."""
        try:
            p = self._proc(pid)
            with p.oneshot():
                info: dict[str, Any] = {"create_time": p.create_time(), "ppid": p.ppid(),
                                        "argv": p.cmdline()}
                try:
                    info["exe"] = p.exe()
                except (psutil.AccessDenied, OSError):
                    info["exe"] = info["argv"][0] if info["argv"] else None
                try:
                    env = p.environ()
                    info["environ"] = {k: v[:1024] for k, v in env.items()
                                       if k in ENV_KEEP or k in ENV_INTERNAL}
                except (psutil.AccessDenied, OSError):
                    info["environ"] = {}
            return info
        except (psutil.NoSuchProcess, psutil.ZombieProcess, ProcessLookupError) as exc:
            raise Gone(str(exc)) from exc
        except psutil.AccessDenied as exc:
            raise Gone(f"access denied to pid {pid}") from exc

    def dynamic(self, pid: int) -> dict[str, Any]:
        """Per-cycle figures: RSS, CPU seconds, threads, open fds."""
        try:
            p = self._proc(pid)
            with p.oneshot():
                cpu = p.cpu_times()
                out = {"rss": p.memory_info().rss, "cpu_s": cpu.user + cpu.system,
                       "threads": p.num_threads()}
                try:
                    out["open_fds"] = p.num_fds() if hasattr(p, "num_fds") else p.num_handles()
                except (psutil.AccessDenied, OSError):
                    out["open_fds"] = None
            return out
        except (psutil.NoSuchProcess, psutil.ZombieProcess, ProcessLookupError) as exc:
            raise Gone(str(exc)) from exc
        except psutil.AccessDenied as exc:
            raise Gone(f"access denied to pid {pid}") from exc

    def cwd(self, pid: int) -> str | None:
        try:
            return self._proc(pid).cwd()
        except (psutil.Error, OSError):
            return None

    def fd_limit(self, pid: int) -> int | None:
        try:
            p = self._proc(pid)
            if hasattr(p, "rlimit"):
                soft, _ = p.rlimit(psutil.RLIMIT_NOFILE)
                return None if soft == psutil.RLIM_INFINITY else soft
        except (psutil.Error, OSError, AttributeError):
            return None
        return None

    def cpu_and_name(self, pid: int) -> tuple[str, float, float] | None:
        try:
            p = self._proc(pid)
            with p.oneshot():
                cpu = p.cpu_times()
                return p.name(), cpu.user + cpu.system, p.create_time()
        except (psutil.Error, OSError):
            return None

    def ancestry(self, pid: int, depth: int = 8) -> list[tuple[str, str, str]]:
        chain: list[tuple[str, str, str]] = []
        try:
            p = psutil.Process(pid).parent()
            while p is not None and len(chain) < depth:
                with p.oneshot():
                    name = p.name()
                    try:
                        exe = p.exe()
                    except (psutil.Error, OSError):
                        exe = ""
                    try:
                        cmd = " ".join(p.cmdline())[:512]
                    except (psutil.Error, OSError):
                        cmd = ""
                chain.append((name, exe, cmd))
                if p.pid <= 1:
                    break
                p = p.parent()
        except (psutil.Error, OSError):
            pass
        return chain

    def listen_ports(self, pid: int) -> list[tuple[str, int]]:
        try:
            conns = self._proc(pid).net_connections(kind="tcp")
        except (psutil.Error, OSError, AttributeError):
            return []
        return [(c.laddr.ip, c.laddr.port) for c in conns
                if c.status == psutil.CONN_LISTEN and c.laddr]


class ProcfsSource(PsutilSource):
    """Linux /proc (live or a fake tree): one read of /proc/PID/stat per process and cycle."""

    def __init__(self, proc_root: Path) -> None:
        super().__init__(proc_root)
        self.root = str(proc_root)
        self.live = self.root == "/proc"
        self.ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        btime = 0
        try:
            with open(f"{self.root}/stat") as fh:
                for line in fh:
                    if line.startswith("btime "):
                        btime = int(line.split()[1])
        except OSError:
            pass
        self.btime = btime

    def _read(self, pid: int, name: str, binary: bool = False, limit: int = 1 << 18) -> Any:
        try:
            with open(f"{self.root}/{pid}/{name}", "rb", buffering=0) as fh:
                data = fh.read(limit)
        except FileNotFoundError as exc:
            raise Gone(f"pid {pid}: {name} missing") from exc
        except OSError as exc:
            raise Gone(f"pid {pid}: {name}: {exc.strerror}") from exc
        return data if binary else data.decode("utf-8", "replace")

    def _stat(self, pid: int) -> dict[str, Any]:
        try:
            return procfs.parse_stat(self._read(pid, "stat", limit=4096))
        except (ValueError, IndexError) as exc:
            raise Gone(f"pid {pid}: unparseable stat") from exc

    def pids(self) -> list[int]:
        return [int(d) for d in os.listdir(self.root) if d.isdigit()]

    def scan(self, pid: int) -> tuple[str, int] | None:
        try:
            stat = self._stat(pid)
        except Gone:
            return None
        return stat["comm"], stat["ppid"]

    def _link(self, pid: int, name: str) -> str | None:
        try:
            return os.readlink(f"{self.root}/{pid}/{name}")
        except OSError:
            return None

    def static(self, pid: int) -> dict[str, Any]:
        stat = self._stat(pid)
        argv = procfs.parse_cmdline(self._read(pid, "cmdline", binary=True))
        try:
            env = procfs.parse_environ(self._read(pid, "environ", binary=True),
                                       ENV_KEEP | ENV_INTERNAL)
        except Gone:
            env = {}
        exe = self._link(pid, "exe") or (argv[0] if argv else None)
        if exe and exe.endswith(" (deleted)"):
            exe = exe[: -len(" (deleted)")]
        return {"create_time": self.btime + stat["starttime_ticks"] / self.ticks,
                "ppid": stat["ppid"], "argv": argv, "exe": exe, "environ": env}

    def dynamic(self, pid: int) -> dict[str, Any]:
        stat = self._stat(pid)
        try:
            fds: int | None = len(os.listdir(f"{self.root}/{pid}/fd"))
        except FileNotFoundError as exc:
            raise Gone(f"pid {pid} exited") from exc
        except OSError:
            fds = None
        return {"rss": stat["rss_pages"] * self.page, "threads": stat["threads"],
                "open_fds": fds,
                "cpu_s": (stat["utime_ticks"] + stat["stime_ticks"]) / self.ticks}

    def cwd(self, pid: int) -> str | None:
        link = self._link(pid, "cwd")
        if link is not None:
            return link
        try:  # fake trees may store the cwd as a plain file
            return self._read(pid, "cwd").strip() or None
        except Gone:
            return None

    def fd_limit(self, pid: int) -> int | None:
        try:
            limits = procfs.parse_limits(self._read(pid, "limits"))
        except Gone:
            return None
        return limits.get("Max open files", (None, None))[0]

    def cpu_and_name(self, pid: int) -> tuple[str, float, float] | None:
        try:
            stat = self._stat(pid)
        except Gone:
            return None
        return (stat["comm"], (stat["utime_ticks"] + stat["stime_ticks"]) / self.ticks,
                self.btime + stat["starttime_ticks"] / self.ticks)

    def ancestry(self, pid: int, depth: int = 8) -> list[tuple[str, str, str]]:
        chain: list[tuple[str, str, str]] = []
        try:
            ppid = self._stat(pid)["ppid"]
            while ppid and len(chain) < depth:
                stat = self._stat(ppid)
                argv = procfs.parse_cmdline(self._read(ppid, "cmdline", binary=True))
                exe = self._link(ppid, "exe") or (argv[0] if argv else "")
                chain.append((stat["comm"], exe, " ".join(argv)[:512]))
                if ppid <= 1:
                    break
                ppid = stat["ppid"]
        except Gone:
            pass
        return chain

    def listen_ports(self, pid: int) -> list[tuple[str, int]]:
        return super().listen_ports(pid) if self.live else []


def make_source(proc_root: Path, platform: str = sys.platform) -> PsutilSource:
    """/proc parsers on Linux (or any fake proc root); psutil on macOS and Windows."""
    if proc_root.is_dir() and (platform.startswith("linux") or str(proc_root) != "/proc"):
        return ProcfsSource(proc_root)
    return PsutilSource(proc_root)
