"""Uploads from a hostile or broken agent: samples from the future, a sent_at that disagrees
with the samples, and heap profiles nobody asked for (POST /api/v1/reports over HTTP)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from apps.fleet.models import Machine
from apps.metrics.models import HeapProfile, SystemSample
from tests.factories import enroll, iso, make_report
from tests.ingest.test_contract import post_report

pytestmark = pytest.mark.django_db


def test_a_sample_more_than_ten_minutes_in_the_future_is_refused_and_counted(client, enrolled):
    machine, credential = enrolled
    now = datetime.now(timezone.utc)
    report = make_report(2, start=now - timedelta(seconds=30), step_s=15)
    report["samples"][1]["collected_at"] = iso(now + timedelta(minutes=11))

    response = post_report(client, credential, report)

    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    assert response.json()["rejected"] == 1
    assert response.json()["duplicates"] == 0
    assert SystemSample.objects.count() == 1
    assert SystemSample.objects.get().ts < now + timedelta(minutes=1)
    machine.refresh_from_db()
    assert machine.last_sample_at < now + timedelta(minutes=1)


def test_one_bad_clock_cannot_freeze_the_machines_latest_state(client, enrolled):
    machine, credential = enrolled
    now = datetime.now(timezone.utc)
    future = make_report(1, start=now + timedelta(days=365))
    future["sent_at"] = iso(now)  # the sample's clock is wrong, the upload's is right
    assert post_report(client, credential, future).json()["rejected"] == 1
    fresh = make_report(1, start=now - timedelta(seconds=5))
    assert post_report(client, credential, fresh).json()["accepted"] == 1
    machine.refresh_from_db()
    assert machine.latest["ts"].startswith(fresh["samples"][0]["collected_at"][:16])


def test_a_sample_nine_minutes_ahead_is_kept(client, enrolled):
    _, credential = enrolled
    now = datetime.now(timezone.utc)
    report = make_report(1, start=now + timedelta(minutes=9), sent_at=now)
    response = post_report(client, credential, report).json()
    assert response["accepted"] == 1
    assert response["rejected"] == 0


@pytest.mark.parametrize(
    "sent_at",
    [datetime(1970, 1, 1, tzinfo=timezone.utc), datetime(2999, 1, 1, tzinfo=timezone.utc)],
    ids=["sent-in-1970", "sent-in-2999"],
)
def test_a_sent_at_far_from_the_server_clock_never_shifts_samples_into_another_century(
    client, enrolled, sent_at
):
    machine, credential = enrolled
    now = datetime.now(timezone.utc)
    report = make_report(3, start=now - timedelta(minutes=1), sent_at=sent_at)

    response = post_report(client, credential, report)

    assert response.status_code == 200
    body = response.json()
    assert body["rejected"] == 3
    assert body["accepted"] == 0
    assert abs(body["clock_skew_s"]) > 1e9  # reported as skew
    assert not SystemSample.objects.exists()
    machine.refresh_from_db()
    assert machine.last_sample_at is None
    assert abs(machine.clock_skew_s) > 1e9


def test_a_consistently_skewed_clock_is_still_corrected_not_refused(client, enrolled):
    _, credential = enrolled
    agent_clock = datetime(1970, 1, 1, 0, 10, tzinfo=timezone.utc)  # dead RTC battery
    report = make_report(3, start=agent_clock - timedelta(minutes=1), sent_at=agent_clock)
    body = post_report(client, credential, report).json()
    assert body["accepted"] == 3
    assert body["rejected"] == 0
    now = datetime.now(timezone.utc)
    assert all(abs((s.ts - now).total_seconds()) < 300 for s in SystemSample.objects.all())


def test_samples_older_than_the_spool_could_hold_are_refused(client, enrolled, settings):
    settings.INGEST_MAX_SAMPLE_AGE_DAYS = 30
    _, credential = enrolled
    now = datetime.now(timezone.utc)
    report = make_report(1, start=now - timedelta(days=31), sent_at=now)
    assert post_report(client, credential, report).json()["rejected"] == 1
    assert not SystemSample.objects.exists()


def profile(request_id: str) -> dict:
    return {
        "request_id": request_id,
        "pid": 4242,
        "start_time": "2026-11-23T09:00:00Z",
        "kind": "heap",
        "captured_at": iso(datetime.now(timezone.utc)),
        "text": "heap profile: 1: 2 [3: 4] @ heap/1048576\n",
        "truncated": False,
    }


def ask_for_profile(machine: Machine, request_id: str) -> None:
    machine.pending_instructions = {
        "capture_profiles": [
            {
                "request_id": request_id,
                "pid": 4242,
                "start_time": "2026-11-23T09:00:00Z",
                "kinds": ["heap"],
            }
        ]
    }
    machine.save(update_fields=["pending_instructions"])


def test_a_heap_profile_nobody_asked_for_is_not_stored(client, enrolled):
    _, credential = enrolled
    report = make_report(1)
    report["profiles"] = [profile("never-issued-0001")]
    response = post_report(client, credential, report)
    assert response.status_code == 200
    assert not HeapProfile.objects.exists()


def test_a_heap_profile_for_another_machines_request_is_not_stored(client, enrolled):
    _, credential = enrolled
    other, _ = enroll("Search")
    ask_for_profile(other, "for-the-other-machine")
    report = make_report(1)
    report["profiles"] = [profile("for-the-other-machine")]
    assert post_report(client, credential, report).status_code == 200
    assert not HeapProfile.objects.exists()
    other.refresh_from_db()
    assert other.pending_instructions["capture_profiles"]  # still waiting for its own


def test_the_profile_the_server_asked_for_is_stored_once_even_when_resent(client, enrolled):
    machine, credential = enrolled
    ask_for_profile(machine, "issued-0001")
    report = make_report(1)
    report["profiles"] = [profile("issued-0001"), profile("not-issued-0002")]
    assert post_report(client, credential, report).status_code == 200
    assert list(HeapProfile.objects.values_list("request_id", flat=True)) == ["issued-0001"]
    machine.refresh_from_db()
    assert machine.pending_instructions["capture_profiles"] == []
    resend = make_report(1)
    resend["profiles"] = [profile("issued-0001")]  # the response was lost; the agent resends
    assert post_report(client, credential, resend).status_code == 200
    assert HeapProfile.objects.count() == 1
