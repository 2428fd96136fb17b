"""Reading an upload's body safely: content type, size cap, gzip with a decompression cap."""

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
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BodyError(400, "invalid_json", f"body is not valid JSON: {exc}") from exc
