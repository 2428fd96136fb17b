"""Assembles the OpenAPI 3.1 document: agent ingest and machines here, built from the report
JSON Schema; findings, rules, check and fixes from findings.py."""

from __future__ import annotations

import copy
import functools

from apps.api.openapi import findings as findings_openapi
from apps.ingest.validation import report_schema
from apps.metrics.catalog import METRICS

ERROR = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}


def _rebase_refs(node):
    """Point the report schema's #/$defs/X references at #/components/schemas/X."""
    if isinstance(node, dict):
        return {
            k: (v.replace("#/$defs/", "#/components/schemas/") if k == "$ref" else _rebase_refs(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rebase_refs(v) for v in node]
    return node


def _error_responses(*codes: int) -> dict:
    text = {
        400: "Invalid request; `errors` names each bad field by JSON path",
        401: "Unknown or revoked credential",
        404: "Not found or not visible to you",
        409: "Conflict: the machine id is enrolled in another team",
        413: "Body over the size cap (also after gzip decompression)",
        415: "Content-Type is not application/json or Content-Encoding is not gzip",
        429: "Too many uploads from this machine; see Retry-After",
    }
    return {
        str(c): {
            "description": text[c],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for c in codes
    }


def _json(schema_ref: str, description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": schema_ref}}},
    }


@functools.cache
def openapi_document() -> dict:
    schema = copy.deepcopy(report_schema())
    defs = _rebase_refs(schema.pop("$defs"))
    schema.pop("$schema", None)
    schema.pop("$id", None)
    components = {**defs, "Report": _rebase_refs(schema), "Error": ERROR}
    components["EnrollRequest"] = {
        "type": "object",
        "required": ["token", "machine_id"],
        "properties": {
            "token": {"type": "string"},
            "machine_id": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{8,128}$"},
            "hostname": {"type": "string"},
            "os": {"enum": ["linux", "darwin", "windows", "other"]},
            "os_version": {"type": "string"},
            "arch": {"type": "string"},
            "kernel": {"type": "string"},
            "agent_version": {"type": "string"},
            "owner": {"type": "string"},
            "wsl": {"type": ["object", "null"]},
        },
    }
    components["EnrollResponse"] = {
        "type": "object",
        "required": ["machine_id", "credential"],
        "properties": {
            "machine_id": {"type": "string"},
            "credential": {"type": "string"},
            "report_url": {"type": "string"},
            "collect_interval_s": {"type": "integer"},
            "upload_interval_s": {"type": "integer"},
            "server_time": {"type": "string"},
        },
    }
    components["IngestResponse"] = {
        "type": "object",
        "required": ["accepted", "duplicates"],
        "properties": {
            "accepted": {"type": "integer"},
            "duplicates": {"type": "integer"},
            "rejected": {
                "type": "integer",
                "description": "Samples refused: after clock-skew correction more than 10"
                " minutes in the future or older than INGEST_MAX_SAMPLE_AGE_DAYS",
            },
            "received_at": {"type": "string", "format": "date-time"},
            "clock_skew_s": {"type": ["number", "null"]},
            "instructions": {
                "type": "object",
                "properties": {
                    "collect_interval_s": {"type": "integer"},
                    "upload_interval_s": {"type": "integer"},
                    "capture_profiles": {"type": "array", "items": {"type": "object"}},
                },
            },
        },
    }
    components["MachineList"] = {
        "type": "object",
        "properties": {
            "count": {"type": "integer"},
            "offset": {"type": "integer"},
            "limit": {"type": "integer"},
            "results": {"type": "array", "items": {"type": "object"}},
        },
    }
    components["Machine"] = {
        "type": "object",
        "required": ["machine_id"],
        "properties": {
            "machine_id": {"type": "string"},
            "latest": {"type": "object"},
            "inventory": {"type": "object"},
        },
    }
    components["Series"] = {
        "type": "object",
        "properties": {
            "metric": {"type": "string"},
            "unit": {"type": "string"},
            "series": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "process_id": {"type": ["integer", "null"]},
                        "points": {"type": "array", "items": {"type": "array"}},
                    },
                },
            },
        },
    }
    machine_id = {
        "name": "machine_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    read_security = [{"session": []}, {"apiToken": []}]
    components.update(findings_openapi.components())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "devfleet API",
            "version": "1",
            "description": "Agent ingest (enroll, reports) and the read API.",
        },
        "servers": [{"url": "/"}],
        "paths": {
            "/api/v1/enroll": {
                "post": {
                    "operationId": "enroll",
                    "summary": "Exchange a team enrollment token for a machine credential",
                    "description": (
                        "401: the token is unknown, revoked, expired or used up. 409: the"
                        " machine id is enrolled in another team (only staff move machines)."
                        " `owner` is recorded as a pending claim until confirmed."
                    ),
                    "security": [],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/EnrollRequest"}
                            }
                        },
                    },
                    "responses": {
                        "201": _json("#/components/schemas/EnrollResponse", "Enrolled"),
                        **_error_responses(400, 401, 409, 413, 415),
                    },
                }
            },
            "/api/v1/reports": {
                "post": {
                    "operationId": "uploadReport",
                    "summary": "Upload a batch of samples (schema v1)",
                    "security": [{"machineCredential": []}],
                    "parameters": [
                        {
                            "name": "Content-Encoding",
                            "in": "header",
                            "required": False,
                            "schema": {"enum": ["gzip"]},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Report"}}
                        },
                    },
                    "responses": {
                        "200": _json(
                            "#/components/schemas/IngestResponse",
                            "Stored; counts of new and duplicate samples",
                        ),
                        **_error_responses(400, 401, 413, 415, 429),
                    },
                }
            },
            "/api/v1/machines/": {
                "get": {
                    "operationId": "listMachines",
                    "summary": "Machines visible to you",
                    "security": read_security,
                    "parameters": [
                        {"name": "team", "in": "query", "schema": {"type": "string"}},
                        {"name": "os", "in": "query", "schema": {"type": "string"}},
                        {"name": "hostname", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "offset",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                        },
                    ],
                    "responses": {
                        "200": _json("#/components/schemas/MachineList", "A page of machines"),
                        **_error_responses(400, 401),
                    },
                }
            },
            "/api/v1/machines/{machine_id}/": {
                "get": {
                    "operationId": "getMachine",
                    "summary": "Latest state, gopls lifetimes, projects and inventory",
                    "security": read_security,
                    "parameters": [machine_id],
                    "responses": {
                        "200": _json("#/components/schemas/Machine", "The machine"),
                        **_error_responses(401, 404),
                    },
                }
            },
            "/api/v1/machines/{machine_id}/series/": {
                "get": {
                    "operationId": "getMachineSeries",
                    "summary": "One metric over a time range (≤ 2,000 points per trace)",
                    "security": read_security,
                    "parameters": [
                        machine_id,
                        {
                            "name": "metric",
                            "in": "query",
                            "required": True,
                            "schema": {"enum": sorted(METRICS)},
                        },
                        {
                            "name": "since",
                            "in": "query",
                            "schema": {"type": "string", "format": "date-time"},
                        },
                        {
                            "name": "until",
                            "in": "query",
                            "schema": {"type": "string", "format": "date-time"},
                        },
                        {
                            "name": "max_points",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 2, "maximum": 2000},
                        },
                    ],
                    "responses": {
                        "200": _json("#/components/schemas/Series", "The series"),
                        **_error_responses(400, 401, 404),
                    },
                }
            },
            **findings_openapi.paths(),
        },
        "components": {
            "schemas": components,
            "securitySchemes": {
                "machineCredential": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Per-machine credential from /api/v1/enroll",
                },
                "apiToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Personal API token (admin → API tokens)",
                },
                "session": {"type": "apiKey", "in": "cookie", "name": "sessionid"},
            },
        },
    }
