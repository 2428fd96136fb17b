"""Regenerate apps/anomalies/data/gopls_settings.json from a golang/tools git repository.

usage: python tools/gen_gopls_settings.py GIT_DIR [--out PATH] [--first v0.6.0]

GIT_DIR is a clone (or bare mirror) of https://github.com/golang/tools. For every release tag
gopls/vX.Y.Z from --first on (pre-releases skipped), and for the newest commit (HEAD, marked
as the unreleased next minor version), this reads with `git show TAG:PATH`:

- the documented settings: gopls/internal/doc/api.json (v0.16+) or the generated
  api_json.go (before): name, Type and enum values of every option;
- the settings gopls accepts: the `case "name":` labels of the settings switch
  (Options.set / setOne in settings.go or options.go), which also takes undocumented and
  deprecated names (a deprecated case answers with a deprecation warning); any other name
  is answered with "unexpected setting".

It writes, per setting, the ranges of releases that accept it with the JSON kind gopls wants
(bool, string, enum + values, array, object, duration, integer; null = not checked) and its
status (deprecated or not). Only this derived table is kept in the repository, never code
from golang/tools.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "apps" / "anomalies" / "data" / "gopls_settings.json"
API_PATHS = (
    "gopls/internal/doc/api.json",
    "gopls/internal/settings/api_json.go",
    "gopls/internal/lsp/source/api_json.go",
    "internal/lsp/source/api_json.go",
)
SWITCH_PATHS = (
    "gopls/internal/settings/settings.go",
    "gopls/internal/lsp/source/options.go",
    "internal/lsp/source/options.go",
)
KINDS = {
    "bool": "bool",
    "string": "string",
    "enum": "enum",
    "[]string": "array",
    "time.Duration": "duration",
    "int": "integer",
    "int64": "integer",
}
DEPRECATED = re.compile(
    r"^\t\t(?:return (?:nil, |counts, )?deprecatedError\(|result\.deprecated\("
    r"|(?:return (?:nil, )?)?(?:result\.)?softErrorf\([^\n]*deprecated)",
    re.M,
)
SETTERS = [  # (pattern in a case body, kind) for names api.json does not document
    (r"setBoolMap|asBoolMap|setAnnotationMap|map\[string\]", "object"),
    (r"setStringSlice|asStringSlice|\[\]string|\[\]interface\{\}|\[\]any", "array"),
    (r"setDuration|ParseDuration", "duration"),
    (r"setInt64|asInt64", "integer"),
    (r"setEnum|asEnum|asOneOf", "enum"),
    (r"setBool\b|asBool\b|setBool\(", "bool"),
    (r"setString\b|asString\b", "string"),
]


def git(repo: str, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", repo, *args], check=True, capture_output=True, text=True
    ).stdout


def show(repo: str, rev: str, paths) -> tuple[str, str] | None:
    files = set(git(repo, "ls-tree", "-r", "--name-only", rev).split("\n"))
    for path in paths:
        if path in files:
            return path, git(repo, "show", f"{rev}:{path}")
    return None


def version(tag: str) -> tuple[int, int, int]:
    return tuple(int(x) for x in tag.split("/v", 1)[1].split("."))


def documented(path: str, text: str) -> dict[str, tuple[str | None, list[str] | None]]:
    """{name: (kind, enum values)} of every documented option."""
    out: dict[str, tuple[str | None, list[str] | None]] = {}
    if path.endswith(".json"):
        for options in json.loads(text)["Options"].values():
            for o in options:
                values = [json.loads(v["Value"]) for v in o.get("EnumValues") or []]
                out[o["Name"]] = _kind(o["Type"], values)
        return out
    body = text.split("Options:", 1)[1].split("\n\tCommands:", 1)[0]
    for block in re.split(r"\n\t\t\t\{\n", body)[1:]:
        block = block.split("\n\t\t\t},", 1)[0]
        name = re.search(r'^\t\t\t\tName:\s+"([^"]+)"', block, re.M)
        typ = re.search(r'^\t\t\t\tType:\s+"([^"]+)"', block, re.M)
        if not name or not typ:
            continue
        values = [
            json.loads(json.loads(f'"{v}"'))
            for v in re.findall(r'Value:\s+"((?:[^"\\]|\\.)*)"', block)
        ]
        out[name.group(1)] = _kind(typ.group(1), values)
    return out


def _kind(go_type: str, values: list) -> tuple[str | None, list[str] | None]:
    if go_type.startswith("map["):
        return "object", None
    kind = KINDS.get(go_type)
    if kind == "enum":
        return kind, [str(v) for v in values if isinstance(v, str)]
    return kind, None


def accepted(text: str) -> dict[str, tuple[bool, str | None]]:
    """{name: (deprecated, kind from its setter)} of the settings switch's top-level cases."""
    m = re.search(r"\nfunc \(o \*Options\) (?:set|setOne)\(name string.*?\n\}\n", text, re.S)
    if not m:
        raise ValueError("settings switch not found")
    out: dict[str, tuple[bool, str | None]] = {}
    parts = re.split(r"\n\tcase ([^\n]+?):[ \t]*(?://[^\n]*)?\n", m.group(0))
    for labels, body in zip(parts[1::2], parts[2::2]):
        body = body.split("\n\tdefault:", 1)[0]
        names = re.findall(r'"([^"]+)"', labels)
        # Deprecated when the case itself (two tabs deep, not inside an if) says so; a
        # nested call deprecates only one spelling or one value (codelens → codelenses).
        deprecated = bool(re.search(DEPRECATED, body))
        kind = next((k for pattern, k in SETTERS if re.search(pattern, body)), None)
        for name in names:
            out[name] = (deprecated, kind)
    return out


