"""Read-only admin views of stored samples and profiles."""

from __future__ import annotations

from django.contrib import admin

from apps.metrics.models import (
    GoplsChunk,
    GoplsRollup,
    GoplsRollupChunk,
    GoplsSample,
    HeapProfile,
    PendingRollup,
    SystemChunk,
    SystemRollup,
    SystemRollupChunk,
    SystemSample,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SystemSample)
class SystemSampleAdmin(ReadOnlyAdmin):
    list_display = [
        "machine",
        "ts",
        "mem_available_bytes",
        "gopls_count",
        "gopls_rss_bytes",
        "inotify_watches_used",
        "clock_skew_s",
    ]
    raw_id_fields = ["machine"]
    search_fields = ["machine__hostname", "machine__machine_id", "sample_uid"]
    date_hierarchy = "ts"
    show_full_result_count = False


@admin.register(GoplsSample)
class GoplsSampleAdmin(ReadOnlyAdmin):
    list_display = [
        "process",
        "machine",
        "ts",
        "rss_bytes",
        "heap_inuse_bytes",
        "cpu_percent",
        "goroutines",
    ]
    raw_id_fields = ["machine", "process"]
    date_hierarchy = "ts"
    show_full_result_count = False


@admin.register(HeapProfile)
class HeapProfileAdmin(ReadOnlyAdmin):
    list_display = ["machine", "process", "kind", "request_id", "captured_at", "truncated"]
    raw_id_fields = ["machine", "process"]


@admin.register(SystemRollup)
class SystemRollupAdmin(ReadOnlyAdmin):
    list_display = ["machine", "resolution", "bucket", "n", "mem_available_min", "gopls_rss_max"]
    list_filter = ["resolution"]
    raw_id_fields = ["machine"]
    show_full_result_count = False


@admin.register(GoplsRollup)
class GoplsRollupAdmin(ReadOnlyAdmin):
    list_display = ["process", "resolution", "bucket", "n", "rss_max", "heap_inuse_max"]
    list_filter = ["resolution"]
    raw_id_fields = ["machine", "process"]
    show_full_result_count = False


@admin.register(PendingRollup)
class PendingRollupAdmin(ReadOnlyAdmin):
    """Machines whose newest samples still wait to be rolled up (a backlog shows here first)."""

    list_display = ["machine", "lo", "hi", "generation", "queued_at"]
    raw_id_fields = ["machine"]
    search_fields = ["machine__hostname", "machine__machine_id"]


class ChunkAdmin(ReadOnlyAdmin):
    """Compacted hours: how many samples each holds and how many bytes they take."""

    list_display = ["machine", "hour", "n", "stored_bytes"]
    raw_id_fields = ["machine"]
    search_fields = ["machine__hostname", "machine__machine_id"]
    date_hierarchy = "hour"
    show_full_result_count = False
    exclude = ["data"]

    @admin.display(description="bytes")
    def stored_bytes(self, chunk) -> int:
        return len(chunk.data)


@admin.register(SystemChunk)
class SystemChunkAdmin(ChunkAdmin):
    pass


@admin.register(GoplsChunk)
class GoplsChunkAdmin(ChunkAdmin):
    list_display = ["process", "machine", "hour", "n", "stored_bytes"]
    raw_id_fields = ["machine", "process"]


class RollupChunkAdmin(ReadOnlyAdmin):
    """Compacted rollup periods (`apps.metrics.chunks.rollup_store`): the rollup lists above
    show only rows not yet compacted (recent periods, and late buckets rolled up again)."""

    list_display = ["machine", "resolution", "start", "n", "stored_bytes"]
    list_filter = ["resolution"]
    raw_id_fields = ["machine"]
    search_fields = ["machine__hostname", "machine__machine_id"]
    date_hierarchy = "start"
    show_full_result_count = False
    exclude = ["data"]

    @admin.display(description="bytes")
    def stored_bytes(self, chunk) -> int:
        return len(chunk.data)


@admin.register(SystemRollupChunk)
class SystemRollupChunkAdmin(RollupChunkAdmin):
    pass


@admin.register(GoplsRollupChunk)
class GoplsRollupChunkAdmin(RollupChunkAdmin):
    pass
