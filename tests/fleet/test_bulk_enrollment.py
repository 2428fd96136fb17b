"""Enrolling a fleet in bulk (provisioning, benchmarks) gives working credentials."""

from __future__ import annotations

import pytest

from apps.fleet.services import EnrollmentError, create_enrollment_token, enroll_machines_in_bulk
from tests.factories import make_report
from tests.ingest.test_contract import post_report

pytestmark = pytest.mark.django_db


def test_a_fleet_enrolls_in_bulk_and_each_credential_uploads(client):
    _, token = create_enrollment_token("Bulk")
    identities = [{"machine_id": f"bulk-machine-{i:04d}", "os": "linux"} for i in range(3)]
    enrollments = enroll_machines_in_bulk(token, identities)
    assert [e.machine.machine_id for e in enrollments] == [i["machine_id"] for i in identities]
    for enrollment in enrollments:
        assert post_report(client, enrollment.credential, make_report(1)).status_code == 200


def test_bulk_enrollment_refuses_known_machine_ids_and_bad_tokens():
    _, token = create_enrollment_token("Bulk")
    enroll_machines_in_bulk(token, [{"machine_id": "bulk-machine-0001"}])
    with pytest.raises(EnrollmentError) as known:
        enroll_machines_in_bulk(token, [{"machine_id": "bulk-machine-0001"}])
    assert known.value.status == 400
    with pytest.raises(EnrollmentError) as bad:
        enroll_machines_in_bulk("dfe_nope", [{"machine_id": "bulk-machine-0002"}])
    assert bad.value.status == 401
