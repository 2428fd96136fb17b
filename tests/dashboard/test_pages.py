"""Fleet, project, version and developer pages: what they aggregate and where they drill to."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse


def figure(body: str, script_id: str) -> dict:
    m = re.search(rf'<script id="{script_id}" type="application/json">(.*?)</script>', body, re.S)
    assert m, script_id
    return json.loads(m.group(1))


@pytest.mark.django_db
def test_fleet_overview_counts_health_and_drills_down_to_machines(client, fleet, alice):
    client.force_login(alice)
    body = client.get("/").content.decode()
    teams = figure(body, "fig-teams")
    critical = next(t for t in teams["data"] if t["name"] == "Critical")
    row = teams["data"][0]["y"].index("Mobile")
    assert critical["x"][row] == 1
    url = critical["customdata"][row]
    assert url == "/machines/?team=mobile&health=critical"
    drilled = client.get(url).content.decode()
    assert "carol-wsl" in drilled
    assert "bob-laptop" not in drilled


@pytest.mark.django_db
def test_fleet_overview_shows_versions_with_median_memory_and_projects(client, fleet, alice, bob):
    client.force_login(alice)
    body = client.get("/").content.decode()
    versions = figure(body, "fig-versions")
    assert versions["data"][0]["x"] == ["v0.16.2", "v0.18.1"]
    # binary units on the axis and in the hover, as in the tables: 12 GiB, not 12.9 GB
    assert versions["data"][1]["y"][1] == pytest.approx(12, abs=0.1)
    assert versions["layout"]["yaxis2"]["ticksuffix"] == " GiB"
    assert "GiB" in versions["data"][1]["hovertemplate"]
    projects = figure(body, "fig-projects")
    assert "example.com/monorepo" in projects["data"][0]["y"]
    # A fleet of two is too small to hide in: bob's overview is about his own machine only.
    client.force_login(bob)
    body = client.get("/").content.decode()
    assert figure(body, "fig-versions")["data"][0]["x"] == ["v0.16.2"]
    assert "example.com/monorepo" not in body
    assert "carol-wsl" not in body


@pytest.mark.django_db
def test_fleet_filters_narrow_every_aggregate(client, fleet, alice):
    client.force_login(alice)
    body = client.get("/", {"version": "v0.16.2"}).content.decode()
    assert figure(body, "fig-versions")["data"][0]["x"] == ["v0.16.2"]
    assert "1 machine " in body
    body = client.get("/", {"os": "wsl"}).content.decode()
    assert figure(body, "fig-versions")["data"][0]["x"] == ["v0.18.1"]


@pytest.mark.django_db
def test_project_page_finds_its_machines_and_versions(client, fleet, alice):
    from apps.fleet.models import Project

    project = Project.objects.get(module_path="example.com/monorepo")
    client.force_login(alice)
    response = client.get(reverse("dashboard:project", args=[project.slug]))
    assert response.context["machine_count"] == 1
    assert response.context["versions"] == [("v0.18.1", 1)]
    scatter = figure(response.content.decode(), "fig-spread")
    assert scatter["data"][0]["text"] == ["carol-wsl"]


@pytest.mark.django_db
def test_versions_page_builds_cohorts_per_gopls_version(client, fleet, alice):
    client.force_login(alice)
    response = client.get(reverse("dashboard:versions"))
    table = {r["version"]: r for r in response.context["table"]}
    assert set(table) == {"v0.16.2", "v0.18.1"}
    assert table["v0.18.1"]["median_rss"] >= 12 * 1024**3
    assert table["v0.16.2"]["median_latency"] == pytest.approx(249.9)
    assert table["v0.18.1"]["regressed"] == []  # one process per version: too few to compare


@pytest.mark.django_db
def test_plotly_is_served_from_our_static_files_not_a_cdn(client, fleet, alice):
    assert finders.find("dashboard/vendor/plotly.min.js")
    client.force_login(alice)
    body = client.get("/").content.decode()
    assert '<script src="/static/dashboard/vendor/plotly.min.js">' in body
    assert "cdn" not in body.lower()
    assert "onclick" not in body.lower()
    assert client.get("/static/dashboard/vendor/plotly.min.js").status_code == 200
