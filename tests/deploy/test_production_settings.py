"""Production settings: check --deploy is clean, the dev key is refused, TLS hardening is on."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


def production_env(**overrides: str) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "SECRET_KEY", "DEVFLEET_", "DEBUG", "ALLOWED_HOSTS"))
    }
    env.update(
        DEVFLEET_SECURE="true",
        SECRET_KEY=secrets.token_urlsafe(50),
        DEBUG="false",
        ALLOWED_HOSTS="devfleet.example.com",
        CSRF_TRUSTED_ORIGINS="https://devfleet.example.com",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def settings_under(env: dict, *names: str) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps({{n: getattr(s, n) for n in {list(names)!r}}}))"
    )
    result = run(["-c", code], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_check_deploy_is_clean_under_production_settings():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_complains_without_production_settings():
    env = production_env(DEVFLEET_SECURE="false")
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode != 0
    assert "security.W004" in result.stderr + result.stdout  # no HSTS


@pytest.mark.parametrize(
    "overrides",
    [
        {"SECRET_KEY": ""},
        {"SECRET_KEY": "", "DEVFLEET_INSECURE_DEV_KEY": "true"},
        {"SECRET_KEY": "", "DEVFLEET_SECURE": "false", "DEVFLEET_INSECURE_DEV_KEY": "false"},
    ],
)
def test_production_refuses_to_start_without_a_secret_key(overrides):
    result = run(["manage.py", "check"], production_env(**overrides))
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "must be set in production" in result.stderr


def test_the_secret_key_can_come_from_a_file(tmp_path):
    key_file = tmp_path / "secret_key"
    key = secrets.token_urlsafe(50)
    key_file.write_text(key + "\n")
    env = production_env(SECRET_KEY=None, SECRET_KEY_FILE=str(key_file))
    env.pop("SECRET_KEY", None)
    assert settings_under(env, "SECRET_KEY") == {"SECRET_KEY": key}


def test_the_quick_start_still_runs_without_a_secret_key():
    env = production_env(SECRET_KEY="", DEVFLEET_SECURE="false")
    result = run(["manage.py", "check"], env)
    assert result.returncode == 0, result.stderr


def test_secure_mode_turns_on_secure_cookies_hsts_and_ssl_redirect():
    got = settings_under(
        production_env(),
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_PROXY_SSL_HEADER",
        "SESSION_COOKIE_HTTPONLY",
        "X_FRAME_OPTIONS",
    )
    assert got == {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SESSION_COOKIE_HTTPONLY": True,
        "X_FRAME_OPTIONS": "DENY",
    }


def test_secure_mode_redirects_http_and_sends_hsts_over_https():
    code = (
        "import django; django.setup(); from django.test import Client; c = Client(); "
        "r = c.get('/api/v1/openapi.json', HTTP_HOST='devfleet.example.com'); "
        "print(r.status_code, r['Location']); "
        "r = c.get('/api/v1/openapi.json', HTTP_HOST='devfleet.example.com', "
        "HTTP_X_FORWARDED_PROTO='https'); "
        "print(r.status_code, r['Strict-Transport-Security'])"
    )
    result = run(["-c", code], production_env())
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.strip().splitlines()[-2:]
    assert first == "301 https://devfleet.example.com/api/v1/openapi.json"
    assert second == "200 max-age=31536000; includeSubDomains; preload"
