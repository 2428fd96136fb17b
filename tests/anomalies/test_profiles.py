"""Leak evidence: a heap-profile request through the upload response, parsed top sites attached."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from apps.anomalies.models import Finding
from apps.anomalies.profiles import attach_profiles, parse_heap_profile, request_profile
from apps.fleet.models import GoplsProcess
from apps.ingest.services import instructions_for
from apps.metrics.models import HeapProfile
from tests.factories import enroll

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
PROFILE = """heap profile: 3: 3145728 [10: 5242880] @ heap/1048576
2: 2097152 [5: 3145728] @ 0x1 0x2 0x3
#\t0x4a1b2c\truntime.mallocgc+0x2c\t/usr/local/go/src/runtime/malloc.go:1000
#\t0x4a1d3e\tgolang.org/x/tools/gopls/internal/cache.(*Snapshot).parse+0x3e\t/src/gopls/internal/cache/parse.go:42
#\t0x4a1f00\tmain.main+0x10\t/x/main.go:5

1: 1048576 [5: 2097152] @ 0x5 0x6
#\t0x4a2000\tgo/parser.(*parser).parseFile+0x20\t/usr/local/go/src/go/parser/parser.go:77

1: 1048576 [1: 1048576] @ 0x7
#\t0x4a1d3e\tgolang.org/x/tools/gopls/internal/cache.(*Snapshot).parse+0x3e\t/src/gopls/internal/cache/parse.go:42

# runtime.MemStats
# HeapInuse = 3145728
"""


def test_top_allocation_sites_skip_the_runtime_and_add_up_per_site():
    sites = parse_heap_profile(PROFILE)
    assert sites[0] == {
        "function": "golang.org/x/tools/gopls/internal/cache.(*Snapshot).parse",
        "file": "/src/gopls/internal/cache/parse.go:42",
        "inuse_bytes": 3145728,
        "inuse_objects": 3,
    }
    assert sites[1]["function"] == "go/parser.(*parser).parseFile"
    assert parse_heap_profile("") == []


@pytest.mark.django_db
def test_a_leak_finding_asks_the_agent_for_a_profile_once_and_attaches_its_sites():
    machine, _ = enroll()
    start = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
    process = GoplsProcess.objects.create(
        machine=machine, pid=4242, start_time=start, first_seen=start, last_seen=NOW
    )
    finding = Finding.objects.create(
        machine=machine,
        rule_id="gopls_memory_leak",
        subject=f"gopls:4242@{int(start.timestamp())}",
        severity="warning",
        title="t",
        first_seen=NOW,
        last_seen=NOW,
    )
    request_id = request_profile(finding, process.pk, NOW)
    assert request_profile(finding, process.pk, NOW) is None
    machine.refresh_from_db()
    (request,) = instructions_for(machine)["capture_profiles"]
    assert request == {
        "request_id": request_id,
        "pid": 4242,
        "start_time": "2026-11-23T09:00:00Z",
        "kinds": ["heap", "goroutine"],
    }
    HeapProfile.objects.create(
        machine=machine,
        process=process,
        request_id=request_id,
        kind="heap",
        received_at=NOW,
        text=PROFILE,
    )
    assert attach_profiles([finding], NOW) == 1
    finding.refresh_from_db()
    assert finding.top_allocations[0]["inuse_bytes"] == 3145728
    assert list(finding.events.values_list("kind", flat=True)) == ["profile"]
