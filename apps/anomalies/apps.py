"""App config: the after-ingest hook (evaluate at once on an OOM kill) and the health receiver."""

from django.apps import AppConfig


class AnomaliesConfig(AppConfig):
    name = "apps.anomalies"
    verbose_name = "Detection and advice"

    def ready(self) -> None:
        from apps.anomalies import machine_health  # noqa: F401  (connects its receiver)
        from apps.anomalies.tasks import evaluate_after_ingest
        from apps.ingest.tasks import AFTER_INGEST_HOOKS

        if evaluate_after_ingest not in AFTER_INGEST_HOOKS:
            AFTER_INGEST_HOOKS.append(evaluate_after_ingest)
