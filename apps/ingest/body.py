"""Reading an upload's body safely: content type, size cap, gzip with a decompression cap.

U+0000 in any string or key becomes U+FFFD: PostgreSQL stores NUL in neither text nor jsonb,
and refusing the whole report for one odd character (a settings file, a process name) would
lose the rest of it.
"""

from __future__ import annotations

import zlib

import orjson
from django.conf import settings


class BodyError(Exception):
    """The body cannot be accepted; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _read_capped(request, cap: int) -> bytes:
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > cap:
        raise BodyError(413, "too_large", f"body of {declared} bytes is over the {cap} byte cap")
    data = request.read(cap + 1)
    if len(data) > cap:
        raise BodyError(413, "too_large", f"body is over the {cap} byte cap")
    return data


def _gunzip_capped(data: bytes, cap: int) -> bytes:
    inflater = zlib.decompressobj(wbits=47)  # 32 + 15: gzip or zlib header, auto-detected
    try:
        out = inflater.decompress(data, cap + 1)
    except zlib.error as exc:
        raise BodyError(400, "bad_encoding", f"body is not valid gzip: {exc}") from exc
    if len(out) > cap or inflater.unconsumed_tail:
        raise BodyError(413, "too_large", f"body decompresses to more than the {cap} byte cap")
    if not inflater.eof:
        raise BodyError(400, "bad_encoding", "gzip stream is truncated")
    return out


def read_json_body(request):
    """Return the parsed JSON body of an upload or raise BodyError."""
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise BodyError(415, "unsupported_media_type", "Content-Type must be application/json")
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "identity").strip().lower()
    if encoding not in ("identity", "", "gzip"):
        raise BodyError(415, "unsupported_encoding", "Content-Encoding must be gzip or absent")
    data = _read_capped(request, settings.INGEST_MAX_BODY_BYTES)
    if encoding == "gzip":
        data = _gunzip_capped(data, settings.INGEST_MAX_DECOMPRESSED_BYTES)
    elif len(data) > settings.INGEST_MAX_DECOMPRESSED_BYTES:
        raise BodyError(413, "too_large", "body is over the size cap")
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BodyError(400, "invalid_json", f"body is not valid JSON: {exc}") from exc
    # JSON can only carry NUL escaped, so bodies without the escape skip the walk.
    return replace_nul(body) if b"\\u0000" in data else body


def replace_nul(value):
    """Replace U+0000 by U+FFFD in every string and key of a parsed JSON value (in place).

    Iterative: orjson accepts nesting deeper than Python's recursion limit.
    """
    if isinstance(value, str):
        return value.replace("\0", "\ufffd")
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            for index, item in enumerate(node):
                if isinstance(item, str):
                    node[index] = item.replace("\0", "\ufffd")
                elif isinstance(item, (list, dict)):
                    stack.append(item)
        elif isinstance(node, dict):
            for key, item in list(node.items()):
                if isinstance(item, str):
                    item = item.replace("\0", "\ufffd")
                elif isinstance(item, (list, dict)):
                    stack.append(item)
                if "\0" in key:
                    del node[key]
                    key = key.replace("\0", "\ufffd")
                node[key] = item
    return value
