"""Process table access: psutil on every OS, or pure /proc parsing over a fake root in tests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psutil

from devfleet_agent.collectors import procfs

ENV_KEEP = frozenset({"GOMEMLIMIT", "GOGC", "GOFLAGS", "GOPLSCACHE", "GOTOOLCHAIN", "GOWORK"})
ENV_INTERNAL = frozenset({"PATH", "GO_TELEMETRY_CHILD"})  # read to locate go / classify; not sent


class Gone(Exception):
    """The process vanished or became unreadable while we were reading it."""


class PsutilSource:
    """Live processes through psutil, with cheap /proc fast paths on Linux."""

    def __init__(self, proc_root: Path = Path("/proc")) -> None:
        self.proc_root = proc_root
        self.linux = psutil.LINUX and proc_root.is_dir()
        self._procs: dict[int, psutil.Process] = {}

    def pids(self) -> list[int]:
        return psutil.pids()

    def name(self, pid: int) -> str | None:
        if self.linux:
            try:
                with open(f"{self.proc_root}/{pid}/comm", "rb") as fh:
                    return fh.read(64).decode("utf-8", "replace").strip()
            except OSError:
                return None
        try:
            return psutil.Process(pid).name()
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

    def children(self, pid: int) -> list[int]:
        """Direct children; Linux reads task/*/children instead of scanning every process."""
        if self.linux:
            kids: list[int] = []
            try:
                for tid in os.listdir(f"{self.proc_root}/{pid}/task"):
                    with open(f"{self.proc_root}/{pid}/task/{tid}/children") as fh:
                        kids.extend(int(x) for x in fh.read().split())
                return kids
            except (OSError, ValueError):
                pass
        try:
            return [c.pid for c in self._proc(pid).children()]
        except (psutil.Error, OSError):
            return []

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
    """A Linux /proc tree on disk (fake or relocated): pure parsers, no psutil."""

    def __init__(self, proc_root: Path) -> None:
        super().__init__(proc_root)
        self.linux = True
        self.ticks = 100
        btime = 0
        try:
            for line in (proc_root / "stat").read_text().splitlines():
                if line.startswith("btime "):
                    btime = int(line.split()[1])
        except OSError:
            pass
        self.btime = btime

    def _read(self, pid: int, name: str, binary: bool = False) -> Any:
        try:
            path = self.proc_root / str(pid) / name
            return path.read_bytes() if binary else path.read_text(errors="replace")
        except FileNotFoundError as exc:
            raise Gone(f"pid {pid}: {name} missing") from exc
        except OSError as exc:
            raise Gone(f"pid {pid}: {name}: {exc.strerror}") from exc

    def pids(self) -> list[int]:
        return sorted(int(d) for d in os.listdir(self.proc_root) if d.isdigit())

    def static(self, pid: int) -> dict[str, Any]:
        stat = procfs.parse_stat(self._read(pid, "stat"))
        argv = procfs.parse_cmdline(self._read(pid, "cmdline", binary=True))
        try:
            env = procfs.parse_environ(self._read(pid, "environ", binary=True),
                                       ENV_KEEP | ENV_INTERNAL)
        except Gone:
            env = {}
        exe_link = self.proc_root / str(pid) / "exe"
        exe = os.readlink(exe_link) if exe_link.is_symlink() else (argv[0] if argv else None)
        return {"create_time": self.btime + stat["starttime_ticks"] / self.ticks,
                "ppid": stat["ppid"], "argv": argv, "exe": exe, "environ": env}

    def dynamic(self, pid: int) -> dict[str, Any]:
        status = procfs.parse_status(self._read(pid, "status"))
        stat = procfs.parse_stat(self._read(pid, "stat"))
        fd_dir = self.proc_root / str(pid) / "fd"
        fds = len(os.listdir(fd_dir)) if fd_dir.is_dir() else None
        return {"rss": status["vm_rss_bytes"], "threads": status["threads"], "open_fds": fds,
                "cpu_s": (stat["utime_ticks"] + stat["stime_ticks"]) / self.ticks}

    def cwd(self, pid: int) -> str | None:
        link = self.proc_root / str(pid) / "cwd"
        if link.is_symlink():
            return os.readlink(link)
        try:
            return self._read(pid, "cwd").strip() or None
        except Gone:
            return None

    def fd_limit(self, pid: int) -> int | None:
        try:
            limits = procfs.parse_limits(self._read(pid, "limits"))
        except Gone:
            return None
        return limits.get("Max open files", (None, None))[0]

    def children(self, pid: int) -> list[int]:
        kids = super().children(pid)
        if kids:
            return kids
        out = []
        for other in self.pids():
            try:
                if procfs.parse_stat(self._read(other, "stat"))["ppid"] == pid:
                    out.append(other)
            except (Gone, ValueError):
                continue
        return out

    def cpu_and_name(self, pid: int) -> tuple[str, float, float] | None:
        try:
            stat = procfs.parse_stat(self._read(pid, "stat"))
        except (Gone, ValueError):
            return None
        return (stat["comm"], (stat["utime_ticks"] + stat["stime_ticks"]) / self.ticks,
                self.btime + stat["starttime_ticks"] / self.ticks)

    def ancestry(self, pid: int, depth: int = 8) -> list[tuple[str, str, str]]:
        chain: list[tuple[str, str, str]] = []
        try:
            ppid = procfs.parse_stat(self._read(pid, "stat"))["ppid"]
            while ppid and len(chain) < depth:
                stat = procfs.parse_stat(self._read(ppid, "stat"))
                argv = procfs.parse_cmdline(self._read(ppid, "cmdline", binary=True))
                exe_link = self.proc_root / str(ppid) / "exe"
                exe = os.readlink(exe_link) if exe_link.is_symlink() else (argv[0] if argv else "")
                chain.append((stat["comm"], exe, " ".join(argv)[:512]))
                if ppid <= 1:
                    break
                ppid = stat["ppid"]
        except (Gone, ValueError):
            pass
        return chain

    def listen_ports(self, pid: int) -> list[tuple[str, int]]:
        return []


def make_source(proc_root: Path) -> PsutilSource:
    """psutil for the live /proc (and on macOS/Windows); ProcfsSource for any other root."""
    if str(proc_root) in ("/proc", "") or not proc_root.exists():
        return PsutilSource(proc_root)
    return ProcfsSource(proc_root)
