"""Content-Security-Policy on every page (admin included) and rate-limited logins."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.urls import reverse

from apps.common.ratelimit import login_rate_limited

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def directives(header: str) -> dict[str, list[str]]:
    parts = (d.split() for d in header.split(";") if d.strip())
    return {p[0]: p[1:] for p in parts}


def test_every_response_carries_a_policy_that_plotly_can_live_with(client):
    csp = directives(client.get("/api/v1/openapi.json")["Content-Security-Policy"])
    assert csp["script-src"] == ["'self'"]  # no inline scripts, no eval
    assert csp["style-src"] == ["'self'", "'unsafe-inline'"]  # Plotly's inline styles
    assert csp["img-src"] == ["'self'", "data:", "blob:"]  # Plotly's image export
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["form-action"] == ["'self'"]


def test_the_policy_can_be_report_only_or_off(client, settings):
    settings.CSP_REPORT_ONLY = True
    response = client.get("/api/v1/openapi.json")
    assert "Content-Security-Policy" not in response
    assert response["Content-Security-Policy-Report-Only"] == settings.CSP_POLICY
    settings.CSP_POLICY = ""
    response = client.get("/api/v1/openapi.json")
    assert "Content-Security-Policy-Report-Only" not in response


def test_admin_pages_have_no_inline_scripts(client, django_user_model, enrolled):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    pages = [reverse("admin:login")]
    client.force_login(root)
    pages += [
        reverse("admin:index"),
        reverse("admin:fleet_team_changelist"),
        reverse("admin:fleet_team_add"),
        reverse("admin:fleet_machine_change", args=[enrolled[0].pk]),
        reverse("admin:audit_auditevent_changelist"),
    ]
    for url in pages:
        if url == pages[0]:
            client.logout()
        response = client.get(url)
        if url == pages[0]:
            client.force_login(root)
        assert response.status_code == 200, url
        assert "Content-Security-Policy" in response
        html = response.content.decode()
        assert not INLINE_SCRIPT.search(html), (url, INLINE_SCRIPT.search(html).group(0))
        assert not re.search(r"\son[a-z]+=", html), url  # no inline event handlers


def login(client, username="alice", password="wrong", ip="192.0.2.1"):
    return client.post(
        reverse("admin:login"),
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=ip,
    )


def test_admin_login_gets_429_after_ten_failures_from_one_address(client, alice, settings):
    assert settings.LOGIN_RATE_LIMIT == 10
    assert settings.LOGIN_RATE_WINDOW_S == 300
    for _ in range(10):
        assert login(client).status_code == 200  # the form again, with an error
    blocked = login(client, password="pw")  # even the right password now waits
    assert blocked.status_code == 429
    assert 1 <= int(blocked["Retry-After"]) <= 300
    assert login(client, password="pw", ip="192.0.2.2").status_code == 302  # another address


def test_a_successful_login_clears_the_failures(client, alice, settings):
    settings.LOGIN_RATE_LIMIT = 3
    login(client)
    login(client)
    assert login(client, password="pw").status_code == 302
    client.logout()
    login(client)
    login(client)
    assert login(client, password="pw").status_code == 302


def test_one_address_trying_many_usernames_is_limited_too(client, settings):
    settings.LOGIN_RATE_LIMIT = 2
    statuses = [login(client, username=f"user{i}").status_code for i in range(11)]
    assert statuses[:10] == [200] * 10
    assert statuses[10] == 429


def test_the_window_ends(client, alice, settings, monkeypatch):
    settings.LOGIN_RATE_LIMIT = 1
    login(client)
    assert login(client, password="pw").status_code == 429
    import apps.common.ratelimit as ratelimit

    real_time = ratelimit.time.time
    monkeypatch.setattr(ratelimit.time, "time", lambda: real_time() + 301)
    assert login(client, password="pw").status_code == 302


def test_the_decorator_leaves_get_requests_alone(rf):
    calls = []

    def view(request):
        calls.append(request.method)
        from django.http import HttpResponse

        return HttpResponse("form")

    limited = login_rate_limited(view)
    for _ in range(20):
        assert limited(rf.get("/login/")).status_code == 200
    assert len(calls) == 20


def test_the_dashboard_login_is_rate_limited_too(client, alice, settings):
    settings.LOGIN_RATE_LIMIT = 2
    url = reverse("login")
    for _ in range(2):
        response = client.post(url, {"username": "alice", "password": "x"}, REMOTE_ADDR="192.0.2.9")
        assert response.status_code == 200
    response = client.post(url, {"username": "alice", "password": "pw"}, REMOTE_ADDR="192.0.2.9")
    assert response.status_code == 429
