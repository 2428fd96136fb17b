"""Fixtures: a real SMTP server, a real HTTP receiver, and a team with channels and a route."""

from __future__ import annotations

import logging

import pytest

from tests.alerts.receivers import HttpReceiver, SmtpReceiver


@pytest.fixture
def receiver():
    server = HttpReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def smtp(settings):
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    server = SmtpReceiver().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _alert_settings(settings):
    settings.ALERTS_GROUP_WAIT_S = 0
    settings.ALERTS_HTTP_TIMEOUT_S = 3.0
    # The receivers listen on loopback, which alert requests refuse unless allowed.
    settings.ALERTS_ALLOW_PRIVATE_TARGETS = True
    settings.DEVFLEET_BASE_URL = "https://devfleet.example.com"
    settings.INGEST_RATE_PER_MINUTE = 1e6
    settings.INGEST_BURST = 1e6


@pytest.fixture
def wired(db, smtp, receiver):
    """Team Platform with email, Slack, Teams and webhook channels on one catch-all route."""
    from apps.alerts.models import Channel, Route
    from apps.fleet.models import Team

    team, _ = Team.objects.get_or_create(name="Platform")
    channels = {
        "email": Channel.objects.create(team=team, kind="email", target="oncall@example.com"),
        "slack": Channel.objects.create(team=team, kind="slack", target=receiver.url + "/slack"),
        "teams": Channel.objects.create(team=team, kind="teams", target=receiver.url + "/teams"),
        "webhook": Channel.objects.create(
            team=team, kind="webhook", target=receiver.url + "/hook", secret="s3cret"
        ),
    }
    route = Route.objects.create(team=team, min_severity="info")
    route.channels.set(channels.values())
    return team, channels
