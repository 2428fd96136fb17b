"""Sample storage: one wide row per machine sample, one row per gopls process per sample.

`collected_at` is the agent's clock and, with the sample id, makes a sample unique (retries
carry both unchanged). `ts` is the time series use: `collected_at` corrected by the clock
offset measured at upload when that offset is large, so a skewed clock never loses a sample
or puts it in the wrong place on a chart. Fields that are not columns (lists, maps, unknown
fields from newer agents) are kept in `detail`.
"""

from __future__ import annotations

from django.db import models


class SampleQuerySet(models.QuerySet):
    def for_machine(self, machine) -> SampleQuerySet:
        return self.filter(machine=machine)

    def window(self, since=None, until=None) -> SampleQuerySet:
        qs = self
        if since is not None:
            qs = qs.filter(ts__gte=since)
        if until is not None:
            qs = qs.filter(ts__lte=until)
        return qs


class SystemSample(models.Model):
    # No database foreign keys on the raw sample tables (migration 0009): checking them cost
    # each upload a lookup per inserted row at commit (measured: ~6 % of PostgreSQL's CPU per
    # upload). Ingest writes only the authenticated machine and the lifetimes the same
    # statement upserts; deleting a machine or lifetime still deletes its samples (Django
    # cascades), and retention drops whole partitions.
    machine = models.ForeignKey(
        "fleet.Machine", on_delete=models.CASCADE, db_index=False, db_constraint=False
    )
    sample_uid = models.CharField(max_length=64)
    collected_at = models.DateTimeField()
    ts = models.DateTimeField()
    received_at = models.DateTimeField()
    clock_skew_s = models.FloatField(null=True)
    mem_total_bytes = models.BigIntegerField(null=True)
    mem_available_bytes = models.BigIntegerField(null=True)
    mem_cached_bytes = models.BigIntegerField(null=True)
    swap_total_bytes = models.BigIntegerField(null=True)
    swap_used_bytes = models.BigIntegerField(null=True)
    cpu_percent = models.FloatField(null=True)
    load1 = models.FloatField(null=True)
    oom_kill_count = models.BigIntegerField(null=True)
    inotify_watches_used = models.IntegerField(null=True)
    inotify_watches_max = models.IntegerField(null=True)
    inotify_instances_used = models.IntegerField(null=True)
    inotify_instances_max = models.IntegerField(null=True)
    wsl_mem_total_bytes = models.BigIntegerField(null=True)
    disk_free_min_bytes = models.BigIntegerField(null=True)
    gocache_bytes = models.BigIntegerField(null=True)
    gomodcache_bytes = models.BigIntegerField(null=True)
    gopls_cache_bytes = models.BigIntegerField(null=True)
    goimports_cache_bytes = models.BigIntegerField(null=True)
    gopls_count = models.SmallIntegerField(default=0)
    gopls_rss_bytes = models.BigIntegerField(null=True, help_text="Sum over gopls servers.")
    agent_cpu_ms = models.FloatField(null=True)
    agent_rss_bytes = models.BigIntegerField(null=True)
    spool_depth = models.IntegerField(null=True)
    dropped_samples = models.BigIntegerField(null=True)
    error_count = models.SmallIntegerField(default=0)
    detail = models.JSONField(default=dict)

    objects = SampleQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["machine", "sample_uid", "collected_at"], name="uniq_system_sample"
            )
        ]
        indexes = [models.Index(fields=["machine", "ts"], name="system_sample_machine_ts")]

    def __str__(self) -> str:
        return f"{self.machine_id}@{self.ts:%Y-%m-%d %H:%M:%S}"


class GoplsSample(models.Model):
    # No database foreign keys, as SystemSample.
    machine = models.ForeignKey(
        "fleet.Machine", on_delete=models.CASCADE, db_index=False, db_constraint=False
    )
    process = models.ForeignKey(
        "fleet.GoplsProcess", on_delete=models.CASCADE, db_index=False, db_constraint=False
    )
    collected_at = models.DateTimeField()
    ts = models.DateTimeField()
    rss_bytes = models.BigIntegerField(null=True)
    cpu_percent = models.FloatField(null=True)
    threads = models.IntegerField(null=True)
    open_fds = models.IntegerField(null=True)
    fd_limit = models.BigIntegerField(null=True)
    heap_inuse_bytes = models.BigIntegerField(null=True)
    heap_alloc_bytes = models.BigIntegerField(null=True)
    sys_bytes = models.BigIntegerField(null=True)
    next_gc_bytes = models.BigIntegerField(null=True)
    num_gc = models.BigIntegerField(null=True)
    gc_cpu_fraction = models.FloatField(null=True)
    goroutines = models.IntegerField(null=True)
    children_count = models.IntegerField(null=True)
    children_cpu_percent = models.FloatField(null=True)
    completion_p95_ms = models.FloatField(null=True)
    cgroup_memory_max_bytes = models.BigIntegerField(null=True)
    cgroup_memory_current_bytes = models.BigIntegerField(null=True)
    detail = models.JSONField(default=dict)

    objects = SampleQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["process", "ts"], name="gopls_sample_process_ts"),
            models.Index(fields=["machine", "ts"], name="gopls_sample_machine_ts"),
        ]

    def __str__(self) -> str:
        return f"gopls {self.process_id}@{self.ts:%Y-%m-%d %H:%M:%S}"


