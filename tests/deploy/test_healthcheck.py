"""deploy/healthcheck.py reports a healthy web server under production settings."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import REPO_ROOT

spec = importlib.util.spec_from_file_location("healthcheck", REPO_ROOT / "deploy/healthcheck.py")
healthcheck = importlib.util.module_from_spec(spec)
spec.loader.exec_module(healthcheck)

pytestmark = pytest.mark.django_db


@pytest.fixture
def production_like(settings):
    settings.ALLOWED_HOSTS = ["devfleet.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    return {"ALLOWED_HOSTS": "devfleet.example.com,other.example.com"}


def test_it_is_healthy_behind_host_validation_and_the_https_redirect(live_server, production_like):
    ok, detail = healthcheck.check(live_server.url, production_like)
    assert ok, detail
    assert detail == "HTTP 200"


def test_it_is_unhealthy_when_the_host_is_not_allowed(live_server, production_like):
    ok, detail = healthcheck.check(live_server.url, {"ALLOWED_HOSTS": "wrong.example.com"})
    assert not ok
    assert detail == "HTTP 400"


def test_it_is_unhealthy_when_nothing_listens():
    ok, _ = healthcheck.check("http://127.0.0.1:9", {}, timeout=2)
    assert not ok


def test_wildcard_and_subdomain_hosts_give_a_usable_host_header():
    assert (
        healthcheck.request_for("http://x", {"ALLOWED_HOSTS": "*"}).headers["Host"] == "localhost"
    )
    request = healthcheck.request_for("http://x", {"ALLOWED_HOSTS": ".example.com"})
    assert request.headers["Host"] == "example.com"
