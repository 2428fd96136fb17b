"""URLs of the read API."""

from django.urls import path

from apps.api import views

app_name = "api"

urlpatterns = [
    path("machines/", views.machine_list, name="machine-list"),
    path("machines/<str:machine_id>/", views.machine_detail, name="machine-detail"),
    path("machines/<str:machine_id>/series/", views.machine_series, name="machine-series"),
    path("openapi.json", views.openapi, name="openapi"),
]
