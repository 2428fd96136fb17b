"""JSON responses, bearer-token parsing and @machine_required, shared by every JSON endpoint."""

from __future__ import annotations

import functools

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

UNKNOWN_CREDENTIAL = "unknown or revoked machine credential"


def json_response(data, status: int = 200, headers: dict | None = None) -> HttpResponse:
    return HttpResponse(
        orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


def error_response(status: int, code: str, message: str, errors=None, headers=None) -> HttpResponse:
    body = {"error": code, "detail": message}
    if errors is not None:
        body["errors"] = errors
    return json_response(body, status=status, headers=headers)


def bearer_token(request: HttpRequest) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@functools.cache
def _credential_lookup():
    # Named in settings rather than imported: apps.common sits below every other app
    # (apps.fleet itself depends on it through apps.audit), so it imports none of them.
    return import_string(settings.MACHINE_CREDENTIAL_LOOKUP)


def machine_required(view=None, *, detail: str = UNKNOWN_CREDENTIAL):
    """The request's bearer token must be an active machine credential; the view finds its
    machine in `request.machine`. Otherwise 401 with `detail` and a Bearer challenge."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            machine = _credential_lookup()(bearer_token(request))
            if machine is None:
                return error_response(
                    401,
                    "unauthorized",
                    detail,
                    headers={"WWW-Authenticate": 'Bearer realm="devfleet"'},
                )
            request.machine = machine
            return view(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate
