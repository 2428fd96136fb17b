"""App config: after-ingest hooks (evaluation on OOM kills, applied fixes), health receiver."""

from django.apps import AppConfig


class AnomaliesConfig(AppConfig):
    name = "apps.anomalies"
    verbose_name = "Detection and advice"

    def ready(self) -> None:
        from apps.anomalies import machine_health  # noqa: F401  (connects its receiver)
        from apps.anomalies.fixes import record_fixes
        from apps.anomalies.tasks import evaluate_after_ingest
        from apps.ingest.services import SECTION_HOOKS
        from apps.ingest.tasks import AFTER_INGEST_HOOKS

        if evaluate_after_ingest not in AFTER_INGEST_HOOKS:
            AFTER_INGEST_HOOKS.append(evaluate_after_ingest)
        SECTION_HOOKS["fixes"] = record_fixes  # fixes applied with `devfleet-agent fix`
