"""Root URL configuration."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from apps.api.prometheus import metrics_view
from apps.common.ratelimit import login_rate_limited

urlpatterns = [
    # Before admin.site.urls so that it wins; reverse("admin:login") still names this URL.
    path("admin/login/", login_rate_limited(admin.site.login)),
    path("admin/", admin.site.urls),
    path("api/v1/", include("apps.api.urls")),
    path("metrics", metrics_view, name="prometheus-metrics"),
    path(
        "login/",
        login_rate_limited(
            auth_views.LoginView.as_view(
                template_name="dashboard/login.html", redirect_authenticated_user=True
            )
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("alerts/", include("apps.alerts.urls")),
    path("", include("apps.dashboard.urls")),
]
