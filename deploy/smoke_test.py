"""Smoke test of a running production stack (deploy/run-production-stack.sh starts one).

Run with the stack's environment (DATABASE_URL, REDIS_URL, SECRET_KEY, …) and SMOKE_BASE_URL;
SMOKE_BEAT_PID and SMOKE_BEAT_LOG let it check beat. Exits 1 with a message on the first failure.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "report-v1.json"
BASE = os.environ.get("SMOKE_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# How long services may take to come up or answer (a loaded CI machine is slow to start them).
WAIT_S = float(os.environ.get("SMOKE_WAIT_S", "60"))


class SmokeFailure(Exception):
    pass


def say(line: str, stream=sys.stdout) -> None:
    stream.write(line + "\n")
    stream.flush()


def step(name: str):
    def wrap(fn):
        def run(*args, **kwargs):
            started = time.monotonic()
            try:
                result = fn(*args, **kwargs)
            except SmokeFailure as exc:
                raise SmokeFailure(f"{name}: {exc}") from None
            say(f"  ok  {name} ({time.monotonic() - started:.1f} s)")
            return result

        return run

    return wrap


def http(method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """(status, headers, body); never raises for HTTP error statuses."""
    request = urllib.request.Request(BASE + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


@step("web answers")
def check_web() -> None:
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            status, headers, body = http("GET", "/api/v1/openapi.json")
            if status == 200:
                break
        except OSError as exc:
            status = f"{exc}"
        expect(
            time.monotonic() < deadline, f"no answer from {BASE} within {WAIT_S:.0f} s ({status})"
        )
        time.sleep(0.3)
    expect(json.loads(body).get("openapi", "").startswith("3."), "openapi.json is not OpenAPI 3")
    expect("Content-Security-Policy" in headers, "no Content-Security-Policy header")
    for page in ("/admin/login/", "/login/"):
        status, headers, _ = http("GET", page)
        expect(status == 200, f"{page} answered {status}")
        expect("Content-Security-Policy" in headers, f"{page} has no Content-Security-Policy")


@step("static files are served")
def check_static() -> None:
    status, headers, body = http("GET", "/static/admin/css/base.css")
    expect(status == 200, f"/static/admin/css/base.css answered {status}")
    expect(headers.get("Content-Type", "").startswith("text/css"), "static CSS has a wrong type")
    expect(len(body) > 1000, "static CSS is empty")
    # The dashboard's charts: plotly.js comes from the server itself (the CSP allows no CDN).
    status, headers, body = http("GET", "/static/dashboard/vendor/plotly.min.js")
    expect(status == 200, f"/static/dashboard/vendor/plotly.min.js answered {status}")
    expect(b"plotly" in body[:2000].lower(), "plotly.min.js does not look like plotly.js")


def manage(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0:
        raise SmokeFailure(f"manage.py {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return result.stdout


@step("create_enrollment_token → POST /api/v1/enroll")
def enroll(machine_id: str) -> str:
    token = manage("create_enrollment_token", "--team", "Smoke").strip().splitlines()[-1]
    expect(token.startswith("dfe_"), f"unexpected enrollment token {token[:8]!r}")
    identity = {"token": token, "machine_id": machine_id, "hostname": "smoke-host", "os": "linux"}
    status, _, body = http(
        "POST",
        "/api/v1/enroll",
        json.dumps(identity).encode(),
        {"Content-Type": "application/json"},
    )
    expect(status == 201, f"enroll answered {status}: {body[:300]!r}")
    credential = json.loads(body)["credential"]
    expect(credential.startswith("dfm_"), "enroll returned no machine credential")
    return credential


@step("POST /api/v1/reports (gzip)")
def upload(credential: str) -> None:
    report = json.loads(EXAMPLE.read_text())
    template = report["samples"][0]
    now = datetime.now(timezone.utc)
    samples = []
    for i in range(4):
        sample = copy.deepcopy(template)
        sample["id"] = str(uuid.uuid4())
        sample["collected_at"] = iso(now - timedelta(seconds=15 * (4 - i)))
        samples.append(sample)
    report["samples"] = samples
    report["sent_at"] = iso(now)
    headers = {
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        "Authorization": f"Bearer {credential}",
    }
    status, _, body = http(
        "POST", "/api/v1/reports", gzip.compress(json.dumps(report).encode()), headers
    )
    expect(status in (200, 202), f"upload answered {status}: {body[:500]!r}")
    result = json.loads(body)
    expect(result.get("accepted") == 4, f"expected 4 accepted samples, got {result}")


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


@step("the read API sees the machine (personal API token of a staff user)")
def read_api(machine_id: str) -> None:
    from django.contrib.auth import get_user_model

    from apps.fleet.services import create_api_token

    user, _ = get_user_model().objects.get_or_create(
        username="smoke-staff", defaults={"is_staff": True}
    )
    _, secret = create_api_token(user, "smoke test")
    headers = {"Authorization": f"Bearer {secret}", "Accept": "application/json"}
    status, _, body = http("GET", "/api/v1/machines/", headers=headers)
    expect(status == 200, f"machine list answered {status}: {body[:300]!r}")
    ids = [m.get("machine_id") for m in json.loads(body).get("results", [])]
    expect(machine_id in ids, f"machine {machine_id} not in the list {ids}")
    status, _, body = http("GET", f"/api/v1/machines/{machine_id}/", headers=headers)
    expect(status == 200, f"machine detail answered {status}: {body[:300]!r}")
    status, _, _ = http("GET", "/api/v1/machines/")
    expect(status == 401, f"the read API without credentials answered {status}")


@step("a worker consumed a task sent through Redis")
def worker_round_trip() -> None:
    from django.conf import settings
    from django.utils import timezone as dj_tz

    from apps.fleet.models import ServiceHeartbeat
    from config.celery import app

    expect(settings.CELERY_BROKER_URL.startswith("redis://"), "the broker is not Redis")
    expect(not settings.CELERY_TASK_ALWAYS_EAGER, "Celery runs eagerly")
    sent = dj_tz.now()
    app.send_task("apps.fleet.tasks.record_heartbeat_task")
    deadline = time.monotonic() + WAIT_S
    while not ServiceHeartbeat.objects.filter(name="worker", beat_at__gte=sent).exists():
        expect(
            time.monotonic() < deadline, f"no ServiceHeartbeat from the worker in {WAIT_S:.0f} s"
        )
        time.sleep(0.3)


@step("beat is alive")
def check_beat() -> None:
    pid = int(os.environ.get("SMOKE_BEAT_PID", "0"))
    log_path = Path(os.environ.get("SMOKE_BEAT_LOG", ""))
    expect(pid > 0, "SMOKE_BEAT_PID is not set")
    try:
        os.kill(pid, 0)
    except OSError:
        raise SmokeFailure(f"beat (pid {pid}) is not running") from None
    from django.conf import settings

    deadline = time.monotonic() + WAIT_S
    while True:
        log = log_path.read_text(errors="replace") if log_path.is_file() else ""
        schedule = list(
            Path(settings.CELERY_BEAT_SCHEDULE_FILENAME).parent.glob("celerybeat-schedule*")
        )
        if "beat: Starting" in log and schedule:
            return
        expect(
            time.monotonic() < deadline,
            f"beat did not start within {WAIT_S:.0f} s; log:\n{log[-1500:]}",
        )
        time.sleep(0.3)


def main() -> int:
    started = time.monotonic()
    say(f"Smoke test of {BASE}")
    machine_id = f"smoke-{uuid.uuid4().hex[:12]}"
    try:
        check_web()
        check_static()
        credential = enroll(machine_id)
        upload(credential)
        django_setup()
        read_api(machine_id)
        worker_round_trip()
        check_beat()
    except SmokeFailure as exc:
        say(f"SMOKE TEST FAILED: {exc}", sys.stderr)
        return 1
    say(f"Smoke test passed in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
