"""Middleware sending agent uploads (POST /api/v1/reports) straight to their view.

An upload is a bearer-token JSON request: sessions, CSRF (the view is exempt), authentication,
messages, static files and the audit context have nothing to do for it, yet walking them and
resolving the URL was a measurable share of an upload's CPU. This middleware sits after
SecurityMiddleware and the NUL-byte check, calls the view directly, and adds the headers the
skipped middleware would have added (Content-Length, X-Frame-Options, Content-Security-Policy),
so the response is the same byte for byte. Every other request takes the full stack.

It also skips Django's per-request database health check (a SELECT 1 round trip) for uploads:
an upload's first statement is the credential lookup, which reconnects and retries once when
it finds the connection dead (MACHINE_CREDENTIAL_LOOKUP, apps.fleet.services), so the first
upload after a PostgreSQL restart still succeeds.
"""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.urls import get_script_prefix, resolve, reverse

from apps.common.middleware import add_csp_header

FAST_PATH_URL_NAME = "api:reports"


class IngestFastPathMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.xframe = XFrameOptionsMiddleware(get_response)
        self.routes: dict[str, tuple[str, object]] = {}  # script prefix → (path, view)

    def _route(self) -> tuple[str, object]:
        prefix = get_script_prefix()
        route = self.routes.get(prefix)
        if route is None:
            path = reverse(FAST_PATH_URL_NAME)
            route = self.routes[prefix] = (path, resolve(path[len(prefix) - 1 :]).func)
        return route

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return self.get_response(request)
        path, view = self._route()
        if request.path != path:
            return self.get_response(request)
        connection.health_check_done = True  # see the module docstring
        # In the order the full stack adds them, so the headers come out in the same order.
        response = add_csp_header(view(request))
        response = self.xframe.process_response(request, response)
        if not response.streaming and not response.has_header("Content-Length"):
            response.headers["Content-Length"] = str(len(response.content))
        return response
