"""The request being served, if any (a context variable: safe with threads and async)."""

from __future__ import annotations

from contextvars import ContextVar

current_request: ContextVar = ContextVar("devfleet_audit_request", default=None)
