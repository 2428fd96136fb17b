"""API authentication: a logged-in session or a personal API token (Bearer dfp_…)."""

from __future__ import annotations

import functools

from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from apps.fleet.services import user_for_api_token
from apps.ingest.views import bearer_token, error_response


def api_login_required(view):
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            token = bearer_token(request)
            user = user_for_api_token(token) if token else None
            if user is None:
                return error_response(
                    401,
                    "unauthorized",
                    "log in or send a personal API token",
                    headers={"WWW-Authenticate": 'Bearer realm="devfleet"'},
                )
            request.user = user
        return view(request, *args, **kwargs)

    return wrapper


def _csrf_rejected(request) -> bool:
    middleware = CsrfViewMiddleware(lambda r: None)
    middleware.process_request(request)
    return middleware.process_view(request, None, (), {}) is not None


def api_write_required(view):
    """Like api_login_required, for requests that change something: a session must also pass
    Django's CSRF check (403 otherwise); a personal API token needs none (no cookie involved)."""

    @csrf_exempt
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.user.is_authenticated:
            if _csrf_rejected(request):
                return error_response(403, "csrf_failed", "CSRF token missing or incorrect")
            return view(request, *args, **kwargs)
        return api_login_required(view)(request, *args, **kwargs)

    return wrapper
