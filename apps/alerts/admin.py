"""Admin for every alerts model."""

from django.contrib import admin

from apps.alerts.models import Channel, DeliveryAttempt, Notification, Route, Silence


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ("__str__", "team", "kind", "owner", "enabled", "last_success_at", "last_error")
    list_filter = ("kind", "enabled", "team")


@admin.register(Route)
class RouteAdmin(admin.ModelAdmin):
    list_display = ("__str__", "team", "project", "rule_id", "min_severity", "enabled")
    filter_horizontal = ("channels",)


@admin.register(Silence)
class SilenceAdmin(admin.ModelAdmin):
    list_display = ("__str__", "team", "machine", "project", "rule_id", "expires_at", "reason")


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "channel",
        "finding",
        "status",
        "attempts",
        "created_at",
        "sent_at",
    )
    list_filter = ("status", "kind")
    raw_id_fields = ("finding", "event", "group_leader", "channel")


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(admin.ModelAdmin):
    list_display = ("notification", "at", "ok", "permanent", "error")
    raw_id_fields = ("notification",)
