"""Django app configuration for apps.ingest."""

from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "apps.ingest"
    label = "ingest"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Generate the report's msgspec types from docs/report.schema.json now: a schema
        # keyword the generator does not understand stops the server at start, not at the
        # first upload.
        from apps.ingest.validation import prepare_validators

        prepare_validators()
