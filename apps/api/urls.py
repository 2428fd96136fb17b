"""Every URL under /api/v1/: the one table of the JSON API (its OpenAPI document: openapi/).

Views live in apps.api, except the write path (enroll, reports), whose views stay in apps.ingest
beside the services that store what agents send.
"""

from django.urls import path

from apps.api import agent_views, finding_views, machine_views
from apps.ingest import views as ingest_views

app_name = "api"

urlpatterns = [
    # Agents: the write path (apps.ingest) ...
    path("enroll", ingest_views.enroll, name="enroll"),
    path("reports", ingest_views.reports, name="reports"),
    # ... and the machine-credential endpoints that store nothing.
    path("check", agent_views.check, name="check"),
    path("fixes", agent_views.fixes, name="fixes"),
    # People (session or personal API token).
    path("machines/", machine_views.machine_list, name="machine-list"),
    path("machines/<str:machine_id>/", machine_views.machine_detail, name="machine-detail"),
    path("machines/<str:machine_id>/series/", machine_views.machine_series, name="machine-series"),
    path("findings/", finding_views.finding_list, name="finding-list"),
    path("findings/<int:finding_id>/", finding_views.finding_detail, name="finding-detail"),
    path(
        "findings/<int:finding_id>/acknowledge",
        finding_views.finding_acknowledge,
        name="finding-acknowledge",
    ),
    path("findings/<int:finding_id>/snooze", finding_views.finding_snooze, name="finding-snooze"),
    path(
        "findings/<int:finding_id>/unacknowledge",
        finding_views.finding_unacknowledge,
        name="finding-unacknowledge",
    ),
    path("rules/", finding_views.rule_list, name="rule-list"),
    path("openapi.json", machine_views.openapi, name="openapi"),
]
