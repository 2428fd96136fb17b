"""Services for bench/soak.py: a private PostgreSQL and Redis, and the production stack on them.

Nothing here touches the shared PostgreSQL (5432) or Redis (6379): the cluster is initdb'd into
the soak's work directory and Redis keeps its append-only file there. The stack is started as
deploy/run-production-stack.sh starts it (same commands, same production environment), with
the few settings that compressed time needs (see `Stack.env`).
"""

from __future__ import annotations

import glob
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if not initdb:
        raise RuntimeError("initdb not found (install PostgreSQL server binaries)")
    return Path(initdb).parent


class PrivatePostgres:
    """A throwaway cluster on a free port; run as the postgres user when we are root."""

    def __init__(self, directory: Path, port: int) -> None:
        self.dir, self.port = directory, port
        self.data = directory / "data"
        self.bin = _pg_bin()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.as_user, *args], check=check, capture_output=True, text=True, timeout=120
        )

    def _ctl(self, *args: str, check: bool = True) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "postgres.log"),
            "-w", "-t", "120", "-o", options, *args, check=check,
        )  # fmt: skip

    def start(self) -> None:
        if not self.data.exists():
            self.dir.mkdir(parents=True)
            if self.as_user:
                os.chmod(self.dir.parent, 0o755)
                shutil.chown(self.dir, "postgres")
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust",
                      "-U", "postgres", "-E", "UTF8", "--no-sync")  # fmt: skip
        self._ctl("start")
        if not self.query("SELECT 1 FROM pg_database WHERE datname = 'devfleet'", db="postgres"):
            self.query("CREATE DATABASE devfleet", db="postgres")

    def restart(self, mode: str) -> None:
        self._ctl("restart", "-m", mode)

    def outage(self, seconds: float) -> None:
        self._ctl("stop", "-m", "fast")
        time.sleep(seconds)
        self._ctl("start")

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._ctl("stop", "-m", mode, check=False)

    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def url(self, db: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def query(self, sql: str, db: str = "devfleet") -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url(db), autocommit=True) as conn:
            cur = conn.execute(sql)
            return cur.fetchall() if cur.description else []


class PrivateRedis:
    """redis-server on a free port with an append-only file, like deploy/docker-compose.yml."""

    def __init__(self, directory: Path, port: int) -> None:
        self.dir, self.port = directory, port
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
             str(self.dir), "--appendonly", "yes", "--save", "", "--logfile",
             str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("private redis-server did not start")

    def restart(self, sig: int, down_s: float = 1.0) -> None:
        self.stop(sig)
        time.sleep(down_s)
        self.start()

    def stop(self, sig: int) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


