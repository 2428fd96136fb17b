"""Content-Security-Policy header on every response (settings.CSP_POLICY)."""

from __future__ import annotations

from django.conf import settings


class ContentSecurityPolicyMiddleware:
    """Adds settings.CSP_POLICY unless the view set its own policy.

    An empty CSP_POLICY turns the header off; CSP_REPORT_ONLY sends it as
    Content-Security-Policy-Report-Only, to try a stricter policy without breaking pages.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return add_csp_header(self.get_response(request))


def add_csp_header(response):
    """Set settings.CSP_POLICY on the response unless it carries a policy of its own."""
    policy = getattr(settings, "CSP_POLICY", "")
    if policy:
        header = (
            "Content-Security-Policy-Report-Only"
            if getattr(settings, "CSP_REPORT_ONLY", False)
            else "Content-Security-Policy"
        )
        response.headers.setdefault(header, policy)
    return response
