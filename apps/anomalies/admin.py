"""Admin for findings and their history."""

from django.contrib import admin

from apps.anomalies.models import Finding, FindingEvent


class FindingEventInline(admin.TabularInline):
    model = FindingEvent
    extra = 0
    readonly_fields = ("kind", "at", "severity", "detail", "actor")


@admin.register(Finding)
class FindingAdmin(admin.ModelAdmin):
    list_display = ("rule_id", "machine", "subject", "severity", "state", "first_seen", "last_seen")
    list_filter = ("state", "severity", "rule_id")
    search_fields = ("rule_id", "subject", "machine__hostname", "machine__machine_id")
    raw_id_fields = ("machine", "caused_by", "acknowledged_by")
    inlines = [FindingEventInline]
