"""Login rate limiting: failed attempts counted per client IP and username in the cache."""

from __future__ import annotations

import functools
import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse

from apps.common.clientip import client_ip

# Several usernames from one address (credential stuffing) hit this wider per-IP limit.
PER_IP_FACTOR = 5


def _keys(request) -> list[tuple[str, int]]:
    limit = settings.LOGIN_RATE_LIMIT
    ip = client_ip(request)
    username = (request.POST.get("username") or "").strip().lower()
    user_key = hashlib.sha256(f"{ip}\0{username}".encode()).hexdigest()[:32]
    ip_key = hashlib.sha256(ip.encode()).hexdigest()[:32]
    return [(f"login-fail:u:{user_key}", limit), (f"login-fail:ip:{ip_key}", limit * PER_IP_FACTOR)]


def _window() -> int:
    return settings.LOGIN_RATE_WINDOW_S


def _blocked_for(keys: list[tuple[str, int]]) -> int:
    """Seconds until the attempts may resume, 0 when not blocked."""
    now = time.time()
    for key, limit in keys:
        entry = cache.get(key)
        # The cache entry expires with the window; the time check also covers caches whose
        # expiry is coarse (or a window shortened since the entry was written).
        if entry and entry["count"] >= limit and entry["start"] + _window() > now:
            return max(1, math.ceil(entry["start"] + _window() - now))
    return 0


def _record_failure(keys: list[tuple[str, int]]) -> None:
    now = time.time()
    for key, _limit in keys:
        entry = cache.get(key)
        if not entry or entry["start"] + _window() <= now:
            entry = {"start": now, "count": 0}
        entry["count"] += 1
        cache.set(key, entry, timeout=max(1, math.ceil(entry["start"] + _window() - now)))


def too_many_attempts(retry_after: int) -> HttpResponse:
    response = HttpResponse(
        "Too many failed login attempts. Try again later.\n",
        status=429,
        content_type="text/plain; charset=utf-8",
    )
    response["Retry-After"] = str(retry_after)
    return response


def login_rate_limited(view):
    """Wrap a login view: after settings.LOGIN_RATE_LIMIT failed POSTs from one IP for one
    username within LOGIN_RATE_WINDOW_S (or PER_IP_FACTOR times that for one IP), further POSTs
    get 429 with Retry-After until the window ends. A POST fails when the user is still not
    authenticated after the view ran; a successful login clears the per-username counter.

    Works for any view that logs users in with django.contrib.auth.login (LoginView, the admin
    login), e.g. ``path("login/", login_rate_limited(LoginView.as_view()))``.
    """

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method != "POST":
            return view(request, *args, **kwargs)
        keys = _keys(request)
        retry_after = _blocked_for(keys)
        if retry_after:
            return too_many_attempts(retry_after)
        response = view(request, *args, **kwargs)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            cache.delete(keys[0][0])
        else:
            _record_failure(keys)
        return response

    return wrapper
