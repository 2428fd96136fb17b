"""Alerts URLs: acknowledge links, channel and route pages, silences."""

from django.urls import path

from apps.alerts import views

app_name = "alerts"

urlpatterns = [
    path("", views.index, name="index"),
    path("silences/", views.silences, name="silences"),
    path("silences/<int:pk>/expire/", views.silence_expire, name="silence-expire"),
    path("ack/<str:token>/", views.ack, name="ack"),
    path("me/", views.my_alerts, name="me"),
    path("channels/", views.channels, name="channels"),
    path("channels/new/", views.channel_edit, name="channel-new"),
    path("channels/<int:pk>/", views.channel_edit, name="channel"),
    path("channels/<int:pk>/test/", views.channel_test, name="channel-test"),
    path("routes/new/", views.route_edit, name="route-new"),
    path("routes/<int:pk>/", views.route_edit, name="route"),
]
