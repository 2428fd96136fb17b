"""Fleet-wide facts read in SQL: the stored health level and the running gopls of each machine.

The fleet, version and project pages never load whole machines. They count machines by the
stored `Machine.health` (offline derived from last_seen) with GROUP BY, and read the running
gopls processes as small rows straight out of the `latest` summary (one JSON table per
machine, expanded by the database), so a 20,000-machine fleet costs a few queries.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import (
    Case,
    CharField,
    F,
    FloatField,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce

from apps.fleet.models import Machine

# Worst first: the order of every "worst machines" list.
LEVEL_RANK = {"critical": 0, "warning": 1, "offline": 2, "ok": 3}


def stale_cutoff(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.MACHINE_STALE_AFTER_S)


def offline_q(now: datetime) -> Q:
    return Q(last_seen__isnull=True) | Q(last_seen__lt=stale_cutoff(now))


def with_level(qs: QuerySet[Machine], now: datetime) -> QuerySet[Machine]:
    """Annotate `level` (ok, warning, critical or offline) and `level_rank` (worst first)."""
    level = Case(
        When(offline_q(now), then=Value("offline")),
        default=F("health"),
        output_field=CharField(),
    )
    rank = Case(
        When(offline_q(now), then=Value(LEVEL_RANK["offline"])),
        *(When(health=lvl, then=Value(r)) for lvl, r in LEVEL_RANK.items() if lvl != "offline"),
        default=Value(LEVEL_RANK["ok"]),
        output_field=IntegerField(),
    )
    return qs.annotate(level=level, level_rank=rank)


def with_gopls_rss(qs: QuerySet[Machine]) -> QuerySet[Machine]:
    """Annotate `gopls_rss`: RSS summed over the machine's gopls servers (0 when none)."""
    # float, not bigint: an out-of-range number in a summary must not fail the whole page
    rss = Cast(KeyTextTransform("gopls_rss_bytes", "latest"), FloatField())
    return qs.annotate(gopls_rss=Coalesce(rss, Value(0.0), output_field=FloatField()))


def worst_first(qs: QuerySet[Machine], now: datetime) -> QuerySet[Machine]:
    """Machines worst level first, then largest gopls, then by name."""
    return with_gopls_rss(with_level(qs, now)).order_by(
        "level_rank", "-gopls_rss", "hostname", "pk"
    )


# One running gopls as the machine's newest sample saw it, a plain tuple (20,000 of them are
# built per fleet page; a named tuple costs ten times more):
# (machine pk, version, go version, project, editor, rss bytes, CPU %, completion p95 ms),
# texts None when absent, numbers None when absent or not numbers.
Proc = tuple
MACHINE, VERSION, GO_VERSION, PROJECT, EDITOR, RSS, CPU, P95 = range(8)


_TEXT = ("version", "go_version", "project", "editor")
_NUMBERS = ("rss_bytes", "cpu_percent", "completion_p95_ms")


def _sql(machine_sql: str, skip: frozenset[str] = frozenset()) -> str:
    """Expand the `gopls` array of each machine's `latest` into rows, numbers typed by the DB.

    Fields in `skip` come back as NULL (less to extract and to send)."""
    if connection.vendor == "postgresql":
        text = [f"p.value ->> '{f}'" if f not in skip else "NULL" for f in _TEXT]
        numbers = [
            f"CASE WHEN jsonb_typeof(p.value -> '{f}') = 'number' "
            f"THEN (p.value ->> '{f}')::float8 END"
            if f not in skip
            else "NULL"
            for f in _NUMBERS
        ]
        return (
            f"WITH m(id, latest) AS ({machine_sql}) "
            f"SELECT m.id, {', '.join(text + numbers)} FROM m "
            "CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN "
            "jsonb_typeof(m.latest -> 'gopls') = 'array' THEN m.latest -> 'gopls' "
            "ELSE '[]'::jsonb END) p(value) WHERE jsonb_typeof(p.value) = 'object'"
        )
    text = [  # text whatever the JSON type, as PostgreSQL's ->> gives
        f"CAST(json_extract(p.value, '$.{f}') AS TEXT)" if f not in skip else "NULL" for f in _TEXT
    ]
    numbers = [
        f"CASE WHEN json_type(p.value, '$.{f}') IN ('integer', 'real') "
        f"THEN json_extract(p.value, '$.{f}') END"
        if f not in skip
        else "NULL"
        for f in _NUMBERS
    ]
    return (
        f"WITH m(id, latest) AS ({machine_sql}) SELECT m.id, {', '.join(text + numbers)} FROM m, "
        "json_each(m.latest, '$.gopls') p "
        "WHERE p.type = 'object' AND json_type(m.latest, '$.gopls') = 'array'"
    )


LEAN_SKIP = frozenset({"go_version", "cpu_percent", "completion_p95_ms"})


def gopls_procs(
    machines: QuerySet[Machine], project: str | None = None, *, lean: bool = False
) -> list[Proc]:
    """The running gopls of some machines, from their `latest` summaries, in one query.

    `lean` leaves out the Go version, CPU and latency (None), which the fleet page never shows.
    """
    machine_sql, params = machines.order_by().values("pk", "latest").query.sql_with_params()
    sql = _sql(machine_sql, LEAN_SKIP if lean else frozenset())
    if project is not None:
        if connection.vendor == "postgresql":
            sql += " AND p.value ->> 'project' = %s"
        else:
            sql += " AND json_extract(p.value, '$.project') = %s"
        params = (*params, project)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
