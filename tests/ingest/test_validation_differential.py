"""Differential test: the fast report validator (msgspec types generated from
docs/report.schema.json) against the reference, jsonschema's Draft 2020-12 validator with its
format checker, over reports built from the schema and mutated field by field.

Every case goes through the path an upload takes: JSON text (some mutations exist only as text:
NaN, Infinity, integers past 64 bits, duplicate keys, NUL escapes), parsed by the body reader's
rules (orjson, then U+0000 replaced), then validated. A text the body reader refuses never
reaches validation; the cases count those separately.

The fast validator alone must agree with the reference on every case (so the full validator
runs only for bad reports); validate_report must agree with the reference plus the calendar
check of timestamps that validate_report has always added.
"""

from __future__ import annotations

import copy
import json
import random

import orjson
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from apps.ingest import validation
from apps.ingest.body import replace_nul
from apps.ingest.schema_types import SchemaNotSupported, compile_schema

SCHEMA = validation.report_schema()
DEFS = SCHEMA["$defs"]
REFERENCE = Draft202012Validator(copy.deepcopy(SCHEMA), format_checker=FormatChecker())

# A good value for each pattern the schema uses; a new pattern must be added here.
PATTERN_EXAMPLES = {
    DEFS["timestamp"]["pattern"]: "2026-12-04T10:00:00Z",
    DEFS["sample"]["properties"]["id"]["pattern"]: "sample-0001:a.b_c",
    DEFS["applied_fix"]["properties"]["id"]["pattern"]: "fix_0001-a",
}
FREE_FORM = {"a": 1, "b": [1, "x", None, {"c": 2.5}], "d": {"e": True}}


def _deref(node):
    while "$ref" in node:
        node = DEFS[node["$ref"].removeprefix("#/$defs/")]
    return node


def good(node, rng: random.Random, minimal: bool = False):
    """A valid instance of a schema node: with every optional property, or only required ones."""
    node = _deref(node)
    if "oneOf" in node:
        return good(node["oneOf"][0], rng, minimal)  # the non-null branch comes first
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return rng.choice([v for v in node["enum"] if v is not None])
    types = node["type"] if isinstance(node["type"], list) else [node["type"]]
    kind = next(t for t in types if t != "null")
    if kind == "string":
        if "pattern" in node:
            assert node["pattern"] in PATTERN_EXAMPLES, (
                f"no example for pattern {node['pattern']!r}: add one to PATTERN_EXAMPLES"
            )
            return PATTERN_EXAMPLES[node["pattern"]]
        length = max(node.get("minLength", 0), min(node.get("maxLength", 8), rng.randint(1, 8)))
        return "".join(rng.choice("abcé€😀 ") for _ in range(length))
    if kind == "integer":
        low, high = node.get("minimum", -5), node.get("maximum", 2**40)
        return rng.choice([low, high, rng.randint(low, min(high, 2**40))])
    if kind == "number":
        low, high = node.get("minimum", -5), node.get("maximum", 1e6)
        return rng.choice([low, high, rng.uniform(low, high)])
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "array":
        count = node.get("minItems", 0) if minimal else 1
        return [good(node.get("items", {"type": "integer"}), rng, minimal) for _ in range(count)]
    if "properties" in node:
        names = node.get("required", []) if minimal else node["properties"]
        return {name: good(node["properties"][name], rng, minimal) for name in names}
    if "additionalProperties" in node:
        names = node.get("propertyNames", {}).get("enum") or ["k1", "k2"]
        return {name: good(node["additionalProperties"], rng, minimal) for name in names[:2]}
    return copy.deepcopy(FREE_FORM)


def good_report(seed: int) -> dict:
    return good(SCHEMA, random.Random(seed))


def _child(node, key):
    """The schema node of `key` (a property name or an array index) inside `node`."""
    node = _deref(node)
    if "oneOf" in node:
        node = _deref(node["oneOf"][0])
    if isinstance(key, int):
        return node["items"]
    return node.get("properties", {}).get(key) or node.get("additionalProperties", {})


