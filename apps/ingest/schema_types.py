"""msgspec types generated at import time from the report's JSON Schema (docs/report.schema.json).

The published JSON Schema stays the single source of truth: this module turns it into msgspec
Structs and `Annotated[..., Meta(...)]` types, so decoding an upload's bytes with them checks
every constraint in one pass in C. It understands exactly the keywords the schema uses and
raises SchemaNotSupported at import on any other keyword, or on a combination whose meaning
msgspec cannot express, so a schema edit cannot silently loosen validation.

Two things a Struct cannot see are returned as "residual checks" to run on the decoded dict:
`maxProperties` of an object that also lists `properties` (a Struct ignores unknown keys, the
count includes them) and `format` (msgspec has no RFC 3339 format checker with jsonschema's
rules). A residual check is a (path, keyword, argument) triple; a path's segments are property
names, ITEMS (every array item) and VALUES (every value of a free-form object).

Where msgspec's type system differs from JSON Schema's:
- JSON Schema's "integer" includes integral floats (1.0, 1e2); each integer type is a union of
  `int` and `float` with `multiple_of=1` and the same bounds, and an integer `enum`/`const`
  accepts the equal float when the integers are a contiguous range.
- `oneOf` is only accepted when its branches are disjoint by JSON type, where "one of" and
  "any of" agree.
- Duplicate keys: msgspec checks every occurrence, orjson keeps the last; a report with a bad
  first occurrence is refused by the fast path and then judged by the full validator.
The fast path must never accept what the full Draft 2020-12 validator refuses; anything it
refuses is re-judged by the full validator (tests/ingest/test_validation_differential.py).
"""

from __future__ import annotations

import keyword
from typing import Annotated, Any, Literal, Union

import msgspec

ITEMS = object()
VALUES = object()

# Keywords that only document: ignored.
_ANNOTATIONS = {"description", "title", "$schema", "$id", "$comment", "examples", "default"}
# Keywords allowed at the root only.
_ROOT_ONLY = {"$defs"}
_UNDERSTOOD = {
    "type",
    "properties",
    "required",
    "items",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "enum",
    "const",
    "$ref",
    "oneOf",
    "additionalProperties",
    "maxProperties",
    "propertyNames",
    "format",
}
_FORMATS = {"date-time"}
_KEYWORDS_OF_TYPE = {
    "string": {"minLength", "maxLength", "pattern", "format"},
    "integer": {"minimum", "maximum"},
    "number": {"minimum", "maximum"},
    "array": {"items", "minItems", "maxItems"},
    "object": {"properties", "required", "additionalProperties", "maxProperties", "propertyNames"},
    "boolean": set(),
    "null": set(),
}
_JSON_TYPE_OF_PY = {type(None): "null", bool: "boolean", int: "integer", str: "string"}


class SchemaNotSupported(Exception):
    """The JSON Schema uses a keyword or construct this generator does not translate."""


