"""The raw sample tables carry no database foreign keys (migration 0009): deleting a machine or
a gopls lifetime still deletes its samples, on both backends."""

from __future__ import annotations

import pytest

from apps.fleet.models import GoplsProcess
from apps.ingest.services import ingest_report
from apps.metrics.models import GoplsSample, SystemSample
from tests.factories import enroll, make_report

pytestmark = pytest.mark.django_db


def test_deleting_a_machine_deletes_its_raw_samples():
    machine, _ = enroll()
    other, _ = enroll(machine_id="other-machine")
    ingest_report(machine, make_report(3))
    ingest_report(other, make_report(2))
    assert GoplsSample.objects.filter(machine=machine).exists(), "the report has no gopls entry"
    machine.delete()
    assert not SystemSample.objects.filter(machine_id=machine.pk).exists()
    assert not GoplsSample.objects.filter(machine_id=machine.pk).exists()
    assert SystemSample.objects.filter(machine=other).count() == 2


def test_deleting_a_gopls_lifetime_deletes_its_raw_samples():
    machine, _ = enroll()
    ingest_report(machine, make_report(3))
    lifetime = GoplsProcess.objects.filter(machine=machine).first()
    assert lifetime is not None, "the report has no gopls entry"
    lifetime.delete()
    assert not GoplsSample.objects.filter(process_id=lifetime.pk).exists()
    assert SystemSample.objects.filter(machine=machine).count() == 3
