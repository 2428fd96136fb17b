"""The knowledge base as pages: every rule, and one rule's advice for a chosen context."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import Http404

from apps.anomalies.advice import PLATFORMS, knowledge_base, render_advice
from apps.common.shapes import parse_go_version, parse_version, parse_wsl_version

EDITORS = ("vscode", "neovim", "vim", "emacs", "helix", "zed", "sublime", "jetbrains", "other")
_SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class AdviceContext:
    platform: str = "linux"
    editor: str = "vscode"
    gopls: str = ""
    go: str = ""
    wsl: str = ""

    @classmethod
    def from_query(cls, query) -> AdviceContext:
        platform = query.get("platform", "linux")
        editor = query.get("editor", "vscode")
        return cls(
            platform=platform if platform in PLATFORMS else "linux",
            editor=editor if editor in EDITORS else "vscode",
            gopls=str(query.get("gopls", ""))[:32].strip(),
            go=str(query.get("go", ""))[:32].strip(),
            wsl=str(query.get("wsl", ""))[:32].strip(),
        )


def rule_list() -> list[dict]:
    rules = [entry.summary() for entry in knowledge_base().values()]
    rules.sort(key=lambda r: (r["category"], _SEVERITY_RANK.get(r["severity"], 3), r["title"]))
    return rules


def rule_page(rule_id: str, ctx: AdviceContext) -> dict:
    """The rule's text and sources, all its fixes, and the advice rendered for `ctx`."""
    entry = knowledge_base().get(rule_id)
    if entry is None:
        raise Http404("no such rule")
    advice = render_advice(
        rule_id,
        platform=ctx.platform,
        editor=ctx.editor,
        gopls=parse_version(ctx.gopls),
        go=parse_go_version(ctx.go if ctx.go.startswith("go") else f"go{ctx.go}"),
        wsl=parse_wsl_version(ctx.wsl),
    )
    return {
        "rule": entry.summary(),
        "advice": advice,
        "ctx": ctx,
        "platforms": PLATFORMS,
        "editors": EDITORS,
    }
