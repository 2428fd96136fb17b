"""Read-API authentication: a logged-in session or a personal API token (Bearer dfp_…)."""

from __future__ import annotations

import functools

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