def table(repo: str, first: tuple[int, int, int]) -> dict:
    release = re.compile(r"gopls/v\d+\.\d+\.\d+")
    tags = sorted(
        (t for t in git(repo, "tag", "-l", "gopls/v*").split() if release.fullmatch(t)), key=version
    )
    tags = [t for t in tags if version(t) >= first]
    head = git(repo, "rev-parse", "HEAD").strip()
    head_date = git(repo, "log", "-1", "--format=%cs", "HEAD").strip()
    newest = version(tags[-1])
    releases = [t.split("/", 1)[1] for t in tags] + [f"v{newest[0]}.{newest[1] + 1}.0"]
    per_release = []
    for rev in [*tags, head]:
        api = show(repo, rev, API_PATHS)
        switch = show(repo, rev, SWITCH_PATHS)
        if switch is None:
            raise SystemExit(f"{rev}: no settings switch found")
        docs = documented(*api) if api else {}
        names = accepted(switch[1])
        state = {}
        for name, (deprecated, setter_kind) in names.items():
            kind, values = docs.get(name, (setter_kind, None))
            state[name] = [kind, values, "deprecated" if deprecated else ""]
        per_release.append(state)
        print(f"{rev}: {len(names)} accepted, {len(docs)} documented", file=sys.stderr)
    settings: dict[str, list] = {}
    for name in sorted({n for state in per_release for n in state}):
        ranges: list[list] = []
        for i, state in enumerate(per_release):
            if name not in state:
                continue
            if ranges and ranges[-1][1] == i - 1 and ranges[-1][2:] == state[name]:
                ranges[-1][1] = i
            else:
                ranges.append([i, i, *state[name]])
        settings[name] = ranges
    return {
        "about": "Settings each gopls release accepts, derived from golang/tools by "
        "tools/gen_gopls_settings.py (see its docstring). ranges: [first, last] indexes "
        "into releases (inclusive), kind, enum values, status.",
        "source": "https://github.com/golang/tools",
        "snapshot": {"commit": head, "date": head_date},
        "read": {"documented": list(API_PATHS), "accepted": list(SWITCH_PATHS)},
        "tags": list(tags),
        "releases": releases,
        "unreleased": {
            "release": releases[-1],
            "commit": head,
            "note": f"HEAD of the snapshot ({head_date}), after {tags[-1]}: what the next "
            "minor release was expected to accept when the table was made",
        },
        "settings": settings,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("git_dir")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--first", default="v0.6.0")
    args = parser.parse_args()
    first = tuple(int(x) for x in args.first.lstrip("v").split("."))
    data = table(args.git_dir, first)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, separators=(",", ":"), sort_keys=False)
    # one setting per line keeps diffs between regenerations readable
    text = text.replace(',"settings":{', ',\n"settings":{\n').replace('],"', '],\n"')
    Path(args.out).write_text(text + "\n")
    print(f"wrote {args.out}: {len(data['settings'])} settings, {len(data['releases'])} releases")


if __name__ == "__main__":
    main()
