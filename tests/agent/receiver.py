"""A scripted local HTTP receiver standing in for the devfleet server in agent tests."""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """Records every request; answers from a script of (status, body, headers) or a default."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[tuple[int, Any, dict[str, str]]] = []
        self.default: tuple[int, Any, dict[str, str]] = (200, None, {})
        self.hang = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = (
                    gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
                )
                try:
                    doc = json.loads(body) if body else None
                except ValueError:
                    doc = None
                outer.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "json": doc,
                        "raw_bytes": len(raw),
                    }
                )
                status, payload, headers = outer.script.pop(0) if outer.script else outer.default
                if callable(payload):
                    payload = payload(doc)
                if payload is None and status == 200 and isinstance(doc, dict):
                    payload = {
                        "accepted": len(doc.get("samples", [])),
                        "duplicates": 0,
                        "received_at": "2026-11-23T10:00:00Z",
                        "clock_skew_s": 0.1,
                        "instructions": {
                            "collect_interval_s": 15,
                            "upload_interval_s": 60,
                            "capture_profiles": [],
                        },
                    }
                data = json.dumps(payload).encode() if payload is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_POST = _reply
            do_GET = _reply

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def samples(self) -> list[dict[str, Any]]:
        out = []
        for r in self.requests:
            if r["json"] and r["path"].endswith("/reports"):
                out.extend(r["json"]["samples"])
        return out
