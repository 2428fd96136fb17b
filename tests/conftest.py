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
REAL_GOPLS = REPO_ROOT / "tests" / "fixtures" / "real-gopls"
EXAMPLE_REPORT = REPO_ROOT / "docs" / "examples" / "report-v1.json"


def real_capture(*parts: str) -> Path:
    """A file of the real gopls captures (tests/fixtures/real-gopls); fails, never skips, when
    it is missing, so a partial checkout cannot pass by testing less."""
    path = REAL_GOPLS.joinpath(*parts)
    if not path.exists():
        pytest.fail(
            f"{path} is missing: it is part of the repository (restore it with "
            "`git checkout -- tests/fixtures/real-gopls`); to capture it again see "
            "tests/fixtures/real-gopls/README.md",
            pytrace=False,
        )
    return path


def pytest_configure(config):
    _drop_abandoned_test_databases()


def _drop_abandoned_test_databases() -> None:
    """Each run on PostgreSQL gets its own test_devfleet_<pid> database; a run killed mid-way
    leaves its database behind. Drop those whose process is gone (this host's runs only: the
    name carries no host, so a database whose pid is alive here is always kept)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return
    import psycopg

    try:
        admin = url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            names = conn.execute(
                "SELECT datname FROM pg_database WHERE datname ~ '^test_devfleet_[0-9]+$'"
            ).fetchall()
            for (name,) in names:
                pid = int(name.rsplit("_", 1)[1])
                if pid != os.getpid() and not _alive(pid):
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.Error:
        pass  # best effort: the run itself reports a database it cannot reach


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    return True


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
