"""URLs of the findings and rules API and the agent's check and fixes endpoints (api/v1/)."""

from django.urls import path

from apps.anomalies import views

app_name = "anomalies"

urlpatterns = [
    path("findings/", views.finding_list, name="finding-list"),
    path("findings/<int:finding_id>/", views.finding_detail, name="finding-detail"),
    path(
        "findings/<int:finding_id>/acknowledge",
        views.finding_acknowledge,
        name="finding-acknowledge",
    ),
    path("findings/<int:finding_id>/snooze", views.finding_snooze, name="finding-snooze"),
    path(
        "findings/<int:finding_id>/unacknowledge",
        views.finding_unacknowledge,
        name="finding-unacknowledge",
    ),
    path("rules/", views.rule_list, name="rule-list"),
    path("check", views.check, name="check"),
    path("fixes", views.fixes, name="fixes"),
]
