"""The quick start as a new user meets it: what it prints, and README commands that run."""

from __future__ import annotations

import logging
import os
import re
import subprocess

import pytest
from django.conf import settings
from django.core.management import call_command

from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


@pytest.mark.django_db
def test_setup_demo_names_the_dashboard_before_the_admin_and_the_api(capsys):
    call_command("setup_demo")
    out = capsys.readouterr().out
    base = settings.DEVFLEET_BASE_URL
    dashboard, admin, api = out.index(f"{base}/ "), out.index("/admin/"), out.index("/api/v1/")
    assert dashboard < admin < api
    assert f"{base}/me/" in out


def test_the_readme_names_the_dashboard_first_under_open():
    opened = README.split("Open:\n", 1)[1].lstrip("\n").split("\n\n", 1)[0]
    first = opened.splitlines()[0]
    assert first.startswith("- <http://127.0.0.1:8000/> — the dashboard")


def test_readme_commands_need_no_activated_virtualenv():
    # `python manage.py …` outside the venv fails with "No module named django".
    for line in README.splitlines():
        if "docker compose" in line:
            continue  # inside the container, python is the image's
        assert not re.search(r"(^|[`\s])python (manage\.py|bench/)", line), line
    for script in set(re.findall(r"(?:\./)?(scripts/[\w.-]+\.sh)", README)):
        path = REPO_ROOT / script
        assert path.is_file(), script
        assert os.access(path, os.X_OK), script


def test_the_enroll_example_names_an_owner_and_says_where_to_confirm_it():
    enroll = next(line for line in README.splitlines() if "devfleet-agent enroll" in line)
    assert "--owner" in enroll
    assert "/me/" in README.split("## Enrolling real machines", 1)[1].split("\n## ", 1)[0]


def test_manage_sh_runs_manage_py_from_any_directory(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = "/usr/bin:/bin"  # no virtualenv on PATH, as in a fresh terminal
    env["DEVFLEET_VAR_DIR"] = str(tmp_path / "var")
    result = subprocess.run(
        [str(REPO_ROOT / "scripts" / "manage.sh"), "help", "create_enrollment_token"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--team" in result.stdout


def test_queueing_on_the_filesystem_broker_warns_about_no_hostname(caplog):
    if not settings.CELERY_BROKER_URL.startswith("filesystem:"):
        pytest.skip("runs with the embedded filesystem broker")
    from kombu import Connection

    caplog.set_level(logging.WARNING, logger="kombu")
    connection = Connection(
        settings.CELERY_BROKER_URL, transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS
    )
    try:
        connection.as_uri()
        connection.info()
    finally:
        connection.release()
    assert not [r for r in caplog.records if "hostname" in r.getMessage()]


def test_run_sh_keeps_server_messages_out_of_the_terminal():
    run = (REPO_ROOT / "scripts" / "run.sh").read_text()
    gunicorn = run.split("gunicorn config.wsgi:application", 1)[1].split("&\n", 1)[0]
    assert '>>"$LOG_DIR/web.log" 2>&1' in gunicorn
    assert "curl -fsS" not in run  # -S printed "Couldn't connect" while gunicorn started
