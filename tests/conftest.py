"""Shared fixtures: a cast of users, a team, an enrolled machine and the example report."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

# Property tests: a quick profile by default (CI), a thorough one on demand:
# HYPOTHESIS_PROFILE=thorough pytest tests/agent tests/ingest ... (see README, Development).
hypothesis_settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.register_profile(
    "thorough",
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
EXAMPLE_REPORT = REPO_ROOT / "docs" / "examples" / "report-v1.json"


@pytest.fixture(autouse=True)
def _fast_and_eager(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from config.celery import app

    app.conf.task_always_eager = True
    from apps.fleet.recording import forget_lifetimes

    forget_lifetimes()


@pytest.fixture
def example_report() -> dict:
    return copy.deepcopy(json.loads(EXAMPLE_REPORT.read_text()))


@pytest.fixture
def team(db):
    from apps.fleet.models import Team

    return Team.objects.create(name="Platform")


@pytest.fixture
def enrolled(db):
    """(machine, credential) enrolled through the real service."""
    from tests.factories import enroll

    return enroll()


@pytest.fixture
def alice(db, django_user_model):
    """Platform staff: sees everything."""
    return django_user_model.objects.create_user("alice", "alice@example.com", "pw", is_staff=True)


@pytest.fixture
def bob(db, django_user_model):
    """A developer."""
    return django_user_model.objects.create_user("bob", "bob@example.com", "pw")


@pytest.fixture
def carol(db, django_user_model):
    """Another developer, owning nothing of bob's."""
    return django_user_model.objects.create_user("carol", "carol@example.com", "pw")
