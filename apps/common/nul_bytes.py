"""Middleware answering 400 to URLs with NUL characters, which PostgreSQL cannot store."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse


class RejectNulBytesMiddleware:
    """A NUL in a filter value or a path id would reach the database and fail there as a 500;
    say 400."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in query or "%00" in query or "\x00" in request.path_info:
            return HttpResponse(
                '{"error": "invalid_request", "detail": "NUL characters are not allowed"}',
                status=400,
                content_type="application/json",
            )
        return self.get_response(request)
