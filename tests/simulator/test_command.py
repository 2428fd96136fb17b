"""simulate_fleet stores through the real ingest path, idempotently, and posts live over HTTP."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from apps.fleet.models import GoplsProcess, InventoryItem, Machine
from apps.metrics.models import GoplsSample, SystemSample

END = "2026-11-23T12:00:00Z"


@pytest.mark.django_db
def test_command_stores_every_sample_once_and_a_rerun_stores_nothing_new(tmp_path, capsys):
    manifest = tmp_path / "truth.json"
    call_command("simulate_fleet", machines=3, hours=1, seed=1, end=END, manifest=str(manifest))
    assert Machine.objects.filter(machine_id__startswith="sim-1-").count() == 3
    assert SystemSample.objects.count() == 3 * 240
    assert GoplsSample.objects.exists()
    assert GoplsProcess.objects.exists()
    assert InventoryItem.objects.filter(section="editor_settings").exists()
    stored = (SystemSample.objects.count(), GoplsSample.objects.count())
    out = capsys.readouterr().out
    assert "720 samples" in out
    assert "(720 new)" in out

    call_command("simulate_fleet", machines=3, hours=1, seed=1, end=END)
    assert (SystemSample.objects.count(), GoplsSample.objects.count()) == stored
    assert "(0 new)" in capsys.readouterr().out
    truth = json.loads(manifest.read_text())
    assert [m["machine_id"] for m in truth["machines"]] == [
        "sim-1-00000",
        "sim-1-00001",
        "sim-1-00002",
    ]


@pytest.mark.django_db
def test_start_index_adds_machines_to_an_existing_fleet():
    call_command("simulate_fleet", machines=2, hours=0.25, seed=4, end=END)
    call_command("simulate_fleet", machines=2, hours=0.25, seed=4, end=END, start_index=2)
    ids = sorted(Machine.objects.values_list("machine_id", flat=True))
    assert ids == [f"sim-4-{i:05d}" for i in range(4)]
    assert SystemSample.objects.count() == 4 * 60


@pytest.mark.django_db
def test_team_option_puts_every_machine_in_that_team():
    call_command("simulate_fleet", machines=3, hours=0.1, seed=2, end=END, team=["Search"])
    assert set(Machine.objects.values_list("team__name", flat=True)) == {"Search"}


@pytest.mark.django_db
def test_a_rerun_into_another_team_is_refused_not_a_takeover():
    from django.core.management import CommandError

    call_command("simulate_fleet", machines=2, hours=0.1, seed=3, end=END, team=["Search"])
    with pytest.raises(CommandError, match="another team"):
        call_command("simulate_fleet", machines=2, hours=0.1, seed=3, end=END, team=["Mobile"])
    assert set(Machine.objects.values_list("team__name", flat=True)) == {"Search"}


@pytest.mark.django_db(transaction=True)
def test_live_mode_enrolls_and_posts_over_http_then_keeps_posting(live_server, capsys):
    call_command(
        "simulate_fleet",
        machines=2,
        hours=0.01,
        seed=3,
        interval=1,
        batch=2,
        live=True,
        server=live_server.url,
        duration=3,
        workers=2,
        progress_every=1,
    )
    machines = Machine.objects.filter(machine_id__startswith="sim-3-")
    assert machines.count() == 2
    for machine in machines:
        count = SystemSample.objects.filter(machine=machine).count()
        assert count >= 36 + 1  # the backfilled history plus real-time uploads
    assert "posting in real time" in capsys.readouterr().out


@pytest.mark.django_db
def test_scenario_option_gives_every_machine_that_problem(tmp_path):
    manifest = tmp_path / "truth.json"
    call_command(
        "simulate_fleet",
        machines=2,
        hours=0.1,
        seed=5,
        end=END,
        scenario=["cpu_pegged"],
        manifest=str(manifest),
    )
    truth = json.loads(manifest.read_text())
    assert truth["scenarios"] == {"cpu_pegged": ["sim-5-00000", "sim-5-00001"]}