def pruned(report: dict, path: tuple, rng: random.Random) -> tuple[dict, tuple]:
    """The smallest valid report that holds `report`'s value at `path`, and the value's path in
    it: the ancestors keep only their required fields and arrays only the item on the path, so
    the reference validator takes a few milliseconds instead of tens."""
    new_path = list(path)

    def build(value, node, depth):
        if depth == len(path) or not _deref(node).keys() & {"properties", "items", "oneOf"}:
            return copy.deepcopy(value)  # the end of the path, or a free-form value
        key, child = path[depth], _child(node, path[depth])
        if isinstance(key, int):
            new_path[depth] = 0
            return [build(value[key], child, depth + 1)]
        base = good(node, rng, minimal=True)
        base[key] = build(value[key], child, depth + 1)
        return base

    return build(report, SCHEMA, 0), tuple(new_path)


# Values that replace a field. Text ones are spliced into the JSON text as they are.
class Text(str):
    """Raw JSON text to splice in place of a value."""


REPLACEMENTS = [
    None,
    True,
    False,
    0,
    -1,
    1,
    2,
    3,
    1.0,
    2.0,
    1.5,
    -0.5,
    1e2,
    2**31 - 1,
    2**31,
    2**63 - 1,
    2**63,
    2**64 - 1,
    -(2**63),
    86400,
    86400.5,
    100000,
    100000.0,
    100000.01,
    1e308,
    Text("18446744073709551616"),  # 2**64: past 64 bits
    Text("1" + "0" * 30),
    Text("-" + "9" * 25),
    Text("1e400"),
    Text("NaN"),
    Text("Infinity"),
    Text("-Infinity"),
    "",
    "x",
    "a" * 7,
    "a" * 8,
    "é" * 32,
    "é" * 33,
    "😀" * 64,
    "😀" * 65,
    "x" * 513,
    "2026-12-04T10:00:00Z",
    "2026-02-30T10:00:00Z",
    "2024-02-29T23:59:59.123456789+05:30",
    "2023-02-29T00:00:00Z",
    "1970-01-01T00:30:00+01:00",
    "2026-12-04t10:00:00z",
    "٢٠٢٦-12-04T10:00:00Z",  # Arabic-Indic digits: \\d matches them, RFC 3339 does not
    "2026-12-04T10:00:00Z\n",
    "sample-0001\n",
    "a\u0000bcdefgh",
    "gopls\u0000",
    "vscode_setting",
    "heap",
    "linux",
    "GOGC",
    [],
    [1],
    ["x"],
    [None],
    [{}],
    {},
    {"x": 1},
    {"GOGC": "100"},
    {"GOGC": 100},
    {"version": "1"},
]


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


