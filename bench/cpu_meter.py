"""CPU accounting for benchmarks: a process's CPU from /proc, the box's, and a meter that
splits CPU between a web server's process tree and PostgreSQL."""

from __future__ import annotations

import os

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


def box_cpu() -> float:
    """CPU seconds used by everything on the box (all cores, busy time only)."""
    with open("/proc/stat") as fh:
        fields = [int(v) for v in fh.readline().split()[1:8]]
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / CLK_TCK


class CpuMeter:
    """Samples CPU of the web server (master + workers), this database's PostgreSQL backends
    plus PostgreSQL's shared processes (WAL writer, checkpointer, …), and the whole box."""

    def __init__(self, server_pid: int, db_url: str):
        import psycopg

        self.server_pid = server_pid
        self.db_name = db_url.rsplit("/", 1)[1]
        self.admin = psycopg.connect(db_url.rsplit("/", 1)[0] + "/postgres", autocommit=True)

    def _pg_pids(self) -> list[int]:
        rows = self.admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE (datname = %s"
            " OR (datname IS NULL AND backend_type <> 'client backend'))"
            " AND pid <> pg_backend_pid()",
            (self.db_name,),
        ).fetchall()
        return [r[0] for r in rows]

    def snapshot(self) -> dict:
        web = [self.server_pid, *children(self.server_pid)]
        return {
            "web": {pid: proc_cpu(pid) for pid in web},
            "pg": {pid: proc_cpu(pid) for pid in self._pg_pids()},
            "box": box_cpu(),
        }

    @staticmethod
    def delta(a: dict, b: dict) -> dict:
        def used(kind):
            return sum(max(0.0, cpu - a[kind].get(pid, 0.0)) for pid, cpu in b[kind].items())

        return {"web": used("web"), "pg": used("pg"), "box": b["box"] - a["box"]}
