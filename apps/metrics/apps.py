"""Django app configuration for apps.metrics."""

from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "apps.metrics"
    label = "metrics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.ingest.tasks import AFTER_INGEST_HOOKS
        from apps.metrics.tasks import schedule_late_rollup

        if schedule_late_rollup not in AFTER_INGEST_HOOKS:
            AFTER_INGEST_HOOKS.append(schedule_late_rollup)
