"""OpenAPI paths and schemas of the findings, rules, check and fixes endpoints (merged by
document.py)."""

from __future__ import annotations

SEVERITY = {"enum": ["info", "warning", "critical"]}
ADVICE = {
    "type": "object",
    "required": ["summary", "steps", "sources"],
    "properties": {
        "summary": {"type": "string"},
        "steps": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["text"],
                "properties": {
                    "text": {"type": "string"},
                    "command": {"type": ["string", "null"]},
                    "setting": {"type": ["string", "null"]},
                },
            },
        },
        "sources": {"type": "array", "items": {"type": "string", "format": "uri"}},
    },
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(name: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _errors(*codes: int) -> dict:
    return {
        str(c): {
            "description": {
                400: "Invalid request",
                401: "Not authenticated",
                403: "CSRF check failed (session authentication)",
                404: "Not found or not visible to you",
                409: "The finding is resolved",
                413: "Body too large",
                415: "Body is not JSON",
            }[c],
            "content": {"application/json": {"schema": _ref("Error")}},
        }
        for c in codes
    }


def components() -> dict:
    finding = {
        "type": "object",
        "required": ["id", "machine_id", "rule_id", "severity", "state", "evidence", "advice"],
        "properties": {
            "id": {"type": "integer"},
            "machine_id": {"type": "string"},
            "hostname": {"type": "string"},
            "rule_id": {"type": "string"},
            "subject": {"type": "string"},
            "severity": SEVERITY,
            "state": {"enum": ["open", "resolved"]},
            "title": {"type": "string"},
            "summary": {"type": "string"},
            "evidence": {"type": "object", "description": "Figures and time window (epoch s)."},
            "advice": _ref("Advice"),
            "first_seen": {"type": "string", "format": "date-time"},
            "last_seen": {"type": "string", "format": "date-time"},
            "resolved_at": {"type": ["string", "null"], "format": "date-time"},
            "acknowledged_at": {"type": ["string", "null"], "format": "date-time"},
            "snoozed_until": {"type": ["string", "null"], "format": "date-time"},
            "caused_by": {"type": ["integer", "null"], "description": "Root-cause finding id."},
            "top_allocations": {"type": "array", "items": {"type": "object"}},
            "events": {"type": "array", "items": {"type": "object"}},
        },
    }
    check_finding = {
        "type": "object",
        "required": ["rule_id", "severity", "title", "summary", "evidence", "advice"],
        "properties": {
            "rule_id": {"type": "string"},
            "severity": SEVERITY,
            "title": {"type": "string"},
            "summary": {"type": "string"},
            "subject": {"type": "string"},
            "evidence": {"type": "object"},
            "advice": _ref("Advice"),
        },
    }
    return {
        "Advice": ADVICE,
        "Finding": finding,
        "FindingList": {
            "type": "object",
            "properties": {
                "count": {"type": "integer"},
                "offset": {"type": "integer"},
                "limit": {"type": "integer"},
                "results": {"type": "array", "items": _ref("Finding")},
            },
        },
        "Rule": {
            "type": "object",
            "required": ["rule_id", "title", "severity", "meaning", "fixes", "sources"],
            "properties": {
                "rule_id": {"type": "string"},
                "kb_version": {"type": "integer"},
                "title": {"type": "string"},
                "severity": SEVERITY,
                "category": {"type": "string"},
                "scope": {"enum": ["machine", "fleet"]},
                "meaning": {"type": "string"},
                "why": {"type": "string"},
                "evidence": {"type": "array", "items": {"type": "string"}},
                "fixes": {"type": "array", "items": {"type": "object"}},
                "sources": {"type": "array", "items": {"type": "string"}},
            },
        },
        "RuleList": {
            "type": "object",
            "properties": {
                "count": {"type": "integer"},
                "results": {"type": "array", "items": _ref("Rule")},
            },
        },
        "SnoozeRequest": {
            "type": "object",
            "description": "Exactly one of until or duration; the snooze ends between 1 minute "
            "and 90 days from now.",
            "properties": {
                "until": {"type": "string", "format": "date-time"},
                "duration": {
                    "oneOf": [
                        {"type": "integer", "minimum": 60, "maximum": 7776000},
                        {"type": "string", "pattern": "^[0-9]{1,7}[smhdw]?$"},
                    ],
                    "description": "Seconds, or a number with a unit: 90m, 2h, 1d, 1w.",
                },
            },
        },
        "CheckResponse": {
            "type": "object",
            "required": ["worst_severity", "findings"],
            "properties": {
                "worst_severity": {"enum": ["ok", "info", "warning", "critical"]},
                "findings": {"type": "array", "items": check_finding},
            },
        },
        "FixList": {
            "type": "object",
            "required": ["machine_id", "findings"],
            "properties": {
                "machine_id": {"type": "string"},
                "findings": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["id", "rule_id", "actions", "command"],
                        "properties": {
                            "id": {"type": "integer"},
                            "rule_id": {"type": "string"},
                            "severity": {"type": "string"},
                            "title": {"type": "string"},
                            "subject": {"type": "string"},
                            "first_seen": {"type": "string", "format": "date-time"},
                            "actions": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["type"],
                                    "properties": {
                                        "type": {
                                            "enum": [
                                                "vscode_setting",
                                                "wslconfig",
                                                "go_clean",
                                                "stop_process",
                                            ]
                                        }
                                    },
                                },
                            },
                            "command": {"type": "string"},
                        },
                    },
                },
            },
        },
    }


