"""PostgreSQL daily partitions of raw samples: created ahead, default catches the rest, dropped."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from django.db import connection

from apps.ingest.services import ingest_report
from apps.metrics.models import SystemSample
from apps.metrics.partitions import (
    PARTITIONED_TABLES,
    drop_partitions_before,
    ensure_partitions,
    existing_partitions,
    partition_name,
)
from apps.metrics.retention import prune
from tests.factories import make_report

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("partitions exist on PostgreSQL only (set DATABASE_URL)")


def rows_in(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        return cursor.fetchone()[0]


def test_a_far_away_sample_lands_in_default_and_moves_when_its_day_is_created(enrolled):
    machine, _ = enrolled
    day = date(2031, 5, 4)
    at = datetime(2031, 5, 4, 12, tzinfo=timezone.utc)
    ingest_report(machine, make_report(2, start=at, sent_at=at), received_at=at)
    assert rows_in("metrics_systemsample_default") == 2
    ensure_partitions(day, days_back=0, days_ahead=0)
    assert rows_in("metrics_systemsample_default") == 0
    assert rows_in(partition_name("metrics_systemsample", day)) == 2
    assert SystemSample.objects.count() == 2


@pytest.mark.django_db(transaction=True)  # DROP TABLE needs the inserts committed
def test_retention_drops_old_day_partitions(enrolled, settings):
    machine, _ = enrolled
    today = datetime.now(timezone.utc).date()
    old_day = today - timedelta(days=settings.RETENTION_RAW_DAYS + 2)
    ensure_partitions(old_day, days_back=0, days_ahead=0)
    at = datetime(old_day.year, old_day.month, old_day.day, 8, tzinfo=timezone.utc)
    ingest_report(machine, make_report(3, start=at, sent_at=at), received_at=at)
    assert SystemSample.objects.count() == 3
    prune(datetime.now(timezone.utc))
    assert SystemSample.objects.count() == 0
    assert partition_name("metrics_systemsample", old_day) not in existing_partitions(
        "metrics_systemsample"
    )
    ensure_partitions(today)  # the drop took the recent days too only if they were old


def test_partitions_for_today_and_the_next_days_exist_after_migrate():
    today = datetime.now(timezone.utc).date()
    names = existing_partitions("metrics_goplssample")
    for offset in range(0, 3):
        assert partition_name("metrics_goplssample", today + timedelta(days=offset)) in names
    assert drop_partitions_before(datetime(2000, 1, 1, tzinfo=timezone.utc)) == []


def test_raw_sample_tables_and_their_partitions_carry_no_foreign_keys(enrolled):
    ensure_partitions(datetime.now(timezone.utc).date())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.conrelid::regclass::text FROM pg_constraint c "
            "JOIN pg_class t ON t.oid = c.conrelid "
            "WHERE c.contype = 'f' AND t.relname LIKE ANY (%s)",
            [[f"{table}%" for table in PARTITIONED_TABLES]],
        )
        assert cursor.fetchall() == []
