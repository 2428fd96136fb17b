"""Vendor check: is vendor/modules.txt consistent with go.mod in each gopls workspace module?

The rules follow the go command's checkVendorConsistency (cmd/go/internal/modload/vendor.go):
with a go directive ≥ 1.14 every requirement must be marked `## explicit` at the same version
in vendor/modules.txt and nothing else may be, and the replacements must match; before 1.14
only a version mismatch is an error. In vendor mode (-mod=vendor, or by default from go 1.14
when vendor/ exists) an inconsistency makes every go command in the module fail with
"go: inconsistent vendoring". Only files are read; no go command runs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from devfleet_agent.collectors.base import INVENTORY, CollectorContext, collector

MAX_GO_MOD = 1 << 20
MAX_MODULES_TXT = 4 << 20
_COMMENT = re.compile(r"//.*")


def _unquote(word: str) -> str:
    return word[1:-1] if len(word) >= 2 and word[0] == word[-1] and word[0] in "\"`" else word


def parse_go_mod(text: str) -> dict[str, Any]:
    """go directive, requirements {path: version} and replacements {(path, version): target}."""
    out: dict[str, Any] = {"go": None, "require": {}, "replace": {}}
    block = None
    for raw in text.splitlines():
        line = _COMMENT.sub("", raw).strip()
        if not line:
            continue
        if block and line == ")":
            block = None
            continue
        words = [_unquote(w) for w in line.split()]
        if block is None:
            if words[0] in ("require", "replace") and words[1:] == ["("]:
                block = words[0]
                continue
            verb, words = words[0], words[1:]
        else:
            verb = block
        if verb == "go" and words:
            out["go"] = words[0]
        elif verb == "require" and len(words) >= 2:
            out["require"][words[0]] = words[1]
        elif verb == "replace" and "=>" in words:
            at = words.index("=>")
            old, new = words[:at], words[at + 1 :]
            if old and new:
                out["replace"][(old[0], old[1] if len(old) > 1 else "")] = " ".join(new[:2])
    return out


def parse_modules_txt(text: str) -> dict[str, Any]:
    """{"versions": {path: version}, "explicit": {(path, version)}, "replace": {(path, v): to}}."""
    versions: dict[str, str] = {}
    explicit: set[tuple[str, str]] = set()
    replace: dict[tuple[str, str], str] = {}
    current: tuple[str, str] | None = None
    for line in text.splitlines():
        if line.startswith("# "):
            words = line[2:].split()
            current = None
            if "=>" in words:
                at = words.index("=>")
                old, new = words[:at], words[at + 1 :]
                if old and new:
                    replace[(old[0], old[1] if len(old) > 1 else "")] = " ".join(new[:2])
                    if len(old) > 1:
                        versions[old[0]] = old[1]
                        current = (old[0], old[1])
            elif len(words) >= 2:
                versions[words[0]] = words[1]
                current = (words[0], words[1])
        elif line.startswith("## ") and current is not None:
            markers = [w.strip() for w in line[3:].split(";")]
            explicit.update([current] if "explicit" in markers else [])
    return {"versions": versions, "explicit": explicit, "replace": replace}


def _go_at_least(version: str | None, minor: int) -> bool:
    m = re.match(r"1\.(\d+)", version or "")
    return bool(m) and int(m.group(1)) >= minor


def vendor_problems(go_mod: dict[str, Any], modules: dict[str, Any] | None) -> list[str]:
    """The go command's inconsistent-vendoring messages for this go.mod and modules.txt."""
    modules = modules or {"versions": {}, "explicit": set(), "replace": {}}
    problems: list[str] = []
    pre114 = not _go_at_least(go_mod["go"], 14)
    required = {(p, v) for p, v in go_mod["require"].items()}
    for path, version in sorted(required):
        if (path, version) in modules["explicit"]:
            continue
        seen = modules["versions"].get(path)
        if pre114:
            if seen is not None and seen != version:
                problems.append(f"{path}@{version}: is explicitly required in go.mod, but "
                                f"vendor/modules.txt indicates {path}@{seen}")
        else:
            problems.append(f"{path}@{version}: is explicitly required in go.mod, but not "
                            "marked as explicit in vendor/modules.txt")
    if not pre114:
        for path, version in sorted(modules["explicit"] - required):
            problems.append(f"{path}@{version}: is marked as explicit in vendor/modules.txt, "
                            "but not explicitly required in go.mod")
    for old, new in sorted(go_mod["replace"].items()):
        name = old[0] + (f"@{old[1]}" if old[1] else "")
        got = modules["replace"].get(old)
        if got is None:
            problems.append(f"{name}: is replaced in go.mod, but not marked as replaced in "
                            "vendor/modules.txt")
        elif got != new:
            problems.append(f"{name}: is replaced by {new} in go.mod, but marked as replaced "
                            f"by {got} in vendor/modules.txt")
    for old in sorted(modules["replace"]):
        # `# path v => x` records the replacement applied to that version: a go.mod replace
        # of that version or of every version (no version) covers it.
        if old in go_mod["replace"] or (old[0], "") in go_mod["replace"]:
            continue
        name = old[0] + (f"@{old[1]}" if old[1] else "")
        problems.append(f"{name}: is marked as replaced in vendor/modules.txt, but not "
                        "replaced in go.mod")
    return problems


