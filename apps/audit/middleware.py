"""Makes the current request (actor and client IP) known to the audit signal handlers."""

from __future__ import annotations

from apps.audit.context import current_request


class AuditContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            current_request.reset(token)
