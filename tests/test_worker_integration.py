"""A real Celery worker consumes tasks from the configured broker (filesystem or Redis)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest
from django.db import connection

from apps.fleet.models import ServiceHeartbeat
from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def subprocess_env(tmp_path) -> dict:
    """Environment pointing a child process at this test's database and a private queue."""
    env = {**os.environ, "DEVFLEET_VAR_DIR": str(tmp_path), "CELERY_QUEUE": f"t-{uuid.uuid4().hex}"}
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        env["SQLITE_PATH"] = db["NAME"]
        env.pop("DATABASE_URL", None)
    else:
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or 'localhost'}"
            f":{db['PORT'] or 5432}/{db['NAME']}"
        )
    return env


def test_a_real_worker_runs_a_task_sent_through_the_broker(tmp_path):
    env = subprocess_env(tmp_path)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import django; django.setup(); "
                "from apps.fleet.tasks import record_heartbeat_task; record_heartbeat_task.delay()",
            ],
            cwd=REPO_ROOT,
            env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
            check=True,
            timeout=60,
        )
        deadline = time.monotonic() + 60
        while (
            time.monotonic() < deadline
            and not ServiceHeartbeat.objects.filter(name="worker").exists()
        ):
            assert worker.poll() is None, worker.stderr.read().decode()
            time.sleep(0.5)
        assert ServiceHeartbeat.objects.filter(name="worker").exists()
    finally:
        worker.terminate()
        worker.wait(timeout=30)
