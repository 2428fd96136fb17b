"""Escape agent- and user-supplied text for each chat service's markup, so it stays text.

Hostnames, project paths, versions, titles and evidence come from agents or users: none may
become a link, a mention or a ping. Links in messages are built by the transports from the
server's own URLs only (`server_link`).
"""

from __future__ import annotations

import re

from django.conf import settings

ZWSP = "\u200b"  # zero-width space: breaks a token for the parser, invisible to the reader
# scheme:// in agent text becomes scheme[:]// so no client turns it into a link.
_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]{0,30}):(?=//)")
# A mention starts after a space or punctuation; "gopls@latest" and emails are not mentions,
# and stay intact so a command copied from the message still runs.
_BROADCAST = re.compile(r"(?i)(?<!\w)@(everyone|here|channel|all)\b")
_AT = re.compile(r"(?<!\w)@(?=\w)")
_MARKDOWN = re.compile(r"([\\`*_~|\[\]()<>#!])")


def defang(text: str) -> str:
    """Break URL schemes and broadcast mentions; used by every chat format."""
    text = _SCHEME.sub(r"\1[:]", str(text))
    return _BROADCAST.sub(lambda m: "@" + ZWSP + m.group(1), text)


def slack(text: str) -> str:
    """Slack mrkdwn: &, < and > are the control characters (<!channel>, <@U1>, <url|label>)."""
    text = defang(text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def markdown(text: str) -> str:
    """Mattermost and Discord markdown: backslash-escape the syntax characters (links,
    emphasis, code, <@id> mentions) and break every @mention (Mattermost pings @name)."""
    text = _AT.sub("@" + ZWSP, defang(text))
    return _MARKDOWN.sub(r"\\\1", text)


def googlechat(text: str) -> str:
    """Google Chat text: links and mentions are <url|label> and <users/all>, and it documents
    no escape for < and >, so they become look-alike angle quotes."""
    return defang(text).replace("<", "\u2039").replace(">", "\u203a")


def plain(text: str) -> str:
    """Teams TextRun: no markdown at all; only bare URLs and broadcasts need breaking."""
    return defang(text)


def server_link(url: str) -> str:
    """url if it is one of this server's own links, else "" (never a link to anywhere else)."""
    base = settings.DEVFLEET_BASE_URL.rstrip("/") + "/"
    return url if url and url.startswith(base) else ""


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
