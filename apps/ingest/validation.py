"""Report validation against docs/report.schema.json, with every bad field named by JSON path.

The fast path checks the decoded report with msgspec types generated from the same JSON Schema
(apps/ingest/schema_types.py) plus the few residual checks a Struct cannot express: tens of
microseconds for a good report. Whatever the fast path refuses is judged by the full Draft
2020-12 validator, which lists every error (and has the last word: the fast path is at most
stricter, never looser). The calendar check of timestamps runs on every report.
"""

from __future__ import annotations

import copy
import functools
import json

import msgspec
from django.conf import settings
from jsonschema import Draft202012Validator, FormatChecker

from apps.common.timestamps import parse_timestamp
from apps.ingest.schema_types import ITEMS, VALUES, compile_schema

MAX_ERRORS = 50


@functools.cache
def report_schema() -> dict:
    with open(settings.REPORT_SCHEMA_PATH, encoding="utf-8") as fh:
        return json.load(fh)


@functools.cache
def _fast_validator():
    """A function that returns True when the report is valid, False when unsure."""
    report_type, residual = compile_schema(report_schema())
    # jsonschema's own format functions (the full validator's), without the dispatch around them.
    format_functions = FormatChecker().checkers
    trie = ([], {})  # (checks here, {path part: sub-trie}): shared prefixes are walked once
    for path, keyword, argument in residual:
        if keyword == "format":
            check = format_functions[argument][0]
        elif keyword == "maxProperties":
            check = functools.partial(_at_most_properties, argument)
        else:  # compile_schema only returns the keywords above
            raise AssertionError(f"residual check {keyword!r} has no implementation")
        node = trie
        for part in path:
            node = node[1].setdefault(part, ([], {}))
        node[0].append(check)
    convert = msgspec.convert

    def validate(payload) -> bool:
        try:
            convert(payload, report_type)
        except (msgspec.ValidationError, RecursionError):
            return False
        return _residual_ok(payload, trie)

    return validate


def _at_most_properties(limit: int, value) -> bool:
    return not isinstance(value, dict) or len(value) <= limit


def _residual_ok(value, trie) -> bool:
    """Run the residual checks of `trie` on `value` and below (a report msgspec accepted)."""
    checks, children = trie
    for check in checks:
        if not check(value):
            return False
    for part, sub in children.items():
        if part is ITEMS:
            if isinstance(value, list):
                for item in value:
                    if not _residual_ok(item, sub):
                        return False
        elif part is VALUES:
            if isinstance(value, dict):
                for item in value.values():
                    if not _residual_ok(item, sub):
                        return False
        elif isinstance(value, dict) and part in value and not _residual_ok(value[part], sub):
            return False
    return True


def prepare_validators() -> None:
    """Build the fast validator now (at app start): SchemaNotSupported surfaces here."""
    _fast_validator()


@functools.cache
def _full_validator() -> Draft202012Validator:
    return Draft202012Validator(copy.deepcopy(report_schema()), format_checker=FormatChecker())


def json_path(parts) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _timestamp_errors(payload: dict) -> list[dict]:
    """Dates the schema's pattern lets through but the calendar does not (2026-02-30)."""
    errors = []
    candidates = [(("sent_at",), payload.get("sent_at"))]
    for index, sample in enumerate(payload.get("samples", [])):
        candidates.append((("samples", index, "collected_at"), sample.get("collected_at")))
        for pindex, proc in enumerate(sample.get("gopls") or []):
            candidates.append(
                (("samples", index, "gopls", pindex, "start_time"), proc.get("start_time"))
            )
    for index, fix in enumerate(payload.get("fixes") or []):
        candidates.append((("fixes", index, "applied_at"), fix.get("applied_at")))
    for index, profile in enumerate(payload.get("profiles") or []):
        if profile.get("captured_at") is not None:
            candidates.append((("profiles", index, "captured_at"), profile["captured_at"]))
    for parts, value in candidates:
        try:
            parse_timestamp(value)
        except (TypeError, ValueError) as exc:
            errors.append({"path": json_path(parts), "message": f"not a valid timestamp: {exc}"})
    return errors


def validate_report(payload) -> list[dict]:
    """Return a list of {path, message} errors; empty when the report is valid."""
    if not _fast_validator()(payload):
        errors = []
        for error in _full_validator().iter_errors(payload):
            errors.append({"path": json_path(error.absolute_path), "message": error.message[:500]})
            if len(errors) >= MAX_ERRORS:
                break
        if errors:
            return sorted(errors, key=lambda e: e["path"])
        # Both validators must agree; if only the fast one objects, trust the full one.
    return _timestamp_errors(payload)[:MAX_ERRORS]
