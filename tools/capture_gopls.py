"""Capture a running gopls (or an inotify user) into the layout of tests/fixtures/real-gopls.

usage:
  python3 tools/capture_gopls.py gopls PID DEBUG_ADDR OUT [--seconds 40] [--rewrite OLD=NEW ...]
  python3 tools/capture_gopls.py inotify PID OUT [--rewrite OLD=NEW ...]

`gopls` samples the process every 2 s for --seconds into OUT/timeseries.csv and, half-way,
snapshots its /proc files, its debug server's pages, the machine's files and the go/gopls
command output (`go` and `gopls` from PATH). `inotify` copies the files of a process that
holds an inotify descriptor. --rewrite replaces a path prefix in every text file written (e.g.
the scratch workspace by /home/dev/src/goldmark), so no path of the capturing machine remains.
Linux only; run it as the process's user or root.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path

PROC_FILES = ("status", "stat", "statm", "limits", "io")
ENV_KEPT = re.compile(r"^(GO[A-Z0-9_]*|HOME|USER|PATH)=")
DEBUG_PAGES = {  # file name: path on the debug server
    "page_.html": "/",
    "page_memory.html": "/memory",
    "page_metrics_.html": "/metrics/",
    "page_session_1.html": "/session/1",
    "page_cache_1.html": "/cache/1",
    "page_info.html": "/info",
    "page_rpc_.html": "/rpc/",
    "page_debug_pprof_goroutine_debug_1.html": "/debug/pprof/goroutine?debug=1",
}
SYS_FILES = {
    "meminfo": "/proc/meminfo",
    "vmstat": "/proc/vmstat",
    "version": "/proc/version",
    "loadavg": "/proc/loadavg",
}
COLUMNS = (
    "t_s",
    "rss_kb",
    "threads",
    "heap_inuse",
    "heap_alloc",
    "sys",
    "num_gc",
    "goroutines",
    "cpu_ticks",
)


class Writer:
    """Writes files under one folder, rewriting path prefixes in text."""

    def __init__(self, root: Path, rewrites: list[tuple[str, str]]):
        self.root, self.rewrites = root, rewrites

    def text(self, rel: str, text: str) -> None:
        for old, new in self.rewrites:
            text = text.replace(old, new)
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def data(self, rel: str, data: bytes) -> None:
        for old, new in self.rewrites:
            data = data.replace(old.encode(), new.encode())
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def fetch(addr: str, path: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(f"http://{addr}{path}", timeout=timeout) as r:
        return r.read().decode(errors="replace")


def memstats_trailer(addr: str) -> str:
    page = fetch(addr, "/debug/pprof/heap?debug=1", timeout=20)
    at = page.find("# runtime.MemStats")
    return page[at:] if at >= 0 else ""


def fd_links(pid: int) -> str:
    fd_dir = Path(f"/proc/{pid}/fd")
    lines = []
    for fd in sorted(fd_dir.iterdir(), key=lambda p: int(p.name)):
        try:
            lines.append(f"{fd.name} -> {os.readlink(fd)}")
        except OSError:
            continue  # closed while listing
    return "\n".join(lines) + "\n"


def snapshot_process(w: Writer, pid: int) -> None:
    proc = Path(f"/proc/{pid}")
    for name in PROC_FILES:
        w.text(f"proc/{name}", (proc / name).read_text())
    w.data("proc/cmdline", (proc / "cmdline").read_bytes())
    env = (proc / "environ").read_bytes().decode(errors="replace").split("\0")
    w.text("proc/environ.filtered", "".join(e + "\n" for e in env if ENV_KEPT.match(e)))
    w.text("proc/fd.links", fd_links(pid))
    tasks = sorted((proc / "task").iterdir(), key=lambda p: int(p.name))
    w.text("proc/task.stat", "".join((t / "stat").read_text() for t in tasks))
    w.text("proc/cwd", os.readlink(proc / "cwd") + "\n")


def snapshot_machine(w: Writer) -> None:
    for name, path in SYS_FILES.items():
        w.text(f"sys/{name}", Path(path).read_text())
    limits = Path("/proc/sys/fs/inotify")
    w.text(
        "sys/inotify_limits",
        "".join(
            f"{n} {(limits / n).read_text().strip()}\n"
            for n in ("max_user_watches", "max_user_instances", "max_queued_events")
        ),
    )


def run(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False).stdout


def snapshot_gopls(w: Writer, pid: int, addr: str) -> None:
    snapshot_process(w, pid)
    for name, path in DEBUG_PAGES.items():
        try:
            w.text(f"debug/{name}", fetch(addr, path))
        except OSError as e:
            print(f"debug page {path}: {e}")
    w.text("debug/heap_debug1_memstats_trailer.txt", memstats_trailer(addr))
    snapshot_machine(w)
    exe = os.readlink(f"/proc/{pid}/exe")
    w.text("gopls_version.txt", run(exe, "version"))
    w.text("go_version_m.txt", run("go", "version", "-m", exe))
    w.text("go_env.json", run("go", "env", "-json"))
    w.text("go_version.txt", run("go", "version"))


def _memstat(trailer: str, key: str) -> str:
    m = re.search(rf"^# {key} = (\d+)", trailer, re.MULTILINE)
    return m.group(1) if m else ""


def sample(pid: int, addr: str, t_s: float) -> dict[str, str]:
    """One timeseries row; debug-server cells stay empty when it does not answer in time."""
    status = Path(f"/proc/{pid}/status").read_text()
    field = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    row = {
        "t_s": f"{t_s:.2f}",
        "rss_kb": field["VmRSS"].split()[0],
        "threads": field["Threads"].strip(),
        "cpu_ticks": str(int(stat[11]) + int(stat[12])),
    }
    try:
        trailer = memstats_trailer(addr)
        first = fetch(addr, "/debug/pprof/goroutine?debug=1").split("\n", 1)[0]
        row.update(
            heap_inuse=_memstat(trailer, "HeapInuse"),
            heap_alloc=_memstat(trailer, "HeapAlloc"),
            sys=_memstat(trailer, "Sys"),
            num_gc=_memstat(trailer, "NumGC"),
            goroutines=first.rsplit(" ", 1)[-1],
        )
    except OSError:
        pass
    return row


def capture_gopls(pid: int, addr: str, w: Writer, seconds: float) -> None:
    w.root.mkdir(parents=True, exist_ok=True)
    t0, snapped = time.monotonic(), False
    with open(w.root / "timeseries.csv", "w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=COLUMNS, restval="")
        out.writeheader()
        while (t := time.monotonic() - t0) < seconds and Path(f"/proc/{pid}").exists():
            out.writerow(sample(pid, addr, t))
            f.flush()
            if not snapped and t >= seconds / 2:
                snapshot_gopls(w, pid, addr)
                snapped = True
            time.sleep(max(0.0, 2 - (time.monotonic() - t0 - t)))
    if not snapped:
        raise SystemExit("gopls exited before the half-way snapshot")


def capture_inotify(pid: int, w: Writer) -> None:
    proc = Path(f"/proc/{pid}")
    fds = [fd for fd in (proc / "fd").iterdir() if os.readlink(fd) == "anon_inode:inotify"]
    if not fds:
        raise SystemExit(f"process {pid} holds no inotify descriptor")
    full = (proc / "fdinfo" / fds[0].name).read_text()
    w.text("fdinfo_full.txt", full)
    w.text("fdinfo_head.txt", full[:2000])
    w.text("fd.links", fd_links(pid))
    w.text("status", (proc / "status").read_text())
    w.data("cmdline", (proc / "cmdline").read_bytes())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = ap.add_subparsers(dest="kind", required=True)
    g = sub.add_parser("gopls")
    g.add_argument("pid", type=int)
    g.add_argument("debug_addr")
    g.add_argument("out", type=Path)
    g.add_argument("--seconds", type=float, default=40)
    i = sub.add_parser("inotify")
    i.add_argument("pid", type=int)
    i.add_argument("out", type=Path)
    for p in (g, i):
        p.add_argument("--rewrite", action="append", default=[], metavar="OLD=NEW")
    args = ap.parse_args()
    w = Writer(args.out, [tuple(r.split("=", 1)) for r in args.rewrite])
    if args.kind == "gopls":
        capture_gopls(args.pid, args.debug_addr, w, args.seconds)
    else:
        capture_inotify(args.pid, w)
    print(f"captured into {args.out}")


if __name__ == "__main__":
    main()
