"""Report validation against docs/report.schema.json, with every bad field named by JSON path.

The compiled validator (fastjsonschema) checks a good report in well under a millisecond; only
a bad report pays for the full validator that lists every error.
"""

from __future__ import annotations

import copy
import functools
import json

import fastjsonschema
from django.conf import settings
from jsonschema import Draft202012Validator, FormatChecker

from apps.common.timestamps import parse_timestamp

MAX_ERRORS = 50


@functools.cache
def report_schema() -> dict:
    with open(settings.REPORT_SCHEMA_PATH, encoding="utf-8") as fh:
        return json.load(fh)


@functools.cache
def _fast_validator():
    # fastjsonschema annotates the schema it compiles: give it a copy of the shared one.
    return fastjsonschema.compile(copy.deepcopy(report_schema()))


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
    try:
        _fast_validator()(payload)
    except fastjsonschema.JsonSchemaException:
        errors = []
        for error in _full_validator().iter_errors(payload):
            errors.append({"path": json_path(error.absolute_path), "message": error.message[:500]})
            if len(errors) >= MAX_ERRORS:
                break
        if errors:
            return sorted(errors, key=lambda e: e["path"])
        # Both validators must agree; if only the fast one objects, trust the full one.
    return _timestamp_errors(payload)[:MAX_ERRORS]
