"""The OpenAPI 3.1 document of everything under /api/v1/ (document.py assembles it; findings.py
holds the findings, rules, check and fixes parts)."""

from apps.api.openapi.document import openapi_document

__all__ = ["openapi_document"]
