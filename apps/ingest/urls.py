"""URLs of the agent-facing API."""

from django.urls import path

from apps.ingest import views

app_name = "ingest"

urlpatterns = [
    path("enroll", views.enroll, name="enroll"),
    path("reports", views.reports, name="reports"),
]
