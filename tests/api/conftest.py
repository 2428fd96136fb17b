"""Counts the requests schemathesis sends, per operation and status class, and prints them.

The table is printed at the end of any run that sent one; SCHEMATHESIS_COUNTS_FILE also
writes it as JSON (bench/schemathesis_full.sh quotes it).
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict

import pytest

_CALLS = pytest.StashKey["SchemathesisCalls"]()


class SchemathesisCalls:
    def __init__(self) -> None:
        self.by_operation: dict[str, Counter] = defaultdict(Counter)

    def record(self, operation: str, status: int) -> None:
        self.by_operation[operation][f"{status // 100}xx"] += 1
        self.by_operation[operation][str(status)] += 1

    def as_dict(self) -> dict:
        return {
            op: {
                "cases": sum(v for k, v in c.items() if k.endswith("xx")),
                **dict(sorted(c.items())),
            }
            for op, c in sorted(self.by_operation.items())
        }


@pytest.fixture(scope="session")
def schemathesis_calls(request) -> SchemathesisCalls:
    return request.config.stash.setdefault(_CALLS, SchemathesisCalls())


def pytest_terminal_summary(terminalreporter, config):
    calls = config.stash.get(_CALLS, None)
    if calls is None or not calls.by_operation:
        return
    table = calls.as_dict()
    terminalreporter.section("schemathesis: requests sent per operation")
    for operation, counts in table.items():
        classes = "  ".join(f"{k}={v}" for k, v in counts.items() if k.endswith("xx"))
        codes = " ".join(f"{k}:{v}" for k, v in counts.items() if k.isdigit())
        terminalreporter.write_line(
            f"{operation:45} {counts['cases']:6} cases  {classes}  ({codes})"
        )
    path = os.environ.get("SCHEMATHESIS_COUNTS_FILE")
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(table, fh, indent=1)
