"""The one outbound seam of alerts: every HTTP request to a channel target connects through here.

Rule (as healthchecks does with curl's socket callback): a host is resolved once, every address
it resolves to is vetted, and the connection goes to a vetted address, so a DNS answer that
changes between the check and the connect (rebinding) cannot reach an internal host. Loopback,
private, link-local, multicast, reserved and other non-global addresses are refused unless
ALERTS_ALLOW_PRIVATE_TARGETS is true or the address is inside ALERTS_ALLOWED_PRIVATE_NETWORKS.
Redirects are followed only through the same check. Apprise's HTTP plugins (requests/urllib3)
are held to the same rule by `guarded()`. Error text never carries the remote response body.
"""

from __future__ import annotations

import contextlib
import contextvars
import http.client
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urljoin, urlsplit

from apps.alerts import conf

MAX_REDIRECTS = 3
REDIRECTS = {301, 302, 303, 307, 308}
NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundError(Exception):
    """A request that was refused or failed; `message` is safe to show to the channel's owner."""

    def __init__(self, message: str, *, permanent: bool = False, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status = status


def _embedded_v4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64), if any."""
    if ip.version != 6:
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    names = conf.get("ALERTS_ALLOWED_PRIVATE_NETWORKS")
    return [ipaddress.ip_network(n, strict=False) for n in names]


def address_allowed(ip: IPAddress) -> bool:
    """True when alert requests may connect to this address under the current settings."""
    if conf.get("ALERTS_ALLOW_PRIVATE_TARGETS"):
        return True
    if any(ip in net for net in _allowed_networks() if net.version == ip.version):
        return True
    inner = _embedded_v4(ip)
    if inner is not None and not address_allowed(inner):
        return False
    return ip.is_global and not ip.is_multicast


def _ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%")[0])  # drop an IPv6 zone (fe80::1%eth0)


def vetted_addresses(host: str, port: int) -> list[tuple]:
    """Resolve once; return the getaddrinfo rows whose address is allowed, or refuse."""
    if not host:
        raise OutboundError("the URL has no host", permanent=True)
    try:
        rows = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundError("cannot resolve the target's host name") from exc
    allowed = [row for row in rows if address_allowed(_ip(row[4][0]))]
    if not allowed:
        raise OutboundError(
            "refused: the target is not a public address (loopback, private, link-local, "
            "multicast or reserved)",
            permanent=True,
        )
    return allowed


def open_socket(host: str, port: int, timeout: float | None, socket_options=None) -> socket.socket:
    """Connect to a vetted address of host:port (never re-resolving the name)."""
    last: OSError | None = None
    for family, kind, proto, _, address in vetted_addresses(host, port):
        sock = socket.socket(family, kind, proto)
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            sock.settimeout(timeout)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last or OSError("no address to connect to")


class _HTTPConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        self.sock = open_socket(self.host, self.port, self.timeout)


class _HTTPSConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        sock = open_socket(self.host, self.port, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def parse_http_url(url: str):
    """Split an http(s) URL or raise OutboundError (permanent) naming what is wrong."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise OutboundError("the URL contains spaces or control characters", permanent=True)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundError("the URL is not valid", permanent=True) from exc
    if parts.scheme not in ("http", "https"):
        raise OutboundError("the URL must start with http:// or https://", permanent=True)
    if not parts.hostname:
        raise OutboundError("the URL has no host", permanent=True)
    default = 443 if parts.scheme == "https" else 80
    return parts, port or default


def _request_once(method: str, url: str, body: bytes | None, headers: dict, timeout: float):
    parts, port = parse_http_url(url)
    cls = _HTTPSConnection if parts.scheme == "https" else _HTTPConnection
    kwargs = {"context": ssl.create_default_context()} if parts.scheme == "https" else {}
    conn = cls(parts.hostname, port, timeout=timeout, **kwargs)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read(65536)  # drained, never echoed: a body may carry what an internal host says
        return resp.status, resp.getheader("Location")
    finally:
        conn.close()


