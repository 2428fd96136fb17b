"""The metric catalogue: every metric column's wire name, raw column, rollups, API name and readers.

One entry per raw column of `SystemSample` (machine) or `GoplsSample` (one gopls process). The
ingest mapping (`columns.py`), the rollup statements (`rollups.py`), the series API and charts
(`reader.py`, `series.py`) and detection (`apps.anomalies.loader`, `snapshot.py`) derive their
tables from here; `tests/metrics/test_catalog.py` checks every entry against the models, the
rollup tables and the report schema, so the copies cannot drift apart again.
"""

from __future__ import annotations

from dataclasses import dataclass

# Aggregates a rollup may keep of a raw column over a bucket.
AGGREGATES = ("min", "avg", "max")


@dataclass(frozen=True)
class Entry:
    """One raw metric column and everything that reads or writes it."""

    column: str
    # Where the value sits in a report sample (machine columns) or one gopls process entry;
    # None: computed from several fields (`derived` says how).
    wire: tuple[str, ...] | None
    unit: str
    per_process: bool = False
    # The series API name (`GET /api/v1/machines/{id}/series/?metric=`); None: not served.
    name: str | None = None
    description: str = ""
    derived: str = ""
    # (rollup column, aggregate) kept for each 5-minute and 1-hour bucket.
    rollups: tuple[tuple[str, str], ...] = ()
    # The rollup column long-range reads draw (series API and charts): lows for what runs out
    # (available memory, free disk), highs for usage and counters, averages for CPU.
    drawn: str | None = None
    # Detection: (snapshot series name, per-bucket aggregate); the loader reads the rollup
    # column with that same aggregate, so rolled-up and raw history give the same series.
    detect: tuple[tuple[str, str], ...] = ()
    charts: tuple[str, ...] = ()  # machine-page charts (apps.dashboard.services.machine)


def _m(column, wire, unit, name=None, description="", **kw) -> Entry:
    return Entry(column, wire, unit, False, name, description, **kw)


def _g(column, wire, unit, name=None, description="", **kw) -> Entry:
    return Entry(column, wire, unit, True, name, description, **kw)


