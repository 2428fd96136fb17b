"""One machine: its facts, running gopls, inventory with history, and its charts."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from apps.anomalies.models import Finding
from apps.dashboard import charts
from apps.dashboard.inventory import diff_values
from apps.dashboard.services.findings import evidence_spans, machine_findings, recent_fixes
from apps.dashboard.services.series import read_gopls, read_system, thin
from apps.dashboard.services.snapshots import load_snapshots
from apps.fleet.models import GoplsProcess, Machine
from apps.metrics.chunks.read import chunk_points, latest_value
from apps.metrics.models import SystemSample

CHARTS = ("memory", "cpu", "goroutines", "latency", "sysmem", "inotify", "caches")
HISTORY_LIMIT = 25


def machine_page(machine: Machine, now: datetime) -> dict:
    cutoff = now - timezone.timedelta(seconds=settings.MACHINE_STALE_AFTER_S)
    # Every running gopls (a monorepo may run many), and the 12 latest that stopped.
    gopls = machine.gopls_processes.select_related("project")
    processes = [
        *gopls.filter(last_seen__gte=cutoff).order_by("-last_seen")[:64],
        *gopls.filter(last_seen__lt=cutoff).order_by("-last_seen")[:12],
    ]
    history = [
        {"change": change, "diff": diff_values(change.old_value, change.new_value)}
        for change in machine.inventory_changes.order_by("-changed_at")[:HISTORY_LIMIT]
    ]
    by_pid = {p.get("pid"): p for p in (machine.latest or {}).get("gopls") or []}
    for p in processes:
        p.started = started(p, machine.clock_skew_s)
    return {
        "health": load_snapshots(Machine.objects.filter(pk=machine.pk), now)[0].health,
        "findings": machine_findings(machine),
        "fixes": recent_fixes(machine, now),
        "running": sorted(  # largest first
            [(p, by_pid.get(p.pid, {})) for p in processes if p.last_seen >= cutoff],
            key=lambda pair: -_number(pair[1].get("rss_bytes")),
        ),
        "past": [p for p in processes if p.last_seen < cutoff],
        "inventory": {item.section: item for item in machine.inventory.all()},
        "history": history,
        "projects": machine.machineproject_set.select_related("project").order_by("-last_seen"),
        "latest": right_now(machine, machine.latest or {}),
        "inotify_note": (
            f"not collected on {machine.get_os_display()}" if machine.os != Machine.OS.LINUX else ""
        ),
    }


def _number(value) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


# Summary values the agent collects less often than every sample (a newest sample without
# them must not blank out "Right now" beside a chart full of them).
SOMETIMES = (
    "inotify_watches_used",
    "inotify_watches_max",
    "gocache_bytes",
    "gomodcache_bytes",
    "gopls_cache_bytes",
    "disk_free_min_bytes",
)


def right_now(machine: Machine, latest: dict) -> dict:
    """The newest-sample summary, with each of SOMETIMES it lacks taken from the newest
    sample of the last day that has it."""
    values = dict(latest)
    if machine.last_sample_at is None:
        return values
    since = machine.last_sample_at - timedelta(hours=24)
    for key in SOMETIMES:
        if values.get(key) is None:
            values[key] = (
                SystemSample.objects.filter(machine=machine, ts__gte=since)
                .exclude(**{f"{key}__isnull": True})
                .order_by("-ts")
                .values_list(key, flat=True)
                .first()
            )
            if values[key] is None:  # older samples of the day may be compacted
                values[key] = latest_value(machine.pk, key, since, machine.last_sample_at)
    return values


NAMED_TRACES = 7  # lifetimes drawn one by one; the rest are one "other gopls (N)" trace
OTHER_BUCKETS = 500  # points of that aggregate over the window


def started(process: GoplsProcess, skew_s: float | None) -> datetime:
    """A lifetime's start on the server clock: the agent's start time corrected by its clock
    skew, as its samples' times are, and never after its first sample."""
    start = process.start_time - timedelta(seconds=skew_s or 0)
    return min(start, process.first_seen)


def _finding_subjects(machine: Machine) -> dict[tuple[int, int], str]:
    """{(pid, start epoch): title} of the open findings about one gopls lifetime."""
    out = {}
    for subject, title in (
        Finding.objects.open()
        .filter(machine=machine, subject__startswith="gopls:")
        .values_list("subject", "title")
    ):
        pid, _, start = subject.removeprefix("gopls:").partition("@")
        if pid.isdigit() and start.lstrip("-").isdigit():
            out.setdefault((int(pid), int(start)), title)
    return out


