"""A machine as it was at a past instant (evaluate_fleet --at T): lifetimes, samples, inventory."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import numpy as np
from django.db.models import Max
from django.utils import timezone

from apps.fleet.models import InventoryChange, InventoryItem
from apps.metrics.chunks.read import chunk_points
from apps.metrics.models import SystemSample

# A pass evaluates at the time it started while machines keep uploading: samples a few
# minutes newer than `now` are the live pass racing ingest, not a replay.
LIVE_SLACK = timedelta(minutes=5)


def in_the_past(machines: list[tuple], now: datetime) -> set[int]:
    """Machines with samples after `now` when `now` lies in the past: a replay
    (evaluate_fleet --at T), which must read only what existed at `now` instead of their
    current summary and inventory. The live pass keeps the cheap current-state path."""
    if now >= timezone.now() - LIVE_SLACK:
        return set()
    return {m[0] for m in machines if m[-1] is not None and m[-1] > now}


def bound_lifetimes(procs, now: datetime) -> None:
    """A lifetime seen after `now` was last seen, as of `now`, at its newest sample up to
    `now` (the series are read up to `now`): alive at `now` only if it was."""
    cut = now.timestamp()
    for proc in procs:
        if proc.last_ts <= cut:
            continue
        last = proc.series.get("t_last")
        seen = last[~np.isnan(last)] if last is not None else np.empty(0)
        proc.last_ts = (
            min(cut, max(proc.start_ts, float(seen.max()))) if seen.size else (proc.start_ts)
        )


def last_samples(machines: list[tuple], now: datetime, past: set[int]) -> dict[int, float]:
    """Each machine's newest sample time at or before `now` (epoch s): Machine.last_sample_at
    when it is not after `now`, else read from the samples of the last 10 minutes."""
    out = {m[0]: m[-1].timestamp() for m in machines if m[-1] is not None and m[0] not in past}
    if past:
        rows = (
            SystemSample.objects.filter(
                machine_id__in=past, ts__gt=now - timedelta(minutes=10), ts__lte=now
            )
            .values("machine_id")
            .annotate(last=Max("ts"))
            .values_list("machine_id", "last")
        )
        out.update({mid: last.timestamp() for mid, last in rows})
        for mid in past - set(out):  # a replay far enough back reads compacted history
            points = chunk_points(False, mid, ["ts"], now - timedelta(minutes=10), now)
            if points:
                out[mid] = max(t for t, _ in points[None]["ts"]).timestamp()
    return out


def inventory_at(machine_ids: list[int], now: datetime, past: set[int]) -> dict[int, dict]:
    """{machine: {section: value}} as it stood at `now`: the current items, and for a replay
    the value each section had then (the newest change by `now`, else the value the first
    later change replaced; a section first reported after `now` is left out)."""
    inventory: dict[int, dict] = defaultdict(dict)
    later: list[tuple[int, str]] = []
    for mid, section, value, updated in InventoryItem.objects.filter(
        machine_id__in=machine_ids
    ).values_list("machine_id", "section", "value", "updated_at"):
        if mid in past and updated > now:
            later.append((mid, section))
        else:
            inventory[mid][section] = value
    if later:
        wanted = set(later)
        before: dict[tuple[int, str], tuple] = {}
        after: dict[tuple[int, str], tuple] = {}
        for mid, section, old, new, at in (
            InventoryChange.objects.filter(machine_id__in={m for m, _ in later})
            .order_by("changed_at", "pk")
            .values_list("machine_id", "section", "old_value", "new_value", "changed_at")
        ):
            key = (mid, section)
            if key not in wanted:
                continue
            if at <= now:
                before[key] = (new,)
            elif key not in after:
                after[key] = (old,)
        for key in later:
            state = before.get(key) or after.get(key)
            if state is not None and state[0] is not None:
                inventory[key[0]][key[1]] = state[0]
    return inventory
