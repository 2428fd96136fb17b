"""Offset pagination shared by the JSON list endpoints."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from apps.common.http import error_response, json_response

PAGE_SIZE = 100
MAX_LIMIT = 1000
# Bounded: databases refuse integers past 64 bits ("datatype mismatch" on SQLite).
MAX_OFFSET = 10**9


def paginated(request: HttpRequest, queryset, serialize) -> HttpResponse:
    """One page of an ordered queryset as {count, offset, limit, results}; 400 on bad params."""
    try:
        offset = min(MAX_OFFSET, max(0, int(request.GET.get("offset", 0))))
        limit = min(MAX_LIMIT, max(1, int(request.GET.get("limit", PAGE_SIZE))))
    except ValueError:
        return error_response(400, "invalid_request", "offset and limit must be integers")
    page = queryset[offset : offset + limit]
    return json_response(
        {
            "count": queryset.count(),
            "offset": offset,
            "limit": limit,
            "results": [serialize(item) for item in page],
        }
    )