class _Compiler:
    def __init__(self, schema: dict):
        self.root = schema
        self.defs = schema.get("$defs", {})
        self.resolving: list[str] = []
        self.residual: list[tuple[tuple, str, Any]] = []
        self.struct_count = 0

    def fail(self, path, message):
        raise SchemaNotSupported(f"{_show(path)}: {message}")

    # -- one schema node ---------------------------------------------------------------------
    def type_of(self, node: dict, path: tuple, where: str):
        if not isinstance(node, dict):
            self.fail(path, f"schema at {where} is not an object (boolean schemas unsupported)")
        allowed = _UNDERSTOOD | _ANNOTATIONS | (_ROOT_ONLY if node is self.root else set())
        unknown = set(node) - allowed
        if unknown:
            self.fail(path, f"keyword(s) {sorted(unknown)} at {where} not understood")
        if "$ref" in node:
            if set(node) - _ANNOTATIONS - {"$ref"}:
                self.fail(path, f"$ref beside other keywords at {where}")
            return self.ref(node["$ref"], path)
        if "oneOf" in node:
            if set(node) - _ANNOTATIONS - {"oneOf"}:
                self.fail(path, f"oneOf beside other keywords at {where}")
            return self.one_of(node["oneOf"], path, where)
        if "const" in node or "enum" in node:
            if set(node) - _ANNOTATIONS - {"const", "enum"} or ("const" in node and "enum" in node):
                self.fail(path, f"enum/const beside other keywords at {where}")
            values = [node["const"]] if "const" in node else list(node["enum"])
            return self.enum(values, path, where)
        if "type" not in node:
            rest = set(node) - _ANNOTATIONS
            if rest:
                self.fail(path, f"{sorted(rest)} without a type at {where}: they would not apply")
            return Any
        types = node["type"] if isinstance(node["type"], list) else [node["type"]]
        if len(set(types)) != len(types) or set(types) - set(_KEYWORDS_OF_TYPE):
            self.fail(path, f"type {node['type']!r} at {where}")
        used = set(node) - _ANNOTATIONS - _ROOT_ONLY - {"type"}
        for keyword_ in used:
            if not any(keyword_ in _KEYWORDS_OF_TYPE[t] for t in types):
                self.fail(path, f"{keyword_} at {where} applies to none of its types {types}")
        if "integer" in types and "number" in types:
            self.fail(path, f"both integer and number at {where}")
        members = [self.one_type(t, node, path, where) for t in types]
        return members[0] if len(members) == 1 else Union[tuple(members)]

    def one_type(self, json_type: str, node: dict, path: tuple, where: str):
        if json_type == "null":
            return None
        if json_type == "boolean":
            return bool
        if json_type == "string":
            meta = _meta(
                min_length=node.get("minLength"),
                max_length=node.get("maxLength"),
                pattern=node.get("pattern"),
            )
            if "format" in node:
                if node["format"] not in _FORMATS:
                    self.fail(path, f"format {node['format']!r} at {where}")
                self.residual.append((path, "format", node["format"]))
            return Annotated[str, meta] if meta else str
        if json_type in ("integer", "number"):
            bounds = {"ge": node.get("minimum"), "le": node.get("maximum")}
            for value in bounds.values():
                if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                    self.fail(path, f"non-integer bound {value!r} at {where}")
            if json_type == "number":
                meta = _meta(**bounds)
                return Annotated[float, meta] if meta else float
            meta = _meta(**bounds)
            int_type = Annotated[int, meta] if meta else int
            return Union[int_type, Annotated[float, msgspec.Meta(multiple_of=1, **_kw(bounds))]]
        if json_type == "array":
            item = self.type_of(node.get("items", {}), (*path, ITEMS), f"{where}.items")
            meta = _meta(min_length=node.get("minItems"), max_length=node.get("maxItems"))
            return Annotated[list[item], meta] if meta else list[item]
        return self.object(node, path, where)

    def object(self, node: dict, path: tuple, where: str):
        props = node.get("properties")
        extra = node.get("additionalProperties")
        names = node.get("propertyNames")
        if props is None:
            if node.get("required"):
                self.fail(path, f"required without properties at {where}")
            if extra is None or extra is True:
                value = Any
            else:
                value = self.type_of(extra, (*path, VALUES), f"{where}.additionalProperties")
            key = str
            if names is not None:
                if set(names) - _ANNOTATIONS != {"enum"} or not all(
                    isinstance(n, str) for n in names["enum"]
                ):
                    self.fail(path, f"propertyNames other than a string enum at {where}")
                key = Literal[tuple(names["enum"])]
            meta = _meta(max_length=node.get("maxProperties"))
            return Annotated[dict[key, value], meta] if meta else dict[key, value]
        if extra not in (None, True) or names is not None:
            self.fail(path, f"properties with additionalProperties/propertyNames at {where}")
        if "maxProperties" in node:
            self.residual.append((path, "maxProperties", node["maxProperties"]))
        required = node.get("required", [])
        if len(set(required)) != len(required):
            self.fail(path, f"repeated required names at {where}")
        fields, rename = [], {}
        for index, (name, sub) in enumerate(props.items()):
            sub_type = self.type_of(sub, (*path, name), f"{where}.{name}")
            attr = name if name.isidentifier() and not keyword.iskeyword(name) else f"f{index}"
            rename[attr] = name
            fields.append((attr, sub_type) if name in required else (attr, sub_type, None))
        for name in required:
            if name not in props:
                attr = f"r{len(fields)}"
                rename[attr] = name
                fields.append((attr, Any))
        # Required fields first: msgspec wants them before fields with defaults (kw_only
        # lifts that rule, but keep the order stable for the repr).
        fields.sort(key=lambda f: len(f) == 3)
        self.struct_count += 1
        return msgspec.defstruct(
            f"S{self.struct_count}_{where.replace('.', '_').strip('_') or 'root'}"[:80],
            fields,
            kw_only=True,
            rename=rename,
            gc=False,
        )

    def ref(self, ref: str, path: tuple):
        prefix = "#/$defs/"
        if not ref.startswith(prefix) or ref[len(prefix) :] not in self.defs:
            self.fail(path, f"$ref {ref!r} is not a local #/$defs/ name")
        name = ref[len(prefix) :]
        if name in self.resolving:
            self.fail(path, f"recursive $ref {ref!r}")
        # Each use is compiled afresh: residual checks need the path they are used at.
        self.resolving.append(name)
        try:
            return self.type_of(self.defs[name], path, f"$defs.{name}")
        finally:
            self.resolving.pop()

    def one_of(self, branches: list, path: tuple, where: str):
        seen: set[str] = set()
        members = []
        for index, branch in enumerate(branches):
            kinds = _json_types(self._deref(branch))
            if kinds is None or kinds & seen:
                self.fail(path, f"oneOf at {where} with branches not disjoint by type")
            seen |= kinds
            members.append(self.type_of(branch, path, f"{where}.oneOf[{index}]"))
        return Union[tuple(members)]

    def enum(self, values: list, path: tuple, where: str):
        if not values:
            self.fail(path, f"empty enum at {where}")
        for value in values:
            if type(value) not in _JSON_TYPE_OF_PY or isinstance(value, bool):
                self.fail(path, f"enum value {value!r} at {where}: only str, int and null")
        literal = Literal[tuple(values)]
        ints = sorted(v for v in values if type(v) is int)
        # JSON Schema compares numbers by value: 2.0 matches 2.
        if ints and ints == list(range(ints[0], ints[-1] + 1)):
            return Union[
                literal, Annotated[float, msgspec.Meta(ge=ints[0], le=ints[-1], multiple_of=1)]
            ]
        return literal  # stricter than JSON Schema (no 2.0): the full validator re-judges

    def _deref(self, node):
        while isinstance(node, dict) and "$ref" in node:
            node = self.defs.get(node["$ref"].removeprefix("#/$defs/"), {})
        return node


def _json_types(node) -> set[str] | None:
    """The JSON types a schema node can accept, when it names them; None when it cannot say."""
    if not isinstance(node, dict):
        return None
    if "type" in node:
        types = node["type"] if isinstance(node["type"], list) else [node["type"]]
        return {"number" if t == "integer" else t for t in types}
    if "enum" in node or "const" in node:
        values = node.get("enum", [node.get("const")])
        return {
            "number"
            if _JSON_TYPE_OF_PY.get(type(v)) == "integer"
            else _JSON_TYPE_OF_PY.get(type(v), "?")
            for v in values
        }
    return None


def _kw(values: dict) -> dict:
    return {k: v for k, v in values.items() if v is not None}


def _meta(**values):
    values = _kw(values)
    return msgspec.Meta(**values) if values else None


def _show(path: tuple) -> str:
    out = "$"
    for part in path:
        out += "[*]" if part is ITEMS else ".*" if part is VALUES else f".{part}"
    return out


def compile_schema(schema: dict):
    """(msgspec type of the whole report, residual checks) for a JSON Schema document."""
    compiler = _Compiler(schema)
    root = compiler.type_of(schema, (), "$")
    return root, compiler.residual
