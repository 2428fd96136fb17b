"""API authentication: a logged-in session or a personal API token (Bearer dfp_…).

A token is read-only unless created with the write scope; acknowledge and snooze need write.
"""

from __future__ import annotations

import functools

from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from apps.common.http import bearer_token, error_response
from apps.fleet.models import ApiToken
from apps.fleet.services import api_token_for


def _token_user(request, *, write: bool):
    """Authenticate `request` by its bearer token; an error response, or None when it may go on."""
    token = api_token_for(bearer_token(request))
    if token is None:
        return error_response(
            401,
            "unauthorized",
            "log in or send a personal API token",
            headers={"WWW-Authenticate": 'Bearer realm="devfleet"'},
        )
    if write and token.scope != ApiToken.Scope.WRITE:
        return error_response(
            403,
            "insufficient_scope",
            "this API token is read-only; acknowledge and snooze need a token with write scope",
            headers={"WWW-Authenticate": 'Bearer realm="devfleet", error="insufficient_scope"'},
        )
    request.user = token.user
    return None


def api_login_required(view):
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            refused = _token_user(request, write=False)
            if refused is not None:
                return refused
        return view(request, *args, **kwargs)

    return wrapper


def _csrf_rejected(request) -> bool:
    middleware = CsrfViewMiddleware(lambda r: None)
    middleware.process_request(request)
    return middleware.process_view(request, None, (), {}) is not None


def api_write_required(view):
    """For requests that change something: a session must also pass Django's CSRF check (403
    otherwise); a personal API token needs no CSRF (no cookie involved) but the write scope."""

    @csrf_exempt
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.user.is_authenticated:
            if _csrf_rejected(request):
                return error_response(403, "csrf_failed", "CSRF token missing or incorrect")
            return view(request, *args, **kwargs)
        refused = _token_user(request, write=True)
        if refused is not None:
            return refused
        return view(request, *args, **kwargs)

    return wrapper
