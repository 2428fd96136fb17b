"""Property tests of the files the agent reads back: its machine id, /etc/machine-id,
/etc/os-release, its state and cache JSON. A corrupt file (any bytes) is never a crash: the
agent falls back to a fresh value."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from devfleet_agent import identity, state
from devfleet_agent.collectors import caches

junk = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=100).map(str.encode),
    st.sampled_from([b"\xff\xfe\x00", b'{"next_at": []}', b'{"next_at": "nan"}', b"[1]"]),
)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("agent-files")


def _write(path: Path, data: bytes | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if data is None:
        path.unlink(missing_ok=True)
    else:
        path.write_bytes(data)


@given(st.one_of(st.none(), junk), st.one_of(st.none(), junk))
@example(b"\xff\xfe", b"\xff")
def test_the_machine_id_is_well_formed_whatever_the_files_hold(root, stored, os_guid):
    _write(root / "state" / "machine_id", stored)
    _write(root / "fs" / "etc" / "machine-id", os_guid)
    value = identity.machine_id(root / "state", fs_root=root / "fs")
    assert re.fullmatch(r"[A-Za-z0-9._:-]{8,128}", value)
    assert identity.machine_id(root / "state", fs_root=root / "fs") == value


@given(junk)
@example(b'PRETTY_NAME="Ubuntu\xff"')
def test_os_release_gives_a_name_or_none(root, data):
    _write(root / "fs" / "etc" / "os-release", data)
    name = identity.os_version(fs_root=root / "fs")
    assert name is None or (isinstance(name, str) and len(name) <= 512)


@given(junk)
def test_state_json_is_a_dict_or_none(root, data):
    _write(root / "status.json", data)
    value = state._read_json(root / "status.json")
    assert value is None or isinstance(value, dict)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=junk)
@example(data=b'{"next_at": []}')
@example(data=b'{"next_at": Infinity}')
@example(data=b'{"next_at": NaN}')
def test_the_cache_walk_record_loads_or_starts_over(root, make_ctx, make_config, data):
    _write(root / "state" / "caches.json", data)
    ctx = make_ctx(config=make_config(state_dir=str(root / "state")))
    loaded = caches._load(ctx)
    assert "last" in loaded
    assert math.isfinite(loaded.get("next_at", 0.0))  # never postpones the walk forever