def _lifetimes(machine: Machine, columns: list[str], since, until) -> list[dict]:
    series = read_gopls(machine.pk, columns, since, until)
    procs = GoplsProcess.objects.filter(pk__in=series).order_by("start_time")
    about = _finding_subjects(machine)
    out = []
    for p in procs:
        life = {
            "label": f"pid {p.pid} {p.version or 'gopls'}",
            "start": started(p, machine.clock_skew_s),
            "started": f"gopls pid {p.pid} {p.version or ''} started".replace("  ", " "),
        }
        title = about.get((p.pid, int(p.start_time.timestamp())))
        if title:
            life["highlight"] = title
        life.update(series[p.pk])
        out.append(life)
    return out


def aggregate(series: list[list], how: str, since: datetime, until: datetime) -> list:
    """Several lifetimes' points as one series: per bucket of the window, each lifetime's
    last value, summed (memory, CPU, goroutines) or the largest (latency)."""
    step = max(60.0, (until - since).total_seconds() / OTHER_BUCKETS)
    buckets: dict[int, dict[int, float]] = {}
    for i, points in enumerate(series):
        for t, v in points:
            if v is not None:
                buckets.setdefault(int(t.timestamp() // step), {})[i] = v
    combine = sum if how == "sum" else max
    return [
        (datetime.fromtimestamp(b * step, tz=since.tzinfo), combine(per.values()))
        for b, per in sorted(buckets.items())
    ]


def pick_lifetimes(
    lives: list[dict], key: str, how: str, since: datetime, until: datetime, keep: tuple = ()
) -> list[dict]:
    """At most NAMED_TRACES lifetimes by name: those a finding is about first, then the
    largest by `key`; the others as one grey "other gopls (N)" lifetime (`keep` other keys
    are left out of it)."""

    def peak(life: dict) -> float:
        return max((v for _, v in life.get(key) or [] if v is not None), default=-1.0)

    drawn = [life for life in lives if life.get(key)]
    if len(drawn) <= NAMED_TRACES + 1:
        return drawn
    ranked = sorted(drawn, key=lambda life: (not life.get("highlight"), -peak(life)))
    named, rest = ranked[:NAMED_TRACES], ranked[NAMED_TRACES:]
    other = {
        "label": f"other gopls ({len(rest)})",
        "other": True,
        key: aggregate([life[key] for life in rest], how, since, until),
    }
    return [*named, other]


def leak_projections(machine: Machine, since: datetime, until: datetime) -> list[tuple]:
    """[(name, [(now, rss), (then, rss at then)])] for the open leak findings: where the RSS
    goes at the measured rate until memory runs out, drawn at most half a window ahead."""
    out = []
    leaks = Finding.objects.open().filter(machine=machine, rule_id="gopls_memory_leak")
    for evidence in leaks.values_list("evidence", flat=True):
        evidence = evidence if isinstance(evidence, dict) else {}
        rss, hours = evidence.get("rss_bytes"), evidence.get("hours_to_ceiling")
        slope = evidence.get("slope_mb_per_hour")
        if not all(isinstance(v, (int, float)) and v >= 0 for v in (rss, hours, slope)):
            continue
        shown = min(float(hours), (until - since).total_seconds() / 2 / 3600)
        start = min(until, machine.last_sample_at or until)
        end = start + timedelta(hours=shown)
        if start < since:
            continue
        limit = evidence.get("headroom_source") or "its memory ceiling"
        label = f"pid {evidence.get('pid', '?')}, {float(hours):.1f} h until {limit}"
        out.append((label, [(start, float(rss)), (end, float(rss) + slope * 1e6 * shown)]))
    return out


def _restarts(lifetimes: list[dict]) -> list[tuple[datetime, str]]:
    return [(life["start"], life["started"]) for life in lifetimes]


def machine_chart(machine: Machine, name: str, since: datetime, until: datetime) -> dict:
    """Figure dict for one of CHARTS over [since, until], with findings' evidence shaded; an
    empty one says why in "empty"."""
    figure = _figure(machine, name, since, until)
    figure = charts.add_evidence(figure, evidence_spans(machine, name, since, until))
    if not any(
        v is not None
        for t in figure["data"]
        if t.get("name") != "gopls start"
        for v in t.get("y") or []
    ):
        figure["empty"] = empty_reason(machine, name, since, until)
    return figure


def empty_reason(machine: Machine, name: str, since: datetime, until: datetime) -> str:
    """Why a chart of this machine has nothing to draw, as its panel says it."""
    if machine.last_sample_at is None:
        return "no reports from this machine yet"
    if name == "inotify" and machine.os != Machine.OS.LINUX:
        return f"inotify: not collected on {machine.get_os_display()}"
    reported = SystemSample.objects.filter(machine=machine, ts__gte=since, ts__lte=until)
    if not reported.exists() and not chunk_points(False, machine.pk, ["ts"], since, until):
        return "no reports in this range (agent stopped or machine asleep)"
    if name in GOPLS_CHARTS:
        ran = GoplsProcess.objects.filter(
            machine=machine, last_seen__gte=since, first_seen__lte=until
        ).exists()
        if not ran:
            return "no gopls running in this range"
        if name == "latency":
            return "gopls reported no completion latency in this range (debug server off?)"
        return "gopls reported no values for this chart in this range"
    return "nothing reported for this chart in this range"


GOPLS_CHARTS = ("memory", "cpu", "goroutines", "latency")


def _figure(machine: Machine, name: str, since: datetime, until: datetime) -> dict:
    window = (since, until)
    if name == "memory":
        lives = _lifetimes(machine, ["rss_bytes", "heap_inuse_bytes"], since, until)
        for life in lives:
            life["rss"], life["heap"] = life.pop("rss_bytes"), life.pop("heap_inuse_bytes")
        shown = pick_lifetimes(lives, "rss", "sum", since, until)
        return charts.gopls_memory(
            shown, _restarts(lives), window, leak_projections(machine, since, until)
        )
    if name in ("cpu", "goroutines", "latency"):
        column, title, unit, how = {
            "cpu": ("cpu_percent", "gopls CPU (% of one core)", "percent", "sum"),
            "goroutines": ("goroutines", "gopls goroutines", "count", "sum"),
            "latency": ("completion_p95_ms", "completion latency p95", "ms", "max"),
        }[name]
        lives = _lifetimes(machine, [column], since, until)
        fig = charts.per_lifetime(
            pick_lifetimes(lives, column, how, since, until), column, title, unit, window
        )
        if name == "cpu":
            system = read_system(machine.pk, ["cpu_percent"], since, until)["cpu_percent"]
            cores = machine.cpu_count or 1
            fig["data"].append(
                charts.line_trace(
                    f"whole machine ({cores} cores)",
                    [(t, v * cores if v is not None else None) for t, v in system],
                    "percent",
                    line={"color": "#8b949e", "dash": "dot"},
                )
            )
        if any(life.get(column) for life in lives):
            charts.add_starts(fig, _restarts(lives), window)
        return fig
    if name == "sysmem":
        cols = ["mem_total_bytes", "mem_available_bytes", "mem_cached_bytes", "wsl_mem_total_bytes"]
        raw = read_system(machine.pk, cols, since, until, max_points=None)
        avail = dict(raw["mem_available_bytes"])
        used = thin([(t, total - avail[t]) for t, total in raw["mem_total_bytes"] if t in avail])
        s = {column: thin(points) for column, points in raw.items()}
        cap_name = "WSL VM cap" if machine.is_wsl else "RAM"
        cap = (
            s["wsl_mem_total_bytes"]
            if machine.is_wsl and s["wsl_mem_total_bytes"]
            else (s["mem_total_bytes"])
        )
        return charts.with_limit(
            "system memory",
            "bytes",
            [("used", used), ("page cache", s["mem_cached_bytes"])],
            [(cap_name, cap)],
            window=window,
        )
    if name == "inotify":
        s = read_system(machine.pk, ["inotify_watches_used", "inotify_watches_max"], since, until)
        return charts.with_limit(
            "inotify watches",
            "count",
            [("watches used", s["inotify_watches_used"])],
            [("max_user_watches", s["inotify_watches_max"])],
            window=window,
        )
    if name == "caches":
        cols = ["gocache_bytes", "gomodcache_bytes", "gopls_cache_bytes", "disk_free_min_bytes"]
        s = read_system(machine.pk, cols, since, until)
        return charts.with_limit(
            "Go caches vs free disk",
            "bytes",
            [
                ("GOCACHE", s["gocache_bytes"]),
                ("GOMODCACHE", s["gomodcache_bytes"]),
                ("gopls cache", s["gopls_cache_bytes"]),
            ],
            [("free disk", s["disk_free_min_bytes"])],
            window=window,
        )
    raise ValueError(f"unknown chart {name!r}")