class Stack:
    """gunicorn, a Celery worker and Celery beat with production settings."""

    RESTART_S = 5.0  # RestartSec of deploy/systemd/devfleet-worker@.service

    def __init__(self, root: Path, work: Path, db_url: str, redis_url: str, speed: float):
        self.root, self.work = root, work
        self.logs = work / "log"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.killed: set[str] = set()  # roles the chaos killed on purpose
        self.crashes: list[tuple[float, str, int, str]] = []
        self.stopping = threading.Event()
        venv_bin = str(Path(sys.executable).parent)
        # As deploy/run-production-stack.sh: a clean environment, production settings, plain
        # HTTP on localhost (DEVFLEET_SECURE off), PostgreSQL and Redis.
        self.env = {
            "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin", "HOME": str(work),
            "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "false",
            "DEVFLEET_SECURE": "false", "DEVFLEET_INSECURE_DEV_KEY": "false",
            "SECRET_KEY": os.urandom(32).hex(), "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CSRF_TRUSTED_ORIGINS": self.base_url, "DEVFLEET_BASE_URL": self.base_url,
            "DEVFLEET_VAR_DIR": str(work / "var"), "DATABASE_URL": db_url,
            "REDIS_URL": redis_url, "CELERY_QUEUE": "devfleet-soak", "LOG_LEVEL": "INFO",
            "GUNICORN_BIND": f"127.0.0.1:{self.port}", "GUNICORN_WORKERS": "2",
            "GUNICORN_THREADS": "4", "GUNICORN_ACCESS_LOG": str(self.logs / "access.log"),
            "GUNICORN_ERROR_LOG": str(self.logs / "web.log"),
            # Compressed time: an agent uploads `speed` times a wall minute, so the per-machine
            # rate limit scales with it; samples lag the wall clock by up to an hour, so the
            # detection pass must not skip machines as silent.
            "INGEST_RATE_PER_MINUTE": str(12 * speed), "DETECTION_STALE_AFTER_S": "7200",
            # A whole fleet's findings open within minutes: let the channel send them, and
            # take back rows of a killed worker sooner than production's 120 s.
            "ALERTS_RATE_PER_MINUTE": "120", "ALERTS_SENDING_TIMEOUT_S": "30",
        }  # fmt: skip

    def run_python(self, code: str, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code, *args], cwd=self.root, env=self.env,
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if done.returncode:
            raise RuntimeError(f"setup failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def prepare(self) -> None:
        for command in (["migrate", "--noinput"], ["collectstatic", "--noinput", "-v", "0"]):
            self.run_python(
                "import sys; from django.core.management import execute_from_command_line; "
                "execute_from_command_line(['manage.py', *sys.argv[1:]])",
                *command,
            )

    COMMANDS = {
        "web": ["gunicorn", "-c", "deploy/gunicorn.conf.py"],
        "worker": ["celery", "-A", "config", "worker", "--loglevel=INFO", "--concurrency=2",
                   "--hostname=soak@%h"],
        "beat": ["celery", "-A", "config", "beat", "--loglevel=INFO"],
    }  # fmt: skip

    def start(self, role: str) -> None:
        extra = []
        if role == "beat":
            extra = [f"--schedule={self.work / 'var' / 'celerybeat-schedule'}"]
        command = [str(Path(sys.executable).parent / self.COMMANDS[role][0]),
                   *self.COMMANDS[role][1:], *extra]  # fmt: skip
        self.procs[role] = subprocess.Popen(
            command, cwd=self.root, env=self.env, start_new_session=True,
            stdout=(self.logs / f"{role}.log").open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip

    def start_all(self) -> None:
        for role in ("web", "worker", "beat"):
            self.start(role)
        threading.Thread(target=self._supervise, daemon=True, name="supervisor").start()

    def _supervise(self) -> None:
        """Restart any service that exits, RESTART_S later, as systemd's Restart= does; exits
        nobody asked for are recorded in `crashes` (time, role, exit code, last log line)."""
        while not self.stopping.wait(0.5):
            for role, proc in list(self.procs.items()):
                if proc.poll() is None:
                    continue
                if role in self.killed:
                    self.killed.discard(role)
                else:
                    last = (self.logs / f"{role}.log").read_text(errors="replace")
                    last = [line for line in last.splitlines() if "CRITICAL" in line or
                            "Unrecoverable" in line][-1:]  # fmt: skip
                    self.crashes.append((time.time(), role, proc.returncode, "".join(last)))
                if self.stopping.wait(self.RESTART_S):
                    return
                self.start(role)

    def pid(self, role: str) -> int | None:
        proc = self.procs.get(role)
        return proc.pid if proc and proc.poll() is None else None

    def kill_worker(self) -> None:
        """SIGKILL the worker and its pool (systemd kills the whole cgroup); the supervisor
        starts it again RESTART_S later. Returns once the new worker process runs."""
        proc = self.procs["worker"]
        self.killed.add("worker")
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:  # it had crashed on its own: the supervisor restarts it
            self.killed.discard("worker")
        deadline = time.monotonic() + 60
        while self.procs["worker"] is proc and time.monotonic() < deadline:
            time.sleep(0.1)

    def kill_web_workers(self, count: int | None) -> None:
        """SIGKILL `count` gunicorn workers (None: all); the master starts new ones."""
        workers = psutil.Process(self.procs["web"].pid).children()
        for child in workers if count is None else random.sample(workers, count):
            child.send_signal(signal.SIGKILL)

    def stop(self) -> None:
        self.stopping.set()
        time.sleep(0.6)  # the supervisor notices and restarts nothing
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            try:  # pool processes a killed parent left behind
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
