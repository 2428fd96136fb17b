"""Property tests of the ingest parsers: the body reader (type, size caps, gzip), timestamps
and report validation. Hostile input only ever gives the documented error: BodyError with a
4xx status, ValueError for a timestamp, a list of {path, message} for a report.
"""

from __future__ import annotations

import copy
import gzip
import json
import zlib
from datetime import datetime, timedelta, timezone

import orjson
from django.test import RequestFactory, override_settings
from hypothesis import example, given
from hypothesis import strategies as st

from apps.ingest.body import BodyError, read_json_body, replace_nul
from apps.ingest.validation import MAX_ERRORS, parse_timestamp, validate_report
from tests.conftest import EXAMPLE_REPORT

EXAMPLE = json.loads(EXAMPLE_REPORT.read_text())
factory = RequestFactory()

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)


def _read(request):
    """(parsed body, None) or (None, the BodyError)."""
    try:
        return read_json_body(request), None
    except BodyError as exc:
        return None, exc


def _request(body: bytes, content_type: str, encoding: str | None):
    extra = {"HTTP_CONTENT_ENCODING": encoding} if encoding is not None else {}
    return factory.post("/api/v1/reports", data=body, content_type=content_type, **extra)


# ---- body: content type, caps, gzip ---------------------------------------------------------


@given(
    st.binary(max_size=3000),
    st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", ""]),
    st.sampled_from([None, "gzip", "GZIP ", "identity", "deflate", "br", ""]),
)
@example(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", "application/json", "gzip")  # truncated
@example(gzip.compress(b"[" * 5000 + b"]" * 5000), "application/json", "gzip")
@example(b"\x00" * 100, "application/json", None)
def test_any_body_parses_or_raises_a_client_error(body, content_type, encoding):
    with override_settings(INGEST_MAX_BODY_BYTES=2048, INGEST_MAX_DECOMPRESSED_BYTES=4096):
        _, error = _read(_request(body, content_type, encoding))
    if error is not None:
        assert 400 <= error.status < 500
        assert error.code
        assert error.message


@given(json_values, st.booleans(), st.integers(1, 9))
def test_json_round_trips_plain_and_gzipped(value, gzipped, level):
    raw = orjson.dumps(value)
    body = gzip.compress(raw, compresslevel=level) if gzipped else raw
    request = _request(body, "application/json", "gzip" if gzipped else None)
    assert read_json_body(request) == replace_nul(orjson.loads(raw))


@given(st.integers(0, 6000), st.integers(64, 4096), st.booleans())
def test_bodies_over_either_cap_are_413_under_both_caps_are_read(size, cap, gzipped):
    raw = b'"' + b"a" * size + b'"'
    body = gzip.compress(raw) if gzipped else raw
    request = _request(body, "application/json", "gzip" if gzipped else None)
    with override_settings(INGEST_MAX_BODY_BYTES=cap, INGEST_MAX_DECOMPRESSED_BYTES=2 * cap):
        parsed, error = _read(request)
    if error is not None:
        assert error.status == 413
        assert len(body) > cap or len(raw) > 2 * cap
    else:
        assert parsed == "a" * size
        assert len(body) <= cap
        assert len(raw) <= 2 * cap


@given(st.binary(min_size=1, max_size=200), st.integers(0, 9))
def test_zlib_wrapped_and_concatenated_gzip_do_not_crash(data, level):
    for body in (zlib.compress(data, level), gzip.compress(data) + gzip.compress(data)):
        _, error = _read(_request(body, "application/json", "gzip"))
        assert error is None or error.status in (400, 413)


# ---- timestamps -----------------------------------------------------------------------------

# hypothesis takes naive bounds and adds the time zone.
aware = st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(2999, 12, 30),
    timezones=st.just(timezone.utc),
)


@given(aware, st.integers(-23 * 60 - 59, 23 * 60 + 59), st.sampled_from([0, 3, 6]))
def test_timestamps_round_trip_in_any_offset(moment, offset_min, digits):
    local = moment.astimezone(timezone(timedelta(minutes=offset_min)))
    text = local.isoformat(timespec={0: "seconds", 3: "milliseconds", 6: "microseconds"}[digits])
    parsed = parse_timestamp(text.replace("+00:00", "Z"))
    assert parsed.tzinfo is not None
    assert parsed.utcoffset() == timedelta(0)
    assert parsed == moment.replace(
        microsecond=moment.microsecond // 10 ** (6 - digits) * 10 ** (6 - digits)
    )


@given(st.text(max_size=45))
@example("9999-12-31T23:59:59-23:59")
@example("0001-01-01T00:00:00+23:59")
@example("2026-02-30T00:00:00Z")
@example("2026-11-23T10:00:00")
@example("2026-11-23T10:00:00.123456789Z")
def test_any_text_is_a_utc_timestamp_in_range_or_a_value_error(text):
    try:
        parsed = parse_timestamp(text)
    except ValueError:
        return
    assert parsed.utcoffset() == timedelta(0)
    assert 1970 <= parsed.year <= 2999


# ---- report validation ----------------------------------------------------------------------


def _paths(value, prefix=()):
    """Every (path, container) inside a JSON value, to mutate one spot of the example."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


EXAMPLE_PATHS = list(_paths(EXAMPLE))[1:]


@st.composite
def mutated_reports(draw):
    report = copy.deepcopy(EXAMPLE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(EXAMPLE_PATHS))
        parent = report
        try:
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue
    return report


def _check_errors(errors):
    assert isinstance(errors, list)
    assert len(errors) <= MAX_ERRORS
    for error in errors:
        assert set(error) == {"path", "message"}
        assert error["path"].startswith("$")
        assert len(error["message"]) <= 500


@given(json_values)
def test_any_json_value_validates_to_a_list_of_errors(payload):
    errors = validate_report(payload)
    _check_errors(errors)
    if not isinstance(payload, dict):
        assert errors


@given(mutated_reports())
def test_a_mutated_example_report_validates_to_a_list_of_errors(report):
    _check_errors(validate_report(report))


def test_the_example_report_is_valid():
    assert validate_report(copy.deepcopy(EXAMPLE)) == []


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)


@given(json_values)
def test_no_string_or_key_of_a_read_body_holds_a_nul(value):
    raw = orjson.dumps(value)
    parsed, error = _read(_request(raw, "application/json", None))
    assert error is None
    assert not any("\0" in s for s in _strings(parsed))
    if "\ufffd" not in raw.decode():  # else a replaced key may collide with an existing one
        expected = sorted(s.replace("\0", "\ufffd") for s in _strings(orjson.loads(raw)))
        assert sorted(_strings(parsed)) == expected


def test_nul_replacement_survives_nesting_deeper_than_the_recursion_limit():
    raw = b'{"a":' * 1000 + b'"\\u0000"' + b"}" * 1000
    parsed, error = _read(_request(raw, "application/json", None))
    assert error is None
    for _ in range(1000):
        parsed = parsed["a"]
    assert parsed == "\ufffd"
