"""App config: report_stored receiver (evaluation on OOM kills), applied-fixes section hook,
health receiver."""

from django.apps import AppConfig


class AnomaliesConfig(AppConfig):
    name = "apps.anomalies"
    verbose_name = "Detection and advice"

    def ready(self) -> None:
        from apps.anomalies import machine_health  # noqa: F401  (connects its receiver)
        from apps.anomalies.fixes import record_fixes
        from apps.anomalies.tasks import evaluate_after_ingest
        from apps.common.signals import report_stored
        from apps.ingest.services import SECTION_HOOKS

        report_stored.connect(evaluate_after_ingest, dispatch_uid="anomalies.evaluate_after_ingest")
        SECTION_HOOKS["fixes"] = record_fixes  # fixes applied with `devfleet-agent fix`
