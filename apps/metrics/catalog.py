"""Metric catalogue: the series the read API and charts can ask for, with units."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    column: str
    unit: str
    per_process: bool
    description: str
    rollup_column: str | None = None  # the rollup column long ranges read, when there is one


# Raw column → the rollup column that best keeps its meaning over a bucket: lows for available
# memory and free disk (what runs out), highs for usage and counters, averages for CPU.
ROLLUP_COLUMNS = {
    "mem_total_bytes": "mem_total_bytes",
    "mem_available_bytes": "mem_available_min",
    "swap_used_bytes": "swap_used_max",
    "cpu_percent": "cpu_percent_avg",
    "oom_kill_count": "oom_kill_count_max",
    "inotify_watches_used": "inotify_watches_max",
    "inotify_watches_max": "inotify_watches_limit",
    "inotify_instances_used": "inotify_instances_max",
    "inotify_instances_max": "inotify_instances_limit",
    "wsl_mem_total_bytes": "wsl_mem_total_bytes",
    "disk_free_min_bytes": "disk_free_min",
    "gocache_bytes": "gocache_max",
    "gomodcache_bytes": "gomodcache_max",
    "gopls_cache_bytes": "gopls_cache_max",
    "gopls_count": "gopls_count_max",
    "gopls_rss_bytes": "gopls_rss_max",
    "agent_cpu_ms": "agent_cpu_ms_avg",
    "agent_rss_bytes": "agent_rss_max",
}
GOPLS_ROLLUP_COLUMNS = {
    "rss_bytes": "rss_max",
    "heap_inuse_bytes": "heap_inuse_max",
    "cpu_percent": "cpu_percent_avg",
    "goroutines": "goroutines_max",
    "children_cpu_percent": "children_cpu_avg",
    "completion_p95_ms": "completion_p95_max",
    "open_fds": "open_fds_max",
}


_SYSTEM = [
    (
        "system.mem_total_bytes",
        "mem_total_bytes",
        "bytes",
        "Memory the OS sees (the WSL VM cap under WSL2).",
    ),
    (
        "system.mem_available_bytes",
        "mem_available_bytes",
        "bytes",
        "Memory available without swapping.",
    ),
    ("system.mem_cached_bytes", "mem_cached_bytes", "bytes", "Page cache."),
    ("system.swap_used_bytes", "swap_used_bytes", "bytes", "Swap in use."),
    (
        "system.cpu_percent",
        "cpu_percent",
        "percent",
        "Whole-machine CPU busy, percent of all cores.",
    ),
    ("system.load1", "load1", "load", "1-minute load average."),
    ("system.oom_kill_count", "oom_kill_count", "count", "OOM kills since boot."),
    ("inotify.watches_used", "inotify_watches_used", "count", "inotify watches of the user."),
    ("inotify.watches_max", "inotify_watches_max", "count", "fs.inotify.max_user_watches."),
    ("inotify.instances_used", "inotify_instances_used", "count", "inotify instances of the user."),
    ("inotify.instances_max", "inotify_instances_max", "count", "fs.inotify.max_user_instances."),
    (
        "wsl.mem_total_bytes",
        "wsl_mem_total_bytes",
        "bytes",
        "WSL VM memory cap (MemTotal inside the VM).",
    ),
    (
        "disk.free_min_bytes",
        "disk_free_min_bytes",
        "bytes",
        "Least free space on the cache and workspace volumes.",
    ),
    ("go.gocache_bytes", "gocache_bytes", "bytes", "GOCACHE size."),
    ("go.gomodcache_bytes", "gomodcache_bytes", "bytes", "GOMODCACHE size."),
    ("go.gopls_cache_bytes", "gopls_cache_bytes", "bytes", "gopls file cache size."),
    ("go.goimports_cache_bytes", "goimports_cache_bytes", "bytes", "goimports cache size."),
    ("gopls.count", "gopls_count", "count", "gopls server processes."),
    ("gopls.rss_total_bytes", "gopls_rss_bytes", "bytes", "RSS summed over gopls servers."),
    ("agent.cpu_ms", "agent_cpu_ms", "ms", "Agent CPU time per collection cycle."),
    ("agent.rss_bytes", "agent_rss_bytes", "bytes", "Agent resident memory."),
    ("agent.spool_depth", "spool_depth", "count", "Samples waiting in the agent's spool."),
]
_GOPLS = [
    ("gopls.rss_bytes", "rss_bytes", "bytes", "Resident memory of one gopls process."),
    (
        "gopls.cpu_percent",
        "cpu_percent",
        "percent",
        "CPU of one gopls process, percent of one core.",
    ),
    ("gopls.threads", "threads", "count", "OS threads."),
    ("gopls.open_fds", "open_fds", "count", "Open file descriptors."),
    ("gopls.heap_inuse_bytes", "heap_inuse_bytes", "bytes", "HeapInuse from the debug server."),
    ("gopls.heap_alloc_bytes", "heap_alloc_bytes", "bytes", "HeapAlloc from the debug server."),
    (
        "gopls.sys_bytes",
        "sys_bytes",
        "bytes",
        "Sys (memory obtained from the OS) from the debug server.",
    ),
    ("gopls.next_gc_bytes", "next_gc_bytes", "bytes", "NextGC target."),
    ("gopls.gc_cpu_fraction", "gc_cpu_fraction", "ratio", "Fraction of CPU spent in GC."),
    ("gopls.goroutines", "goroutines", "count", "Goroutines."),
    (
        "gopls.children_cpu_percent",
        "children_cpu_percent",
        "percent",
        "CPU of gopls's child processes (go list, gcc…).",
    ),
    ("gopls.completion_p95_ms", "completion_p95_ms", "ms", "textDocument/completion p95 latency."),
]

METRICS: dict[str, Metric] = {
    **{n: Metric(n, c, u, False, d, ROLLUP_COLUMNS.get(c)) for n, c, u, d in _SYSTEM},
    **{n: Metric(n, c, u, True, d, GOPLS_ROLLUP_COLUMNS.get(c)) for n, c, u, d in _GOPLS},
}
