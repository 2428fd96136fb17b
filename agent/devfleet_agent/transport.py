"""HTTPS client over urllib: verified TLS (custom CA), gzip JSON, Bearer credential."""

from __future__ import annotations

import email.utils
import gzip
import json
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from devfleet_agent import __version__


class TransportError(Exception):
    """Network-level failure (DNS, refused, TLS, timeout): always retried with backoff."""


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    text: str = ""

    def retry_after(self, now: float | None = None) -> float | None:
        """Retry-After as seconds (delta-seconds or an HTTP date)."""
        raw = self.headers.get("retry-after")
        if not raw:
            return None
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(raw).timestamp()
        except (TypeError, ValueError):
            return None
        return max(0.0, when - (now if now is not None else time.time()))


def ssl_context(ca_file: str = "") -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file or None)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def post_json(url: str, payload: Any, *, credential: str | None = None, timeout: float = 20.0,
              ca_file: str = "", compress: bool = True) -> Response:
    """POST a JSON document; returns the Response for any HTTP status, raises TransportError."""
    body = payload if isinstance(payload, bytes) else json.dumps(
        payload, separators=(",", ":")).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json",
               "User-Agent": f"devfleet-agent/{__version__}"}
    if compress:
        body = gzip.compress(body, compresslevel=6)
        headers["Content-Encoding"] = "gzip"
    if credential:
        headers["Authorization"] = f"Bearer {credential}"
    return request("POST", url, body, headers, timeout, ca_file)


def request(method: str, url: str, body: bytes | None, headers: dict[str, str],
            timeout: float, ca_file: str = "") -> Response:
    req = urllib.request.Request(url, data=body, headers=headers, method=method)
    kwargs: dict[str, Any] = {"timeout": timeout}
    if url.startswith("https:"):
        kwargs["context"] = ssl_context(ca_file)
    try:
        with urllib.request.urlopen(req, **kwargs) as resp:
            return _response(resp.status, dict(resp.headers.items()), resp.read(4 << 20))
    except urllib.error.HTTPError as exc:
        try:
            data = exc.read(1 << 20)
        except OSError:
            data = b""
        return _response(exc.code, dict(exc.headers.items()) if exc.headers else {}, data)
    except (urllib.error.URLError, OSError, ssl.SSLError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TransportError(f"{type(exc).__name__}: {reason}") from exc


def _response(status: int, headers: dict[str, str], data: bytes) -> Response:
    text = data.decode("utf-8", "replace")
    try:
        body = json.loads(text) if text.strip() else None
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python recurses
        body = None
    return Response(status, {k.lower(): v for k, v in headers.items()}, body, text[:4000])
