"""Dashboard URLs."""

from django.urls import path

from apps.dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.fleet, name="fleet"),
    path("machines/", views.machines, name="machine-list"),
    path("machines/<str:machine_id>/", views.machine, name="machine"),
    path(
        "machines/<str:machine_id>/charts/<slug:name>/", views.machine_chart, name="machine-chart"
    ),
    path(
        "machines/<str:machine_id>/ownership/",
        views.machine_ownership,
        name="machine-ownership",
    ),
    path("me/", views.me, name="me"),
    path("developers/<int:user_id>/", views.developer, name="developer"),
    path("projects/", views.projects, name="project-list"),
    path("projects/<slug:slug>/", views.project, name="project"),
    path("versions/", views.versions, name="versions"),
    path("findings/", views.findings, name="findings"),
    path("findings/<int:finding_id>/act/", views.finding_action, name="finding-action"),
    path("rules/", views.rules, name="rule-list"),
    path("rules/<slug:rule_id>/", views.rule, name="rule"),
]
