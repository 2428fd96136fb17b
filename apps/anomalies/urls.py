"""URLs of the findings and rules API and the agent's check endpoint (under api/v1/)."""

from django.urls import path

from apps.anomalies import views

app_name = "anomalies"

urlpatterns = [
    path("findings/", views.finding_list, name="finding-list"),
    path("findings/<int:finding_id>/", views.finding_detail, name="finding-detail"),
    path("rules/", views.rule_list, name="rule-list"),
    path("check", views.check, name="check"),
]