SYSTEM: tuple[Entry, ...] = (
    _m("mem_total_bytes", ("system", "mem_total_bytes"), "bytes", "system.mem_total_bytes",
       "Memory the OS sees (the WSL VM cap under WSL2).",
       rollups=(("mem_total_bytes", "max"),), drawn="mem_total_bytes",
       detect=(("mem_total", "max"),), charts=("sysmem",)),
    _m("mem_available_bytes", ("system", "mem_available_bytes"), "bytes",
       "system.mem_available_bytes", "Memory available without swapping.",
       rollups=(("mem_available_min", "min"), ("mem_available_avg", "avg")),
       drawn="mem_available_min", detect=(("mem_available", "min"),), charts=("sysmem",)),
    _m("mem_cached_bytes", ("system", "mem_cached_bytes"), "bytes", "system.mem_cached_bytes",
       "Page cache.", rollups=(("mem_cached_max", "max"),), drawn="mem_cached_max",
       detect=(("mem_cached", "max"),), charts=("sysmem",)),
    _m("swap_total_bytes", ("system", "swap_total_bytes"), "bytes"),
    _m("swap_used_bytes", ("system", "swap_used_bytes"), "bytes", "system.swap_used_bytes",
       "Swap in use.", rollups=(("swap_used_max", "max"),), drawn="swap_used_max",
       detect=(("swap_used", "max"),)),
    _m("cpu_percent", ("system", "cpu_percent"), "percent", "system.cpu_percent",
       "Whole-machine CPU busy, percent of all cores.",
       rollups=(("cpu_percent_avg", "avg"), ("cpu_percent_max", "max")),
       drawn="cpu_percent_avg", charts=("cpu",)),
    _m("load1", None, "load", "system.load1", "1-minute load average.",
       derived="system.load[0]"),
    _m("oom_kill_count", ("system", "oom_kill_count"), "count", "system.oom_kill_count",
       "OOM kills since boot.", rollups=(("oom_kill_count_max", "max"),),
       drawn="oom_kill_count_max", detect=(("oom_kills", "max"),)),
    _m("inotify_watches_used", ("inotify", "watches_used"), "count", "inotify.watches_used",
       "inotify watches of the user.", rollups=(("inotify_watches_max", "max"),),
       drawn="inotify_watches_max", detect=(("watches_used", "max"),), charts=("inotify",)),
    _m("inotify_watches_max", ("inotify", "max_user_watches"), "count", "inotify.watches_max",
       "fs.inotify.max_user_watches.", rollups=(("inotify_watches_limit", "max"),),
       drawn="inotify_watches_limit", detect=(("watches_max", "max"),), charts=("inotify",)),
    _m("inotify_instances_used", ("inotify", "instances_used"), "count",
       "inotify.instances_used", "inotify instances of the user.",
       rollups=(("inotify_instances_max", "max"),), drawn="inotify_instances_max",
       detect=(("instances_used", "max"),)),
    _m("inotify_instances_max", ("inotify", "max_user_instances"), "count",
       "inotify.instances_max", "fs.inotify.max_user_instances.",
       rollups=(("inotify_instances_limit", "max"),), drawn="inotify_instances_limit",
       detect=(("instances_max", "max"),)),
    _m("wsl_mem_total_bytes", ("wsl", "mem_total_bytes"), "bytes", "wsl.mem_total_bytes",
       "WSL VM memory cap (MemTotal inside the VM).",
       rollups=(("wsl_mem_total_bytes", "max"),), drawn="wsl_mem_total_bytes",
       detect=(("wsl_mem_total", "max"),), charts=("sysmem",)),
    _m("disk_free_min_bytes", None, "bytes", "disk.free_min_bytes",
       "Least free space on the cache and workspace volumes.",
       derived="min of system.disks[].free_bytes", rollups=(("disk_free_min", "min"),),
       drawn="disk_free_min", detect=(("disk_free", "min"),), charts=("caches",)),
    _m("gocache_bytes", ("go", "caches", "gocache_bytes"), "bytes", "go.gocache_bytes",
       "GOCACHE size.", rollups=(("gocache_max", "max"),), drawn="gocache_max",
       detect=(("gocache", "max"),), charts=("caches",)),
    _m("gomodcache_bytes", ("go", "caches", "gomodcache_bytes"), "bytes",
       "go.gomodcache_bytes", "GOMODCACHE size.", rollups=(("gomodcache_max", "max"),),
       drawn="gomodcache_max", detect=(("gomodcache", "max"),), charts=("caches",)),
    _m("gopls_cache_bytes", ("go", "caches", "gopls_cache_bytes"), "bytes",
       "go.gopls_cache_bytes", "gopls file cache size.",
       rollups=(("gopls_cache_max", "max"),), drawn="gopls_cache_max",
       detect=(("gopls_cache", "max"),), charts=("caches",)),
    _m("goimports_cache_bytes", ("go", "caches", "goimports_cache_bytes"), "bytes",
       "go.goimports_cache_bytes", "goimports cache size."),
    _m("gopls_count", None, "count", "gopls.count", "gopls server processes.",
       derived="len(gopls)", rollups=(("gopls_count_max", "max"),), drawn="gopls_count_max",
       detect=(("gopls_count", "max"),)),
    _m("gopls_rss_bytes", None, "bytes", "gopls.rss_total_bytes",
       "RSS summed over gopls servers.", derived="sum of gopls[].rss_bytes",
       rollups=(("gopls_rss_max", "max"), ("gopls_rss_avg", "avg")), drawn="gopls_rss_max"),
    _m("agent_cpu_ms", ("agent", "cpu_ms"), "ms", "agent.cpu_ms",
       "Agent CPU time per collection cycle.", rollups=(("agent_cpu_ms_avg", "avg"),),
       drawn="agent_cpu_ms_avg"),
    _m("agent_rss_bytes", ("agent", "rss_bytes"), "bytes", "agent.rss_bytes",
       "Agent resident memory.", rollups=(("agent_rss_max", "max"),), drawn="agent_rss_max"),
    _m("spool_depth", ("agent", "spool_depth"), "count", "agent.spool_depth",
       "Samples waiting in the agent's spool."),
    _m("dropped_samples", ("agent", "dropped_samples"), "count"),
    _m("error_count", None, "count", derived="len(errors)"),
)  # fmt: skip