class HeapProfile(models.Model):
    """A symbolized text profile a gopls debug server gave on request (leak evidence)."""

    machine = models.ForeignKey("fleet.Machine", on_delete=models.CASCADE, related_name="profiles")
    process = models.ForeignKey("fleet.GoplsProcess", null=True, on_delete=models.SET_NULL)
    request_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=16)
    captured_at = models.DateTimeField(null=True)
    received_at = models.DateTimeField()
    text = models.TextField()
    truncated = models.BooleanField(default=False)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["machine", "request_id", "kind"], name="uniq_profile")
        ]

    def __str__(self) -> str:
        return f"{self.kind} profile {self.request_id} of {self.machine}"


class Resolution(models.IntegerChoices):
    FIVE_MINUTES = 300, "5 minutes"
    ONE_HOUR = 3600, "1 hour"


class SystemRollup(models.Model):
    """Aggregates of SystemSample per machine and time bucket (5 min or 1 h)."""

    machine = models.ForeignKey("fleet.Machine", on_delete=models.CASCADE, db_index=False)
    resolution = models.PositiveIntegerField(choices=Resolution.choices)
    bucket = models.DateTimeField()
    n = models.IntegerField()
    mem_total_bytes = models.BigIntegerField(null=True)
    mem_available_min = models.BigIntegerField(null=True)
    mem_available_avg = models.FloatField(null=True)
    mem_cached_max = models.BigIntegerField(null=True)
    swap_used_max = models.BigIntegerField(null=True)
    cpu_percent_avg = models.FloatField(null=True)
    cpu_percent_max = models.FloatField(null=True)
    oom_kill_count_max = models.BigIntegerField(null=True)
    inotify_watches_max = models.IntegerField(null=True)
    inotify_watches_limit = models.IntegerField(null=True)
    inotify_instances_max = models.IntegerField(null=True)
    inotify_instances_limit = models.IntegerField(null=True)
    wsl_mem_total_bytes = models.BigIntegerField(null=True)
    disk_free_min = models.BigIntegerField(null=True)
    gocache_max = models.BigIntegerField(null=True)
    gomodcache_max = models.BigIntegerField(null=True)
    gopls_cache_max = models.BigIntegerField(null=True)
    gopls_count_max = models.SmallIntegerField(null=True)
    gopls_rss_max = models.BigIntegerField(null=True)
    gopls_rss_avg = models.FloatField(null=True)
    agent_cpu_ms_avg = models.FloatField(null=True)
    agent_rss_max = models.BigIntegerField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["machine", "resolution", "bucket"], name="uniq_system_rollup"
            )
        ]

    def __str__(self) -> str:
        return f"{self.machine_id} {self.resolution}s @ {self.bucket:%Y-%m-%d %H:%M}"


class GoplsRollup(models.Model):
    """Aggregates of GoplsSample per gopls lifetime and time bucket (5 min or 1 h)."""

    machine = models.ForeignKey("fleet.Machine", on_delete=models.CASCADE, db_index=False)
    process = models.ForeignKey("fleet.GoplsProcess", on_delete=models.CASCADE, db_index=False)
    resolution = models.PositiveIntegerField(choices=Resolution.choices)
    bucket = models.DateTimeField()
    n = models.IntegerField()
    rss_min = models.BigIntegerField(null=True)
    rss_avg = models.FloatField(null=True)
    rss_max = models.BigIntegerField(null=True)
    heap_inuse_min = models.BigIntegerField(null=True)
    heap_inuse_avg = models.FloatField(null=True)
    heap_inuse_max = models.BigIntegerField(null=True)
    cpu_percent_avg = models.FloatField(null=True)
    cpu_percent_max = models.FloatField(null=True)
    goroutines_max = models.IntegerField(null=True)
    children_cpu_avg = models.FloatField(null=True)
    completion_p95_max = models.FloatField(null=True)
    open_fds_max = models.IntegerField(null=True)
    # What detection reads from a bucket besides the above (so trends can skip raw samples):
    # the quietest CPU sample, limits, and the exact first and last sample times.
    cpu_percent_min = models.FloatField(null=True)
    children_cpu_min = models.FloatField(null=True)
    fd_limit_min = models.BigIntegerField(null=True)
    cgroup_memory_max_min = models.BigIntegerField(null=True)
    ts_first = models.DateTimeField(null=True)
    ts_last = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["process", "resolution", "bucket"], name="uniq_gopls_rollup"
            )
        ]
        indexes = [
            models.Index(fields=["machine", "resolution", "bucket"], name="gopls_rollup_machine")
        ]

    def __str__(self) -> str:
        return f"gopls {self.process_id} {self.resolution}s @ {self.bucket:%Y-%m-%d %H:%M}"


