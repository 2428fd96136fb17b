"""Fleet-wide facts read in SQL: the stored health level and the running gopls of each machine.

The fleet, version and project pages never load whole machines. They count machines by the
stored `Machine.health` (offline derived from last_seen) with GROUP BY, and read the running
gopls processes as small rows straight out of the `latest` summary (one JSON table per
machine, expanded by the database), so a 20,000-machine fleet costs a few queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    F,
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
    rss = Cast(KeyTextTransform("gopls_rss_bytes", "latest"), BigIntegerField())
    return qs.annotate(gopls_rss=Coalesce(rss, Value(0), output_field=BigIntegerField()))


def worst_first(qs: QuerySet[Machine], now: datetime) -> QuerySet[Machine]:
    """Machines worst level first, then largest gopls, then by name."""
    return with_gopls_rss(with_level(qs, now)).order_by(
        "level_rank", "-gopls_rss", "hostname", "pk"
    )


@dataclass(frozen=True)
class Proc:
    """One running gopls as the machine's newest sample saw it."""

    machine: int
    version: str
    go_version: str
    project: str
    editor: str
    rss: int | None
    cpu: float | None
    completion_p95: float | None


_FIELDS = ("version", "go_version", "project", "editor", "rss_bytes", "cpu_percent")
_P95 = "completion_p95_ms"


def _sql(machine_sql: str) -> str:
    if connection.vendor == "postgresql":
        cols = ", ".join(f"p.value ->> '{f}'" for f in (*_FIELDS, _P95))
        return (
            f"SELECT m.id, {cols} FROM fleet_machine m "
            "CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN "
            "jsonb_typeof(m.latest -> 'gopls') = 'array' THEN m.latest -> 'gopls' "
            "ELSE '[]'::jsonb END) p(value) "
            f"WHERE jsonb_typeof(p.value) = 'object' AND m.id IN ({machine_sql})"
        )
    cols = ", ".join(f"json_extract(p.value, '$.{f}')" for f in (*_FIELDS, _P95))
    return (
        f"SELECT m.id, {cols} FROM fleet_machine m, json_each(m.latest, '$.gopls') p "
        f"WHERE p.type = 'object' AND json_type(m.latest, '$.gopls') = 'array' "
        f"AND m.id IN ({machine_sql})"
    )


def _int(value) -> int:
    return int(float(value))


def _num(value, kind):
    if value is None or value == "":
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


def gopls_procs(machines: QuerySet[Machine], project: str | None = None) -> list[Proc]:
    """The running gopls of some machines, from their `latest` summaries, in one query."""
    machine_sql, params = machines.order_by().values("pk").query.sql_with_params()
    sql = _sql(machine_sql)
    if project is not None:
        if connection.vendor == "postgresql":
            sql += " AND p.value ->> 'project' = %s"
        else:
            sql += " AND json_extract(p.value, '$.project') = %s"
        params = (*params, project)
    out = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(5000):
            for pk, version, go, proj, editor, rss, cpu, p95 in chunk:
                out.append(
                    Proc(
                        pk,
                        str(version or ""),
                        str(go or ""),
                        str(proj or ""),
                        str(editor or ""),
                        _num(rss, _int),
                        _num(cpu, float),
                        _num(p95, float),
                    )
                )
    return out