GOPLS: tuple[Entry, ...] = (
    _g("rss_bytes", ("rss_bytes",), "bytes", "gopls.rss_bytes",
       "Resident memory of one gopls process.",
       rollups=(("rss_min", "min"), ("rss_avg", "avg"), ("rss_max", "max")),
       drawn="rss_max", detect=(("rss", "min"),), charts=("memory",)),
    _g("cpu_percent", ("cpu_percent",), "percent", "gopls.cpu_percent",
       "CPU of one gopls process, percent of one core.",
       rollups=(("cpu_percent_avg", "avg"), ("cpu_percent_max", "max"),
                ("cpu_percent_min", "min")),
       drawn="cpu_percent_avg", detect=(("cpu", "avg"), ("cpu_min", "min")), charts=("cpu",)),
    _g("threads", ("threads",), "count", "gopls.threads", "OS threads."),
    _g("open_fds", ("open_fds",), "count", "gopls.open_fds", "Open file descriptors.",
       rollups=(("open_fds_max", "max"),), drawn="open_fds_max", detect=(("open_fds", "max"),)),
    _g("fd_limit", ("fd_limit",), "count", rollups=(("fd_limit_min", "min"),),
       detect=(("fd_limit", "min"),)),
    _g("heap_inuse_bytes", ("debug", "heap_inuse_bytes"), "bytes", "gopls.heap_inuse_bytes",
       "HeapInuse from the debug server.",
       rollups=(("heap_inuse_min", "min"), ("heap_inuse_avg", "avg"), ("heap_inuse_max", "max")),
       drawn="heap_inuse_max", detect=(("heap", "min"),), charts=("memory",)),
    _g("heap_alloc_bytes", ("debug", "heap_alloc_bytes"), "bytes", "gopls.heap_alloc_bytes",
       "HeapAlloc from the debug server."),
    _g("sys_bytes", ("debug", "sys_bytes"), "bytes", "gopls.sys_bytes",
       "Sys (memory obtained from the OS) from the debug server."),
    _g("next_gc_bytes", ("debug", "next_gc_bytes"), "bytes", "gopls.next_gc_bytes",
       "NextGC target."),
    _g("num_gc", ("debug", "num_gc"), "count"),
    _g("gc_cpu_fraction", ("debug", "gc_cpu_fraction"), "ratio", "gopls.gc_cpu_fraction",
       "Fraction of CPU spent in GC."),
    _g("goroutines", ("debug", "goroutines"), "count", "gopls.goroutines", "Goroutines.",
       rollups=(("goroutines_max", "max"),), drawn="goroutines_max",
       detect=(("goroutines", "max"),), charts=("goroutines",)),
    _g("children_count", ("children", "count"), "count"),
    _g("children_cpu_percent", ("children", "cpu_percent"), "percent",
       "gopls.children_cpu_percent", "CPU of gopls's child processes (go list, gcc…).",
       rollups=(("children_cpu_avg", "avg"), ("children_cpu_min", "min")),
       drawn="children_cpu_avg",
       detect=(("children_cpu", "avg"), ("children_cpu_min", "min"))),
    _g("completion_p95_ms", None, "ms", "gopls.completion_p95_ms",
       "textDocument/completion p95 latency.",
       derived='debug.rpc["textDocument/completion"].p95_ms',
       rollups=(("completion_p95_max", "max"),), drawn="completion_p95_max",
       detect=(("completion_p95", "max"),), charts=("latency",)),
    _g("cgroup_memory_max_bytes", ("cgroup", "memory_max_bytes"), "bytes",
       rollups=(("cgroup_memory_max_min", "min"),), detect=(("cgroup_max", "min"),)),
    _g("cgroup_memory_current_bytes", ("cgroup", "memory_current_bytes"), "bytes"),
)  # fmt: skip

ENTRIES: tuple[Entry, ...] = SYSTEM + GOPLS


def entry(column: str, *, per_process: bool) -> Entry:
    """The entry of a raw column of SystemSample (per_process False) or GoplsSample."""
    for e in GOPLS if per_process else SYSTEM:
        if e.column == column:
            return e
    raise KeyError(column)


def drawn_columns(per_process: bool) -> dict[str, str]:
    """raw column → the rollup column long-range reads draw, for columns that have one."""
    return {e.column: e.drawn for e in (GOPLS if per_process else SYSTEM) if e.drawn}


def rollup_aggregates(per_process: bool) -> list[tuple[str, str, str]]:
    """[(rollup column, aggregate, raw column)] the rollup statements compute."""
    entries = GOPLS if per_process else SYSTEM
    return [(rolled, agg, e.column) for e in entries for rolled, agg in e.rollups]


def detection_series(per_process: bool) -> dict[str, tuple[str, str, str]]:
    """snapshot series name → (aggregate, raw column, 5-minute rollup column with that
    aggregate), in catalogue order."""
    out = {}
    for e in GOPLS if per_process else SYSTEM:
        by_agg = {agg: rolled for rolled, agg in e.rollups}
        for name, agg in e.detect:
            out[name] = (agg, e.column, by_agg[agg])
    return out


@dataclass(frozen=True)
class Metric:
    """A series the read API serves (its view of a catalogue entry)."""

    name: str
    column: str
    unit: str
    per_process: bool
    description: str
    rollup_column: str | None = None  # the rollup column long ranges read, when there is one


METRICS: dict[str, Metric] = {
    e.name: Metric(e.name, e.column, e.unit, e.per_process, e.description, e.drawn)
    for e in ENTRIES
    if e.name
}
