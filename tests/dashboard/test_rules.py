"""Rule pages render the knowledge base, with advice for a chosen platform, editor and version."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.anomalies.advice import knowledge_base


@pytest.mark.django_db
def test_rule_list_shows_every_rule_of_the_knowledge_base(client, bob):
    client.force_login(bob)
    body = client.get(reverse("dashboard:rule-list")).content.decode()
    for rule_id, entry in knowledge_base().items():
        assert reverse("dashboard:rule", args=[rule_id]) in body
        assert entry.data["title"].replace("'", "&#x27;") in body


@pytest.mark.django_db
def test_rule_advice_follows_the_platform(client, bob):
    client.force_login(bob)
    url = reverse("dashboard:rule", args=["inotify_watches"])
    linux = client.get(url, {"platform": "linux", "editor": "vscode"}).content.decode()
    assert "fs.inotify.max_user_watches=524288" in linux
    assert 'data-copy="advice-cmd-2"' in linux
    assert "files.watcherExclude" in linux
    mac = client.get(url, {"platform": "darwin", "editor": "neovim"}).content.decode()
    assert "max_user_watches=524288" not in mac
    assert "do not use inotify" in mac


@pytest.mark.django_db
def test_unknown_rules_and_bad_contexts_are_handled(client, bob):
    client.force_login(bob)
    assert client.get(reverse("dashboard:rule", args=["no_such_rule"])).status_code == 404
    url = reverse("dashboard:rule", args=["gopls_memory_high"])
    response = client.get(url, {"platform": "amiga", "editor": "ed", "gopls": "banana"})
    assert response.status_code == 200
    assert response.context["ctx"].platform == "linux"


def test_anonymous_users_cannot_read_rules(client, db):
    assert client.get(reverse("dashboard:rule-list")).status_code == 302
