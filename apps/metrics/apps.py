"""Django app configuration for apps.metrics."""

from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "apps.metrics"
    label = "metrics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.common.signals import report_stored
        from apps.metrics.tasks import count_ingest, schedule_late_rollup

        report_stored.connect(schedule_late_rollup, dispatch_uid="metrics.schedule_late_rollup")
        report_stored.connect(count_ingest, dispatch_uid="metrics.count_ingest")
