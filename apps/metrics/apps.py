"""Django app configuration for apps.metrics."""

from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "apps.metrics"
    label = "metrics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.ingest.tasks import AFTER_INGEST_HOOKS
        from apps.metrics.tasks import count_ingest, schedule_late_rollup

        for hook in (schedule_late_rollup, count_ingest):
            if hook not in AFTER_INGEST_HOOKS:
                AFTER_INGEST_HOOKS.append(hook)