def post(url: str, body: bytes, headers: dict | None = None) -> int:
    """POST body to url through the vetting rule, following at most MAX_REDIRECTS redirects
    (307/308 repeat the POST, 301/302/303 become a GET, as browsers do; never https → http).
    Returns the final 2xx status; raises OutboundError otherwise."""
    timeout = conf.get("ALERTS_HTTP_TIMEOUT_S")
    all_headers = {"Content-Type": "application/json", "User-Agent": "devfleet-alerts"}
    all_headers.update(headers or {})
    method, payload = "POST", body
    for _ in range(MAX_REDIRECTS + 1):
        try:
            status, location = _request_once(method, url, payload, all_headers, timeout)
        except http.client.InvalidURL as exc:
            raise OutboundError("the URL is not valid", permanent=True) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise OutboundError(f"cannot reach the target: {_reason(exc)}") from exc
        except ValueError as exc:  # e.g. a host name IDNA cannot encode
            raise OutboundError("the URL is not valid", permanent=True) from exc
        if status in REDIRECTS and location:
            nxt = urljoin(url, location)
            if urlsplit(url).scheme == "https" and urlsplit(nxt).scheme == "http":
                raise OutboundError("refused: redirect from https to http", permanent=True)
            if status in (301, 302, 303):
                method, payload = "GET", None
                all_headers.pop("Content-Type", None)
            url = nxt
            continue
        if 200 <= status < 300:
            return status
        raise OutboundError(f"HTTP {status}", permanent=classify_status(status), status=status)
    raise OutboundError(f"refused: more than {MAX_REDIRECTS} redirects", permanent=True)


def classify_status(status: int) -> bool:
    """True when an HTTP error status is permanent (the target is wrong, not busy)."""
    return 400 <= status < 500 and status not in (408, 425, 429)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({exc.reason or 'handshake failed'})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, http.client.HTTPException):
        return "invalid HTTP response"
    return getattr(exc, "strerror", None) or type(exc).__name__


# --- Apprise: its HTTP plugins connect through urllib3; hold those connections to the rule ---
# None outside a guarded block; inside, the list collects refusals (shared with copied contexts).
_guard: contextvars.ContextVar[list | None] = contextvars.ContextVar("alerts_guard", default=None)
_original_create_connection = None


def _guarded_create_connection(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None,
                               socket_options=None):  # fmt: skip
    refusals = _guard.get()
    if refusals is None:
        return _original_create_connection(address, timeout, source_address, socket_options)
    host, port = address
    if not isinstance(timeout, int | float):  # None or a library's "default" sentinel
        timeout = conf.get("ALERTS_HTTP_TIMEOUT_S")
    try:
        return open_socket(host.strip("[]"), port, timeout, socket_options)
    except OutboundError as exc:
        if exc.permanent:
            refusals.append(exc)
        raise OSError(exc.message) from exc


def _install_urllib3_hook() -> None:
    """Route urllib3's connections through open_socket while `guarded()` is active in this
    context. urllib3 looks the function up on its module at each connect, so replacing it once
    is enough; outside a guarded block it behaves exactly as before."""
    global _original_create_connection
    if _original_create_connection is not None:
        return
    try:
        from urllib3.util import connection
    except ImportError:  # pragma: no cover - apprise (and so urllib3) is optional
        return
    _original_create_connection = connection.create_connection
    connection.create_connection = _guarded_create_connection


@contextlib.contextmanager
def guarded() -> Iterator[list[OutboundError]]:
    """Inside this block (and threads started with a copy of its context, as Apprise does),
    every urllib3 connection is vetted by the rule above; yields the refusals it made."""
    _install_urllib3_hook()
    refusals: list[OutboundError] = []
    token = _guard.set(refusals)
    try:
        yield refusals
    finally:
        _guard.reset(token)