def _to_text(value) -> str:
    """JSON text of a value that may hold Text fragments."""
    if isinstance(value, Text):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_to_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_to_text(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _set(report, path, value):
    report = copy.deepcopy(report)
    parent = report
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return report


def _delete(report, path):
    report = copy.deepcopy(report)
    parent = report
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return report


def mutations(full: dict, rng: random.Random):
    """(description, JSON text) for each mutation of each field of `full`, each in the
    smallest report that holds that field."""
    yield "unchanged", _to_text(full)
    for path in list(_paths(full))[1:]:
        report, path = pruned(full, path, rng)
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        yield f"{where} pruned", _to_text(report)
        target = report
        for key in path:
            target = target[key]
        for value in REPLACEMENTS:
            yield f"{where} = {value!r:.40}", _to_text(_set(report, path, value))
        if isinstance(path[-1], str):
            yield f"{where} deleted", _to_text(_delete(report, path))
        if isinstance(target, dict):
            yield f"{where} + extra key", _to_text(_set(report, path, {**target, "zz_extra": [1]}))
            many = {**target, **{f"zz{i}": i for i in range(300)}}
            yield f"{where} + 300 extra keys", _to_text(_set(report, path, many))
            if target:
                key = next(iter(target))
                dup = "{" + f"{json.dumps(key)}:{{}},{_to_text(target)[1:]}"
                yield f"{where} duplicate key, bad first", _to_text(_set(report, path, Text(dup)))
                dup = _to_text(target)[:-1] + f",{json.dumps(key)}:{{}}}}"
                yield f"{where} duplicate key, bad last", _to_text(_set(report, path, Text(dup)))
        if isinstance(target, list):
            yield f"{where} empty", _to_text(_set(report, path, []))
            if target:
                yield f"{where} x1001", _to_text(_set(report, path, target * (1001 // len(target))))
                yield f"{where} +1 item", _to_text(_set(report, path, [*target, target[0]]))
                yield f"{where} + null item", _to_text(_set(report, path, [*target, None]))


def _parse(text: str):
    """The body reader's rules: orjson, then U+0000 replaced; None when it refuses the text."""
    data = text.encode("utf-8", "surrogatepass")
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return replace_nul(body) if b"\\u0000" in data else body


def _reference_valid(payload) -> bool:
    return REFERENCE.is_valid(payload)


def _run(cases):
    fast = validation._fast_validator()
    counts = {"valid": 0, "invalid": 0, "refused by the body reader": 0}
    disagreements = []
    for description, text in cases:
        payload = _parse(text)
        if payload is None:
            counts["refused by the body reader"] += 1
            continue
        expected = _reference_valid(payload)
        counts["valid" if expected else "invalid"] += 1
        if fast(payload) != expected:
            disagreements.append(f"fast validator says {not expected}: {description}")
        # validate_report = the schema, then the calendar check of some timestamps. (Every
        # 10th refused report only: for those it lists the full validator's errors, slowly.)
        if not expected and counts["invalid"] % 10:
            continue
        accepted = expected and not validation._timestamp_errors(payload)
        if (validation.validate_report(payload) == []) != accepted:
            disagreements.append(f"validate_report says {not accepted}: {description}")
    return counts, disagreements


def test_fast_validator_agrees_with_jsonschema_on_every_mutation_of_every_field():
    seed = 1
    report = good_report(seed)
    assert REFERENCE.is_valid(report), list(REFERENCE.iter_errors(report))[:3]
    counts, disagreements = _run(mutations(report, random.Random(seed)))
    assert not disagreements, f"{len(disagreements)} disagreements, e.g. {disagreements[:10]}"
    # The mutations exercise both answers and the body reader's refusals.
    assert counts["valid"] > 500, counts
    assert counts["invalid"] > 2000, counts
    assert counts["refused by the body reader"] > 100, counts


def test_fast_validator_agrees_with_jsonschema_on_random_combined_mutations():
    rng = random.Random(15)
    report = good_report(3)
    paths = list(_paths(report))[1:]

    def cases():
        for case in range(100):  # whole reports: the reference takes ~25 ms each
            mutated = report
            for _ in range(rng.randint(1, 4)):
                path = rng.choice(paths)
                try:
                    mutated = _set(mutated, path, rng.choice(REPLACEMENTS))
                except (KeyError, IndexError, TypeError):
                    continue  # an earlier mutation removed the path
            yield f"combination {case}", _to_text(mutated)

    counts, disagreements = _run(cases())
    assert not disagreements, f"{len(disagreements)} disagreements, e.g. {disagreements[:10]}"
    assert counts["valid"] > 5, counts
    assert counts["invalid"] > 50, counts


def test_the_example_and_bench_reports_take_the_fast_path():
    from tests.conftest import EXAMPLE_REPORT

    example = json.loads(EXAMPLE_REPORT.read_text())
    assert validation._fast_validator()(example)
    assert validation.validate_report(example) == []


def test_deep_nesting_in_a_free_form_field_is_judged_not_crashed():
    report = good_report(4)
    report["agent"]["config"] = orjson.loads(b'{"a":' * 1000 + b"[]" + b"}" * 1000)
    assert REFERENCE.is_valid(report)
    assert validation.validate_report(report) == []


def test_a_schema_keyword_the_generator_does_not_know_fails_loudly():
    schema = copy.deepcopy(SCHEMA)
    schema["$defs"]["count"]["multipleOf"] = 2
    with pytest.raises(SchemaNotSupported, match="multipleOf"):
        compile_schema(schema)
    schema = copy.deepcopy(SCHEMA)
    schema["$defs"]["machine"]["properties"]["os"] = {"anyOf": [{"type": "string"}]}
    with pytest.raises(SchemaNotSupported, match="anyOf"):
        compile_schema(schema)
    schema = copy.deepcopy(SCHEMA)
    schema["$defs"]["sample"]["properties"]["id"]["format"] = "uuid"
    with pytest.raises(SchemaNotSupported, match="uuid"):
        compile_schema(schema)
    schema = copy.deepcopy(SCHEMA)
    schema["$defs"]["error"]["additionalProperties"] = False
    with pytest.raises(SchemaNotSupported, match="additionalProperties"):
        compile_schema(schema)
