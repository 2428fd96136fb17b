"""The deploy kit agrees with the settings: compose, .env.example, units, nginx, gunicorn."""

from __future__ import annotations

import re
import runpy
import shutil
import subprocess

import pytest
import yaml
from django.conf import settings

from tests.conftest import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
ENV_READER = re.compile(r"\benv_(?:str|int|bool|float|list)\(\s*\"([A-Z][A-Z0-9_]*)\"")
GUNICORN_READER = re.compile(r"(?:os\.environ\.get|_int)\(\s*\"(GUNICORN_[A-Z0-9_]*)\"")


def documented_variables() -> set[str]:
    text = (DEPLOY / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, re.M))


def variables_read_by_settings() -> set[str]:
    names = set()
    for module in (REPO_ROOT / "config").glob("*.py"):
        if module.name != "env.py":
            names |= set(ENV_READER.findall(module.read_text()))
    from config import settings as settings_module

    names |= {var for _name, _task, var, _cron, _exp in settings_module._BEAT_TABLE}
    return names


def test_env_example_documents_every_variable_the_settings_read():
    read = variables_read_by_settings()
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CRON_HEARTBEAT"} <= read
    missing = read - documented_variables()
    assert not missing, f"deploy/.env.example does not document {sorted(missing)}"


def test_env_example_documents_every_gunicorn_variable():
    read = set(GUNICORN_READER.findall((DEPLOY / "gunicorn.conf.py").read_text()))
    assert "GUNICORN_WORKERS" in read
    assert not read - documented_variables()


def test_env_example_documents_no_variable_that_nothing_reads():
    known = variables_read_by_settings() | set(
        GUNICORN_READER.findall((DEPLOY / "gunicorn.conf.py").read_text())
    )
    extra = documented_variables() - known - {"POSTGRES_PASSWORD", "WORKER_CONCURRENCY"}
    assert not extra, f"documented but never read: {sorted(extra)}"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def test_compose_runs_web_worker_beat_postgres_and_redis(compose):
    services = compose["services"]
    assert {"web", "worker", "beat", "postgres", "redis"} <= set(services)
    assert services["postgres"]["image"] == "postgres:15"
    assert services["redis"]["image"] == "redis:7"
    assert services["web"]["command"] == ["gunicorn", "-c", "deploy/gunicorn.conf.py"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "config", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "config", "beat"]
    assert services["beat"]["deploy"]["replicas"] == 1


def test_compose_app_services_share_one_image_env_file_and_backing_services(compose):
    for name in ("web", "worker", "beat", "migrate"):
        service = compose["services"][name]
        assert service["build"]["dockerfile"] == "deploy/Dockerfile", name
        assert service["env_file"] == ".env", name
        assert service["environment"]["DATABASE_URL"].startswith("postgres://"), name
        assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0", name
        assert "devfleet-var:/var/lib/devfleet" in service["volumes"], name
    assert compose["services"]["migrate"]["command"][-2:] == ["migrate", "--noinput"]
    for name in ("web", "worker", "beat"):
        depends = compose["services"][name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name


def test_compose_has_healthchecks_and_volumes(compose):
    for name in ("web", "worker", "postgres", "redis"):
        assert compose["services"][name]["healthcheck"]["test"], name
    assert {"devfleet-var", "postgres-data", "redis-data"} <= set(compose["volumes"])


def test_dockerfile_runs_gunicorn_as_a_non_root_user_with_collected_static_files():
    text = (DEPLOY / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text
    assert "pip install -r requirements.txt" in text
    assert "collectstatic" in text
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users == ["devfleet"]
    assert 'CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py"]' in text


def test_gunicorn_config_reads_its_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("GUNICORN_WORKERS", "3")
    monkeypatch.setenv("GUNICORN_THREADS", "1")
    conf = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    assert conf["workers"] == 3
    assert conf["worker_class"] == "sync"
    monkeypatch.setenv("GUNICORN_THREADS", "4")
    conf = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    assert conf["worker_class"] == "gthread"
    assert conf["wsgi_app"] == "config.wsgi:application"
    assert conf["max_requests"] > 0
    assert conf["max_requests_jitter"] > 0
    assert conf["forwarded_allow_ips"] == "127.0.0.1,::1"


def test_nginx_caps_bodies_like_the_ingest_view_and_passes_gzip_through():
    text = (DEPLOY / "nginx" / "devfleet.conf").read_text()
    size = re.search(r"client_max_body_size (\d+)m;", text)
    assert size
    assert int(size.group(1)) * 1024 * 1024 == settings.INGEST_MAX_BODY_BYTES
    assert re.search(r"^\s*gzip off;", text, re.M)
    assert "X-Forwarded-Proto $scheme" in text
    assert "location /static/" in text
    assert "ssl_certificate " in text


def test_one_beat_and_a_worker_template_for_scaling():
    units = {p.name: p.read_text() for p in (DEPLOY / "systemd").glob("*.service")}
    assert set(units) == {
        "devfleet-web.service",
        "devfleet-worker@.service",
        "devfleet-beat.service",
    }
    assert "EXACTLY ONE" in units["devfleet-beat.service"]
    assert "--hostname=worker%i@%H" in units["devfleet-worker@.service"]
    for text in units.values():
        assert "EnvironmentFile=/etc/devfleet/devfleet.env" in text
        assert "User=devfleet" in text


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_units_pass_systemd_analyze():
    units = sorted(str(p) for p in (DEPLOY / "systemd").glob("*.service"))
    result = subprocess.run(
        ["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "is not executable" not in line  # /opt/devfleet is not here
    ]
    assert not problems, problems


@pytest.mark.skipif(
    not (shutil.which("nginx") and shutil.which("openssl")), reason="nginx or openssl missing"
)
def test_nginx_example_passes_nginx_t(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    openssl = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subprocess.run(
        [*openssl, "-subj", "/CN=devfleet.example.com", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    site = (DEPLOY / "nginx" / "devfleet.conf").read_text()
    site = site.replace("/etc/letsencrypt/live/devfleet.example.com/fullchain.pem", str(cert))
    site = site.replace("/etc/letsencrypt/live/devfleet.example.com/privkey.pem", str(key))
    site = site.replace("/var/log/nginx/", f"{tmp_path}/")
    (tmp_path / "devfleet.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  include {tmp_path}/devfleet.conf;\n}}\n"
    )
    result = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


def test_ci_runs_the_production_stack_smoke_test():
    script = DEPLOY / "run-production-stack.sh"
    assert script.stat().st_mode & 0o111
    assert subprocess.run(["bash", "-n", str(script)], timeout=30).returncode == 0
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "bash deploy/run-production-stack.sh" in ci
    assert "deploy/smoke_test.py" in script.read_text()