class PendingRollup(models.Model):
    """A machine's samples not yet folded into the rollups: one merged [lo, hi] range per machine.

    Kept in the database, not the cache: the cache is per-process without Redis, and a range
    lost there left backfilled history without rollups for good. Readers (charts, detection)
    read raw samples over a pending range, so the history shows before its rollups exist.
    """

    machine = models.OneToOneField(
        "fleet.Machine", on_delete=models.CASCADE, related_name="pending_rollup"
    )
    lo = models.DateTimeField()
    hi = models.DateTimeField()
    # Bumped by every merge: a task deletes the row only if nothing was merged while it ran.
    generation = models.PositiveBigIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.machine_id} {self.lo:%Y-%m-%d %H:%M}–{self.hi:%Y-%m-%d %H:%M}"


class SystemChunk(models.Model):
    """One machine's system samples of one hour, compacted (`apps.metrics.chunks`)."""

    machine = models.ForeignKey("fleet.Machine", on_delete=models.CASCADE, db_index=False)
    hour = models.DateTimeField()
    n = models.IntegerField()
    data = models.BinaryField()
    # Detection reads OOM victims of the last day from sample details: only chunks holding
    # some are decoded.
    has_oom_victims = models.BooleanField(default=False)
    # The agent times (collected_at) of its samples: a resent copy of a sample (same sample
    # id and collected_at) whose skew correction gave it another hour finds its original here.
    collected_lo = models.DateTimeField(null=True)
    collected_hi = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["machine", "hour"], name="uniq_system_chunk")
        ]

    def __str__(self) -> str:
        return f"{self.machine_id} chunk @ {self.hour:%Y-%m-%d %H:00}"


class GoplsChunk(models.Model):
    """One gopls process's samples of one hour, compacted (`apps.metrics.chunks`)."""

    machine = models.ForeignKey("fleet.Machine", on_delete=models.CASCADE, db_index=False)
    process = models.ForeignKey("fleet.GoplsProcess", on_delete=models.CASCADE, db_index=False)
    hour = models.DateTimeField()
    n = models.IntegerField()
    data = models.BinaryField()
    collected_lo = models.DateTimeField(null=True)  # as SystemChunk's
    collected_hi = models.DateTimeField(null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["process", "hour"], name="uniq_gopls_chunk")]
        indexes = [models.Index(fields=["machine", "hour"], name="gopls_chunk_machine_hour")]

    def __str__(self) -> str:
        return f"gopls {self.process_id} chunk @ {self.hour:%Y-%m-%d %H:00}"


class SystemRollupChunk(models.Model):
    """One machine's system rollups of one resolution over one period, compacted
    (`apps.metrics.chunks.rollup_store`): every `SystemRollup` column as an encoded array.
    A `SystemRollup` row for the same bucket, written later, wins over the chunk's entry."""

    machine = models.ForeignKey("fleet.Machine", on_delete=models.CASCADE, db_index=False)
    resolution = models.PositiveIntegerField(choices=Resolution.choices)
    start = models.DateTimeField()
    n = models.IntegerField(help_text="Buckets in the chunk.")
    data = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["machine", "resolution", "start"], name="uniq_system_rollup_chunk"
            )
        ]
        indexes = [models.Index(fields=["resolution", "start"], name="system_rchunk_res_start")]

    def __str__(self) -> str:
        return f"{self.machine_id} {self.resolution}s rollups from {self.start:%Y-%m-%d %H:%M}"


class GoplsRollupChunk(models.Model):
    """One machine's gopls rollups (all its processes, `process_id` a column) of one resolution
    over one period, compacted; a `GoplsRollup` row for the same process and bucket wins."""

    machine = models.ForeignKey("fleet.Machine", on_delete=models.CASCADE, db_index=False)
    resolution = models.PositiveIntegerField(choices=Resolution.choices)
    start = models.DateTimeField()
    n = models.IntegerField(help_text="Buckets (process and time) in the chunk.")
    data = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["machine", "resolution", "start"], name="uniq_gopls_rollup_chunk"
            )
        ]
        indexes = [models.Index(fields=["resolution", "start"], name="gopls_rchunk_res_start")]

    def __str__(self) -> str:
        return (
            f"gopls {self.machine_id} {self.resolution}s rollups from {self.start:%Y-%m-%d %H:%M}"
        )