def mod_flag(goflags: str | None) -> str | None:
    """The -mod= value in a GOFLAGS string (the last one wins), or None."""
    value = None
    for word in (goflags or "").split():
        if word.lstrip("-").startswith("mod="):
            value = word.split("=", 1)[1]
    return value


def _workspace(root: Path, mapper, environ: dict[str, str]) -> bool:
    if environ.get("GOWORK") == "off":
        return False
    if environ.get("GOWORK"):
        return True
    for folder in [root, *list(root.parents)[:8]]:
        if mapper(str(folder / "go.work")).is_file():
            return True
    return False


def check_module(root: str, mapper=Path, environ: dict[str, str] | None = None) -> dict | None:
    """The vendor state of one module root, or None when it has no go.mod."""
    base = Path(root)
    go_mod_path = mapper(str(base / "go.mod"))
    try:
        with open(go_mod_path, "rb") as fh:
            go_mod = parse_go_mod(fh.read(MAX_GO_MOD).decode("utf-8", "replace"))
    except OSError:
        return None
    vendor = mapper(str(base / "vendor"))
    modules_path = mapper(str(base / "vendor" / "modules.txt"))
    entry: dict[str, Any] = {
        "root": root[:4096],
        "go": go_mod["go"],
        "has_vendor_dir": vendor.is_dir(),
        "has_modules_txt": modules_path.is_file(),
        "requirements": len(go_mod["require"]),
        "workspace": _workspace(base, mapper, environ or {}),
        "consistent": None,
        "problems": [],
    }
    if entry["workspace"]:
        return entry  # go.work vendoring lives at the workspace root: not checked here
    modules = None
    if entry["has_modules_txt"]:
        try:
            with open(modules_path, "rb") as fh:
                modules = parse_modules_txt(fh.read(MAX_MODULES_TXT).decode("utf-8", "replace"))
        except OSError as exc:
            entry["problems"] = [f"cannot read vendor/modules.txt: {exc.strerror}"]
            return entry
    problems = vendor_problems(go_mod, modules)
    entry["consistent"] = not problems
    entry["problems"] = [p[:512] for p in problems[:16]]
    entry["problem_count"] = len(problems)
    return entry


def _goflags(ctx: CollectorContext) -> list[str]:
    flags = [ctx.environ.get("GOFLAGS", "")]
    flags.append(ctx.facts.go_env.get("GOFLAGS", ""))
    for proc in ctx.facts.gopls.values():
        flags.append(proc.env.get("GOFLAGS", ""))
    return [f for f in flags if f]


@collector("vendor", section=INVENTORY, interval_key="inventory_interval_s", budget_ms=100.0)
def collect_vendor(ctx: CollectorContext) -> dict[str, Any]:
    """Each gopls module root with a vendor directory, or every root when some GOFLAGS the
    agent sees says -mod=vendor: go.mod against vendor/modules.txt (re-read on change)."""
    mod_vendor = any(mod_flag(f) == "vendor" for f in _goflags(ctx))
    roots: list[str] = []
    for proc in ctx.facts.gopls.values():
        for root in proc.project_roots:
            if root not in roots:
                roots.append(root)
    cache = ctx.cache("vendor")
    out = []
    for root in roots[:16]:
        paths = [ctx.host_path(str(Path(root) / p)) for p in ("go.mod", "vendor/modules.txt")]
        key = (*tuple(_stamp(p) for p in paths), mod_vendor)
        if cache.get(root, (None,))[0] != key:
            entry = check_module(root, ctx.host_path, ctx.environ)
            cache[root] = (key, entry)
        entry = cache[root][1]
        if entry and (entry["has_vendor_dir"] or mod_vendor):
            out.append(entry)
    return {"vendor": out}


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)
