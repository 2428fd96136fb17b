"""Real local servers standing in for chat/webhook endpoints (http.server) and SMTP (aiosmtpd)."""

from __future__ import annotations

import email
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


class HttpReceiver:
    """Records every request; a path's status can be set (e.g. /gone → 410, /down → 500), its
    answer body (bodies) and a redirect (redirects: path → Location, with status 307 unless
    statuses says otherwise)."""

    def __init__(self, host: str = "127.0.0.1", tls: tuple[str, str] | None = None) -> None:
        self.requests: list[dict] = []
        self.statuses: dict[str, int] = {}
        self.bodies: dict[str, bytes] = {}
        self.redirects: dict[str, str] = {}
        self.delay = 0.0  # seconds before answering, so a test can kill a sender mid-request
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests.append(
                        {
                            "method": self.command,
                            "path": self.path,
                            "headers": dict(self.headers),
                            "body": body,
                        }
                    )
                location = receiver.redirects.get(self.path)
                status = receiver.statuses.get(self.path, 307 if location else 200)
                time.sleep(receiver.delay)
                try:
                    self.send_response(status)
                    if location:
                        self.send_header("Location", location)
                    self.end_headers()
                    self.wfile.write(receiver.bodies.get(self.path, b"ok"))
                except OSError:  # the sender was killed while waiting for the answer
                    pass

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.scheme = "http"
        if tls:  # (certificate file, key file): serve HTTPS
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{self.scheme}://{host}:{port}"

    def posts(self, path: str) -> list[dict]:
        with self.lock:
            return [
                {**r, "json": json.loads(r["body"])} for r in self.requests if r["path"] == path
            ]

    def distinct_keys(self, path: str | None = None) -> set[str]:
        with self.lock:
            return {
                r["headers"].get("Idempotency-Key")
                for r in self.requests
                if path is None or r["path"] == path
            }

    def start(self) -> HttpReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _MailHandler:
    def __init__(self, sink: SmtpReceiver) -> None:
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("bounce"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.sink.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted"


class SmtpReceiver:
    """An aiosmtpd server on a free local port; parsed messages land in .messages."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []
        self.controller = Controller(_MailHandler(self), hostname="127.0.0.1", port=free_port())

    def start(self) -> SmtpReceiver:
        self.controller.start()
        return self

    @property
    def port(self) -> int:
        return self.controller.port

    def stop(self) -> None:
        self.controller.stop()

    def bodies(self) -> list[str]:
        out = []
        for msg in self.messages:
            part = next(p for p in msg.walk() if p.get_content_type() == "text/plain")
            out.append(part.get_payload(decode=True).decode())
        return out
