"""Ingest workflow: rate limit, validate, store a report durably and idempotently, answer."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from apps.common.timestamps import parse_timestamp
from apps.fleet.models import GoplsProcess, Machine
from apps.fleet.recording import (
    _lifetime_fields,
    apply_identity,
    link_projects,
    record_inventory,
    resolve_processes,
)
from apps.ingest.tasks import after_ingest
from apps.ingest.validation import validate_report
from apps.ingest.write_sql import store_upload
from apps.metrics.columns import gopls_row, system_row
from apps.metrics.models import HeapProfile
from apps.metrics.summary import latest_summary
from apps.metrics.writer import insert_gopls_samples, insert_system_samples

# Optional report sections recorded by the apps that own them, inside the upload's transaction:
# {section name: hook(machine, value, received_at)} (registered in AppConfig.ready, so ingest
# does not import the apps that depend on it).
SECTION_HOOKS: dict = {}


class ReportInvalid(Exception):
    def __init__(self, errors: list[dict]):
        super().__init__(f"{len(errors)} invalid field(s)")
        self.errors = errors


class RateLimited(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


# A sample whose time, after correcting the agent's clock skew, lies further ahead than this is
# refused: stored, it would stay the machine's "latest" state until the clock caught up.
MAX_FUTURE = timedelta(minutes=10)


@dataclass
class IngestResult:
    accepted: int
    duplicates: int
    received_at: datetime
    clock_skew_s: float | None
    instructions: dict = field(default_factory=dict)
    new_sample_ids: set[str] = field(default_factory=set)
    oom_kills: bool = False
    oldest_new_ts: datetime | None = None
    newest_new_ts: datetime | None = None
    rejected: int = 0

    def as_response(self) -> dict:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "received_at": self.received_at.isoformat().replace("+00:00", "Z"),
            "clock_skew_s": self.clock_skew_s,
            "instructions": self.instructions,
        }


def take_rate_token(machine: Machine, now: datetime) -> None:
    """Token bucket per machine (state on the machine row); raises RateLimited when empty.

    The caller saves rate_tokens/rate_updated_at together with the rest of the upload.
    """
    rate = settings.INGEST_RATE_PER_MINUTE / 60.0
    burst = settings.INGEST_BURST
    if machine.rate_updated_at is None:
        tokens = burst
    else:
        elapsed = max(0.0, (now - machine.rate_updated_at).total_seconds())
        tokens = min(burst, machine.rate_tokens + elapsed * rate)
    if tokens < 1.0:
        raise RateLimited(max(1, math.ceil((1.0 - tokens) / rate)))
    machine.rate_tokens = tokens - 1.0
    machine.rate_updated_at = now


def _clock_offset(payload: dict, received_at: datetime) -> float:
    return (received_at - parse_timestamp(payload["sent_at"])).total_seconds()


def instructions_for(machine: Machine) -> dict:
    return {
        "collect_interval_s": settings.AGENT_COLLECT_INTERVAL_S,
        "upload_interval_s": settings.AGENT_UPLOAD_INTERVAL_S,
        "capture_profiles": list(machine.pending_instructions.get("capture_profiles", [])),
    }


def ingest_report(
    machine: Machine, payload, *, received_at: datetime | None = None
) -> IngestResult:
    """Validate and store one report for `machine`; durable when it returns.

    Idempotent: samples already stored (same id and collection time) count as duplicates and
    are not stored again, so agents may resend freely. Raises ReportInvalid with every bad
    field's JSON path, or RateLimited.
    """
    errors = validate_report(payload)
    if errors:
        raise ReportInvalid(errors)
    received_at = received_at or timezone.now()
    offset = _clock_offset(payload, received_at)
    skewed = abs(offset) > settings.INGEST_CLOCK_SKEW_WARN_S
    shift = timedelta(seconds=offset) if skewed else timedelta(0)

    rows, by_uid, seen_uids, rejected = [], {}, set(), 0
    oldest_allowed = received_at - timedelta(days=settings.INGEST_MAX_SAMPLE_AGE_DAYS)
    for sample in payload["samples"]:
        uid = sample["id"]
        collected_at = parse_timestamp(sample["collected_at"])
        if uid in seen_uids:
            continue  # repeated inside one upload: a duplicate, stored once
        seen_uids.add(uid)
        # The skew is measured on sent_at; a sample that disagrees with it (a clock that
        # jumped between collection and upload) would land decades away: refused, not stored.
        if not oldest_allowed <= collected_at + shift <= received_at + MAX_FUTURE:
            rejected += 1
            continue
        columns, detail = system_row(sample)
        columns.update(
            machine_id=machine.pk,
            sample_uid=uid,
            collected_at=collected_at,
            ts=collected_at + shift,
            received_at=received_at,
            clock_skew_s=round(-offset, 3) if skewed else None,
            detail=detail,
        )
        rows.append(columns)
        by_uid[uid] = (sample, columns["ts"])

    if connection.vendor == "postgresql" and not _needs_transaction(payload):
        take_rate_token(machine, received_at)
        new_ids = _store_in_one_statement(
            machine, payload, rows, by_uid, shift, received_at, offset, skewed
        )
        result = _result(machine, payload, by_uid, new_ids, received_at, offset, skewed)
        result.rejected = rejected
        result.duplicates -= rejected
        after_ingest(machine.pk, result)  # committed already: report_stored is sent now
        return result

    with transaction.atomic():
        take_rate_token(machine, received_at)
        new_ids = insert_system_samples(rows)
        _store_gopls(machine, [by_uid[uid] for uid in new_ids], shift)
        if payload.get("inventory"):
            record_inventory(machine, payload["inventory"], received_at)
        if payload.get("profiles"):
            _store_profiles(machine, payload["profiles"], received_at)
        for section, hook in SECTION_HOOKS.items():
            if payload.get(section):
                hook(machine, payload[section], received_at)
        update = _machine_update(machine, payload, rows, new_ids, received_at, offset, skewed)
        update_machine_row(machine.pk, update)
        result = _result(machine, payload, by_uid, new_ids, received_at, offset, skewed)
        result.rejected = rejected
        result.duplicates -= rejected
        after_ingest(machine.pk, result)  # report_stored is sent on commit
    return result


def _needs_transaction(payload: dict) -> bool:
    """Sections stored by several statements of other apps (inventory, profiles, hooks)."""
    if payload.get("inventory") or payload.get("profiles"):
        return True
    return any(payload.get(section) for section in SECTION_HOOKS)


def _has_facts(proc: dict) -> bool:
    return bool(proc.get("exe") or proc.get("argv") or proc.get("version") or proc.get("projects"))


def _store_in_one_statement(
    machine, payload, rows, by_uid, shift, received_at, offset, skewed
) -> set[str]:
    """PostgreSQL: store the upload with apps.ingest.write_sql; returns the new sample ids.

    Everything the statement needs is prepared here for every sample of the upload; the
    statement keeps what belongs to the samples its INSERT found new.
    """
    entries, facts, fact_procs, candidates = [], [], [], []
    for ord_, row in enumerate(rows):
        sample, ts = by_uid[row["sample_uid"]]
        for proc in sample.get("gopls") or []:
            columns, detail = gopls_row(proc)
            fi = None
            if _has_facts(proc):
                fields = _lifetime_fields(proc)
                if fields not in facts:
                    facts.append(fields)
                    fact_procs.append(proc)
                fi = facts.index(fields)
            columns.update(
                machine_id=machine.pk,
                collected_at=ts - shift,
                ts=ts,
                detail=detail,
                uid=row["sample_uid"],
                ord=len(entries),
                pid=proc["pid"],
                start_time=lifetime_start(proc),
                fi=fi,
            )
            entries.append(columns)
        if machine.last_sample_at is None or ts >= machine.last_sample_at:
            latest = _latest(machine, payload, sample, row)
            candidates.append({"uid": row["sample_uid"], "ord": ord_, "ts": ts, "latest": latest})
    for index, fields in enumerate(facts):
        facts[index] = {"fi": index, **fields}
    update = _machine_base_update(machine, payload, received_at, offset, skewed)
    new_ids, lifetimes = store_upload(machine.pk, rows, entries, facts, candidates, update)
    # Project links are made when a lifetime starts or its project changes (rare), after the
    # statement: should this fail, the lifetime keeps no or its old project and the next
    # upload with a sample of it links again.
    for pk, _pid, _start, project_id, created, fi, last_seen, module_path in lifetimes:
        proc = fact_procs[fi] if fi is not None else {}
        projects = [
            p for p in proc.get("projects") or [] if isinstance(p, dict) and p.get("module")
        ]
        if projects and (created or projects[0]["module"][:512] != module_path):
            with transaction.atomic():
                project = link_projects(machine, projects, last_seen)
                if project.pk != project_id:
                    GoplsProcess.objects.filter(pk=pk).update(project=project)
    return new_ids


def update_machine_row(pk: int, update: dict) -> None:
    """UPDATE the machine's columns in `update` (field name → value) in one statement.

    On PostgreSQL hand-built and prepared once per column set (the ORM's compilation of this
    per-upload UPDATE cost about as much CPU as the statement, measured); JSON goes through
    orjson. Elsewhere the ORM.
    """
    if connection.vendor != "postgresql":
        Machine.objects.filter(pk=pk).update(**update)
        return
    names = tuple(update)
    with connection.cursor() as cursor:
        cursor.execute(_machine_update_sql(names), [*map(_db_value, names, update.values()), pk])


def _db_value(name: str, value):
    if isinstance(Machine._meta.get_field(name), models.JSONField):
        return orjson.dumps(value).decode()
    return value


@functools.cache
def _machine_update_sql(names: tuple[str, ...]) -> str:
    sets = []
    for name in names:
        field = Machine._meta.get_field(name)
        cast = "::jsonb" if isinstance(field, models.JSONField) else ""
        sets.append(f"{connection.ops.quote_name(field.column)} = %s{cast}")
    return f"UPDATE {Machine._meta.db_table} SET {', '.join(sets)} WHERE id = %s"


def _result(machine, payload, by_uid, new_ids, received_at, offset, skewed) -> IngestResult:
    new_ts = [by_uid[uid][1] for uid in new_ids]
    oom = any((by_uid[uid][0].get("system") or {}).get("oom_victims") for uid in new_ids)
    return IngestResult(
        accepted=len(new_ids),
        duplicates=len(payload["samples"]) - len(new_ids),
        received_at=received_at,
        clock_skew_s=round(-offset, 3) if skewed else None,
        instructions=instructions_for(machine),
        new_sample_ids=new_ids,
        oom_kills=bool(oom),
        oldest_new_ts=min(new_ts, default=None),
        newest_new_ts=max(new_ts, default=None),
    )


def lifetime_start(proc: dict) -> datetime:
    """Start time of a gopls lifetime, to the second: agents derive it from boot time plus
    clock ticks, and sub-second jitter between samples must not split one lifetime in two."""
    return parse_timestamp(proc["start_time"]).replace(microsecond=0)


def _store_gopls(machine: Machine, samples: list[tuple[dict, datetime]], shift: timedelta) -> None:
    entries = []
    for sample, ts in samples:
        for proc in sample.get("gopls") or []:
            entries.append((proc, lifetime_start(proc), ts))
    if not entries:
        return
    lifetimes = resolve_processes(machine, entries)
    rows = []
    for proc, start, ts in entries:
        columns, detail = gopls_row(proc)
        columns.update(
            machine_id=machine.pk,
            process_id=lifetimes[(proc["pid"], start)],
            collected_at=ts - shift,
            ts=ts,
            detail=detail,
        )
        rows.append(columns)
    insert_gopls_samples(rows)


def _store_profiles(machine: Machine, profiles: list[dict], received_at: datetime) -> None:
    """Store the profiles the server asked this machine for; any other request id is ignored
    (an agent cannot fill the database, or another machine's finding, with profiles)."""
    pending = machine.pending_instructions.get("capture_profiles", [])
    issued = {req.get("request_id") for req in pending if isinstance(req, dict)}
    asked = {p["request_id"] for p in profiles} - issued
    if asked:  # already received once (a resend after a lost response): update it in place
        issued |= set(
            HeapProfile.objects.filter(machine=machine, request_id__in=asked).values_list(
                "request_id", flat=True
            )
        )
    profiles = [p for p in profiles if p["request_id"] in issued]
    done = {p["request_id"] for p in profiles}
    for profile in profiles:
        captured = profile.get("captured_at")
        HeapProfile.objects.update_or_create(
            machine=machine,
            request_id=profile["request_id"],
            kind=profile["kind"],
            defaults={
                "captured_at": parse_timestamp(captured) if captured else None,
                "received_at": received_at,
                "text": profile["text"],
                "truncated": bool(profile.get("truncated")),
                "error": str(profile.get("error") or ""),
            },
        )
    remaining = [req for req in pending if req.get("request_id") not in done]
    if len(remaining) != len(pending):
        machine.pending_instructions = {
            **machine.pending_instructions,
            "capture_profiles": remaining,
        }


def _machine_update(machine, payload, rows, new_ids, received_at, offset, skewed) -> dict:
    update = _machine_base_update(machine, payload, received_at, offset, skewed)
    new_rows = [row for row in rows if row["sample_uid"] in new_ids]
    if new_rows:
        newest = max(new_rows, key=lambda row: row["ts"])
        if machine.last_sample_at is None or newest["ts"] >= machine.last_sample_at:
            sample = next(s for s in payload["samples"] if s["id"] == newest["sample_uid"])
            update["last_sample_at"] = newest["ts"]
            update["latest"] = _latest(machine, payload, sample, newest)
    return update


def _latest(machine, payload, sample: dict, row: dict) -> dict:
    latest = latest_summary(sample, row)
    # Whether the agent lets the server ask for heap profiles: from its config when it says,
    # else as last known (agents send their config only now and then).
    config = (payload.get("agent") or {}).get("config") or {}
    latest["allow_profiles"] = bool(
        config.get("allow_profiles", machine.latest.get("allow_profiles", False))
    )
    return latest


def _machine_base_update(machine, payload, received_at, offset, skewed) -> dict:
    """Machine columns every upload sets, whether or not it brought a new newest sample."""
    update = {
        "last_seen": received_at,
        "rate_tokens": machine.rate_tokens,
        "rate_updated_at": machine.rate_updated_at,
        "clock_skew_s": round(-offset, 3) if skewed else None,
        "pending_instructions": machine.pending_instructions,
    }
    agent_version = (payload.get("agent") or {}).get("version")
    if agent_version and agent_version != machine.agent_version:
        update["agent_version"] = agent_version[:64]
    facts = payload.get("machine")
    if isinstance(facts, dict):
        for name in apply_identity(machine, facts):
            update[name] = getattr(machine, name)
    return update