def paths() -> dict:
    read = [{"session": []}, {"apiToken": []}]
    query = [
        {
            "name": "machine",
            "in": "query",
            "schema": {"type": "string"},
            "description": "machine_id",
        },
        {"name": "state", "in": "query", "schema": {"enum": ["open", "resolved", "all"]}},
        {"name": "rule", "in": "query", "schema": {"type": "string"}},
        {"name": "severity", "in": "query", "schema": SEVERITY},
        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
        },
    ]
    return {
        "/api/v1/findings/": {
            "get": {
                "operationId": "listFindings",
                "summary": "Findings on machines visible to you",
                "security": read,
                "parameters": query,
                "responses": {"200": _ok("FindingList", "A page of findings"), **_errors(400, 401)},
            }
        },
        "/api/v1/findings/{finding_id}/": {
            "get": {
                "operationId": "getFinding",
                "summary": "One finding with its history",
                "security": read,
                "parameters": [
                    {
                        "name": "finding_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    }
                ],
                "responses": {"200": _ok("Finding", "The finding"), **_errors(401, 404)},
            }
        },
        **_action_paths(),
        "/api/v1/rules/": {
            "get": {
                "operationId": "listRules",
                "summary": "The knowledge base: one entry per rule",
                "security": read,
                "responses": {"200": _ok("RuleList", "Every rule"), **_errors(401)},
            }
        },
        "/api/v1/check": {
            "post": {
                "operationId": "checkReport",
                "summary": "Evaluate one report without storing it (devfleet-agent check)",
                "security": [{"machineCredential": []}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("Report")}},
                },
                "responses": {
                    "200": _ok("CheckResponse", "Findings with advice"),
                    **_errors(400, 401),
                },
            }
        },
        "/api/v1/fixes": {
            "get": {
                "operationId": "listFixes",
                "summary": "This machine's open findings with a fix the agent can apply "
                "(devfleet-agent fixes / fix)",
                "security": [{"machineCredential": []}],
                "responses": {
                    "200": _ok("FixList", "Findings with typed fix actions"),
                    **_errors(401),
                },
            }
        },
    }


def _action_paths() -> dict:
    write = [{"session": []}, {"apiToken": []}]
    finding_id = {
        "name": "finding_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer"},
    }
    out = {}
    for action, summary in (
        ("acknowledge", "Acknowledge a finding: repeat alerts stop"),
        ("snooze", "Snooze a finding until a time or for a duration"),
        ("unacknowledge", "Withdraw an acknowledgement"),
    ):
        operation = {
            "operationId": f"{action}Finding",
            "summary": summary,
            "description": "Sessions need the CSRF token (X-CSRFToken); API tokens do not. "
            "Audit-logged. Repeating it changes nothing.",
            "security": write,
            "parameters": [finding_id],
            "responses": {
                "200": _ok("Finding", "The finding after the change"),
                **_errors(400, 401, 403, 404, 409),
            },
        }
        if action == "snooze":
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _ref("SnoozeRequest")}},
            }
            operation["responses"].update(_errors(413, 415))
        out[f"/api/v1/findings/{{finding_id}}/{action}"] = {"post": operation}
    return out
