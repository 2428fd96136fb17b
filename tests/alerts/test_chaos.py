"""Acceptance B: worker killed mid-send, Redis restarted, two evaluations at once → once each."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time

import pytest

from apps.alerts.models import Channel, Notification, Route
from apps.anomalies.models import Finding, FindingEvent
from tests.alerts.receivers import free_port
from tests.conftest import REPO_ROOT
from tests.factories import enroll
from tests.test_worker_integration import subprocess_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
MACHINES = 8
EVALUATE = """
import django, sys; django.setup()
from datetime import datetime, timezone
from apps.anomalies.detectors.base import Detection
from apps.anomalies.lifecycle import open_finding
from apps.fleet.models import Machine
for m in Machine.objects.order_by("id"):
    now = datetime.now(timezone.utc)
    det = Detection("gopls_memory_leak", True, "warning", evidence={"slope_mb_per_hour": 99})
    open_finding(m.pk, det, "gopls memory grows on " + m.machine_id, {}, now)
"""
RECONCILE = (
    "import django; django.setup(); "
    "from apps.alerts.tasks import reconcile_outbox_task; reconcile_outbox_task()"
)


def start_redis(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    return proc


def start_worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo",
         "--loglevel=ERROR", "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def run(code: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, env=env)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_every_event_is_delivered_exactly_once_per_key_through_kills_and_restarts(
    tmp_path, receiver
):
    port = free_port()
    redis = start_redis(port)
    env = {
        **subprocess_env(tmp_path),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "ALERTS_GROUP_WAIT_S": "0",
        "ALERTS_STORM_WINDOW_S": "0",
        "ALERTS_RATE_PER_MINUTE": "1000",
        "ALERTS_SENDING_TIMEOUT_S": "10",
        "ALERTS_ALLOW_PRIVATE_TARGETS": "true",  # the receiver listens on loopback
    }
    for i in range(MACHINES):
        machine, _ = enroll("Platform", hostname=f"chaos-{i}")
    channel = Channel.objects.create(
        team=machine.team, kind="webhook", target=receiver.url + "/hook", secret="k"
    )
    Route.objects.create(team=machine.team, min_severity="info").channels.add(channel)
    receiver.delay = 0.4
    worker = start_worker(env)
    try:
        evaluations = [run(EVALUATE, env), run(EVALUATE, env)]  # two at once, same detections
        assert [p.wait(timeout=60) for p in evaluations] == [0, 0]
        deadline = time.monotonic() + 30
        while len(receiver.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        worker.send_signal(signal.SIGKILL)  # mid-delivery: the receiver is still answering
        worker.wait(timeout=10)
        redis.kill()  # everything queued in the broker is lost
        redis.wait(timeout=10)
        redis = start_redis(port)
        worker = start_worker(env)
        receiver.delay = 0.0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not Notification.objects.exclude(status="sent").exists():
                break
            run(RECONCILE, env).wait(timeout=60)
            time.sleep(2)
    finally:
        worker.kill()
        worker.wait(timeout=10)
        redis.kill()
        redis.wait(timeout=10)

    assert Finding.objects.count() == MACHINES
    assert FindingEvent.objects.filter(kind="opened").count() == MACHINES
    rows = Notification.objects.filter(channel=channel)
    assert rows.count() == MACHINES
    assert set(rows.values_list("status", flat=True)) == {"sent"}
    expected = {str(k) for k in rows.values_list("key", flat=True)}
    assert receiver.distinct_keys("/hook") == expected
    # At least once on the wire; a duplicate is only ever a resend of the same key.
    assert len(receiver.posts("/hook")) >= MACHINES
