"""Issue #11 point 3: alert requests never reach loopback, private or metadata addresses."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from apps.alerts import outbound
from apps.alerts.delivery import flush_outbox
from apps.alerts.models import Channel, Notification, Route
from apps.alerts.transports import TRANSPORTS
from tests.alerts.helpers import NOW, leak, machine
from tests.alerts.receivers import HttpReceiver, free_port

pytestmark = pytest.mark.django_db
REFUSED = "not a public address"


@pytest.fixture
def strict(settings):
    """The production default: nothing but public addresses."""
    settings.ALERTS_ALLOW_PRIVATE_TARGETS = False
    settings.ALERTS_ALLOWED_PRIVATE_NETWORKS = []
    return settings


@pytest.fixture
def second_loopback():
    """A receiver on 127.0.0.2: loopback too, but outside an allowed 127.0.0.1/32."""
    server = HttpReceiver(host="127.0.0.2").start()
    yield server
    server.stop()


def routed(team, kind, target, **kw) -> Channel:
    channel = Channel.objects.create(team=team, kind=kind, target=target, **kw)
    Route.objects.create(team=team, min_severity="info").channels.add(channel)
    return channel


def test_a_webhook_to_a_loopback_receiver_is_refused_without_the_setting(team, receiver, strict):
    channel = routed(team, "webhook", receiver.url + "/hook")
    leak(machine())
    flush_outbox(NOW)
    assert receiver.requests == []
    channel.refresh_from_db()
    assert not channel.enabled
    assert REFUSED in channel.disabled_reason
    assert Notification.objects.get(channel=channel).status == "failed"


def test_a_webhook_to_a_loopback_receiver_is_delivered_with_the_setting(team, receiver, settings):
    settings.ALERTS_ALLOW_PRIVATE_TARGETS = True
    channel = routed(team, "webhook", receiver.url + "/hook")
    leak(machine())
    flush_outbox(NOW)
    assert len(receiver.posts("/hook")) == 1
    channel.refresh_from_db()
    assert channel.enabled
    assert channel.last_success_at is not None


@pytest.mark.parametrize("kind", ["slack", "teams", "mattermost", "discord", "googlechat"])
def test_every_chat_kind_refuses_a_loopback_receiver(team, receiver, strict, kind):
    routed(team, kind, f"{receiver.url}/{kind}")
    leak(machine())
    flush_outbox(NOW)
    assert receiver.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://10.1.2.3/hook",
        "http://172.16.0.1/hook",
        "http://192.168.1.1/hook",
        "http://100.64.0.1/hook",  # carrier-grade NAT, shared address space
        "http://0.0.0.0:{port}/hook",
        "http://localhost:{port}/hook",  # a name that resolves to loopback
        "http://2130706433:{port}/hook",  # 127.0.0.1 written as one number
        "http://0x7f.1:{port}/hook",
        "http://[::1]:{port}/hook",
        "http://[::ffff:127.0.0.1]:{port}/hook",  # IPv4-mapped loopback
        "http://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 form of 169.254.169.254
        "http://[2002:7f00:1::]/hook",  # 6to4 form of 127.0.0.1
        "http://[fe80::1]/hook",
        "http://224.0.0.1/hook",  # multicast
        "http://240.0.0.1/hook",  # reserved
        "https://127.0.0.1:{port}/hook",
    ],
)
def test_private_link_local_multicast_and_reserved_targets_are_refused(strict, url):
    with pytest.raises(outbound.OutboundError) as caught:
        outbound.post(url.format(port=free_port()), b"{}")
    assert caught.value.permanent
    assert REFUSED in caught.value.message


def test_a_redirect_from_an_allowed_receiver_to_loopback_is_refused(
    receiver, second_loopback, strict
):
    strict.ALERTS_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.1/32"]
    receiver.redirects["/hop"] = second_loopback.url + "/internal"
    with pytest.raises(outbound.OutboundError) as caught:
        outbound.post(receiver.url + "/hop", b'{"a":1}')
    assert REFUSED in caught.value.message
    assert [r["path"] for r in receiver.requests] == ["/hop"]
    assert second_loopback.requests == []


@pytest.mark.parametrize(
    "location", ["http://169.254.169.254/latest/meta-data/", "http://[::1]:{port}/x"]
)
def test_a_redirect_to_metadata_or_ipv6_loopback_is_refused(receiver, strict, location):
    strict.ALERTS_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.1/32"]
    receiver.redirects["/hop"] = location.format(port=free_port())
    with pytest.raises(outbound.OutboundError) as caught:
        outbound.post(receiver.url + "/hop", b"{}")
    assert REFUSED in caught.value.message


def test_a_redirect_to_an_allowed_address_is_followed_with_the_same_post(
    receiver, second_loopback, settings
):
    settings.ALERTS_ALLOW_PRIVATE_TARGETS = True
    receiver.redirects["/moved"] = second_loopback.url + "/hook"
    assert outbound.post(receiver.url + "/moved", b'{"a":1}', {"Idempotency-Key": "k"}) == 200
    (post,) = second_loopback.posts("/hook")
    assert post["json"] == {"a": 1}
    assert post["headers"]["Idempotency-Key"] == "k"


def test_a_redirect_loop_is_given_up(receiver, settings):
    settings.ALERTS_ALLOW_PRIVATE_TARGETS = True
    receiver.redirects["/loop"] = receiver.url + "/loop"
    with pytest.raises(outbound.OutboundError, match="redirects"):
        outbound.post(receiver.url + "/loop", b"{}")
    assert len(receiver.requests) == outbound.MAX_REDIRECTS + 1


def test_an_allowed_private_network_admits_only_that_network(receiver, second_loopback, strict):
    strict.ALERTS_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.1/32"]
    assert outbound.post(receiver.url + "/ok", b"{}") == 200
    with pytest.raises(outbound.OutboundError, match=REFUSED):
        outbound.post(second_loopback.url + "/no", b"{}")
    assert second_loopback.requests == []


def test_the_vetted_address_is_the_one_connected_to(receiver, strict):
    """Resolve once, connect to what was vetted: 'localhost' may also resolve to ::1, which is
    not in the allowed network, so only the 127.0.0.1 row is ever used."""
    strict.ALERTS_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.1/32"]
    port = int(receiver.url.rsplit(":", 1)[1])
    rows = outbound.vetted_addresses("localhost", port)
    assert {row[4][0] for row in rows} == {"127.0.0.1"}
    sock = outbound.open_socket("localhost", port, 3.0)
    try:
        assert sock.getpeername()[:2] == ("127.0.0.1", port)
    finally:
        sock.close()


def test_a_remote_answer_body_never_reaches_the_channel_error(team, receiver, settings):
    settings.ALERTS_ALLOW_PRIVATE_TARGETS = True
    receiver.statuses["/leaky"] = 410
    receiver.bodies["/leaky"] = b"FATAL: password authentication failed for user postgres"
    channel = routed(team, "webhook", receiver.url + "/leaky")
    leak(machine())
    flush_outbox(NOW)
    channel.refresh_from_db()
    assert channel.disabled_reason == "HTTP 410"
    stored = json.dumps(list(Notification.objects.values("last_error", "reason")))
    assert "postgres" not in stored + channel.last_error


def test_a_developer_sees_no_internal_status_code_from_a_refused_target(
    client, receiver, strict, bob
):
    m = machine(owner="bob")
    receiver.statuses["/db"] = 503
    Channel.objects.create(
        team=m.team, kind="webhook", target=receiver.url + "/db", owner=bob, min_severity="info"
    )
    leak(m)
    flush_outbox(NOW)
    assert receiver.requests == []
    client.force_login(bob)
    page = client.get("/alerts/me/").content.decode()
    assert REFUSED in page
    assert "503" not in page


@pytest.mark.skipif("apprise" not in TRANSPORTS, reason="apprise is not installed")
def test_an_apprise_http_url_to_loopback_is_refused_without_the_setting(team, receiver, strict):
    target = receiver.url.replace("http://", "json://") + "/apprise"
    channel = routed(team, "apprise", target)
    leak(machine())
    flush_outbox(NOW)
    assert receiver.requests == []
    channel.refresh_from_db()
    assert not channel.enabled
    assert REFUSED in channel.disabled_reason


@pytest.mark.skipif("apprise" not in TRANSPORTS, reason="apprise is not installed")
def test_an_apprise_redirect_to_a_refused_address_is_not_followed(
    team, receiver, second_loopback, strict
):
    strict.ALERTS_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.1/32"]
    receiver.redirects["/apprise"] = second_loopback.url + "/internal"
    routed(team, "apprise", receiver.url.replace("http://", "json://") + "/apprise")
    leak(machine())
    flush_outbox(NOW)
    assert [r["path"] for r in receiver.requests] == ["/apprise"]
    assert second_loopback.requests == []


@pytest.mark.skipif("apprise" not in TRANSPORTS, reason="apprise is not installed")
def test_a_personal_apprise_channel_is_never_sent(team, receiver, bob):
    m = machine(owner="bob")
    Channel.objects.create(
        team=m.team, kind="apprise", owner=bob, min_severity="info",
        target=receiver.url.replace("http://", "json://") + "/apprise",
    )  # fmt: skip
    leak(m)
    flush_outbox(NOW)
    assert receiver.requests == []
    row = Notification.objects.get(channel__owner=bob)
    assert row.status == "failed"
    assert "team channels only" in row.last_error


@pytest.mark.skipif("apprise" not in TRANSPORTS, reason="apprise is not installed")
def test_an_apprise_redirect_to_an_allowed_address_is_followed(
    team, receiver, second_loopback, settings
):
    """The other half of the test above: Apprise does follow redirects, so refusing matters."""
    settings.ALERTS_ALLOW_PRIVATE_TARGETS = True
    receiver.redirects["/apprise"] = second_loopback.url + "/internal"
    routed(team, "apprise", receiver.url.replace("http://", "json://") + "/apprise")
    leak(machine())
    flush_outbox(NOW)
    assert [r["path"] for r in second_loopback.requests] == ["/internal"]


@pytest.fixture
def tls_receiver(tmp_path):
    """An HTTPS receiver on 127.0.0.1 with a self-signed certificate for the name localhost."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make the test certificate (apt-get install openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server = HttpReceiver(tls=(str(cert), str(key))).start()
    yield server, cert
    server.stop()


def test_https_checks_the_certificate_against_the_host_name(tls_receiver, strict, monkeypatch):
    server, cert = tls_receiver
    strict.ALERTS_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.1/32"]
    port = server.url.rsplit(":", 1)[1]
    with pytest.raises(outbound.OutboundError, match="TLS error"):  # not a trusted CA
        outbound.post(f"https://localhost:{port}/hook", b"{}")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # now trusted: delivered to the vetted IP
    assert outbound.post(f"https://localhost:{port}/hook", b'{"ok":1}') == 200
    assert server.posts("/hook")[0]["json"] == {"ok": 1}
    with pytest.raises(outbound.OutboundError, match="TLS error"):  # the name must match
        outbound.post(f"https://127.0.0.1:{port}/hook", b"{}")
