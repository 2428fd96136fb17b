"""Drive a real gopls over stdio the way an editor does (used to capture and live-test gopls).

usage: python3 tools/lspdrive.py GOPLS WORKSPACE SECONDS [DEBUG_ADDR]
Default mode opens random files of WORKSPACE and asks for completions; LSPDRIVE_MODE=edit keeps
one file open and edits it continuously (CPU-heavy, like fast typing). Prints "gopls pid N"
first, then the completion latency. gopls's stderr goes to $LSPDRIVE_STDERR (default: discarded).
"""

from __future__ import annotations

import glob
import json
import os
import random
import subprocess
import sys
import time


def send(p: subprocess.Popen, msg: dict) -> None:
    body = json.dumps(msg).encode()
    p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    p.stdin.flush()


def recv(p: subprocess.Popen) -> dict | None:
    headers = {}
    while True:
        line = p.stdout.readline()
        if not line:
            return None
        line = line.decode().strip()
        if not line:
            break
        k, v = line.split(":", 1)
        headers[k.lower()] = v.strip()
    return json.loads(p.stdout.read(int(headers["content-length"])))


def request(p: subprocess.Popen, id_: int, method: str, params) -> dict:
    send(p, {"jsonrpc": "2.0", "id": id_, "method": method, "params": params})
    while True:
        m = recv(p)
        if m is None:
            raise SystemExit("gopls exited")
        if m.get("id") == id_ and "method" not in m:
            return m
        if "method" in m and "id" in m:  # a server->client request: answer it like an editor
            send(p, {"jsonrpc": "2.0", "id": m["id"], "result": None})


def notify(p: subprocess.Popen, method: str, params: dict) -> None:
    send(p, {"jsonrpc": "2.0", "method": method, "params": params})


def _open(p: subprocess.Popen, path: str, text: str) -> str:
    uri = "file://" + os.path.abspath(path)
    notify(
        p,
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "go", "version": 1, "text": text}},
    )
    return uri


def _complete(p: subprocess.Popen, id_: int, uri: str, line: int, character: int) -> float:
    start = time.time()
    request(
        p,
        id_,
        "textDocument/completion",
        {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}},
    )
    return time.time() - start


def edit_loop(p: subprocess.Popen, files: list[str], seconds: float, i: int):
    """Keep one file open and replace a trailing declaration with a fresh unique one each round."""
    path = files[len(files) // 2]
    with open(path) as f:
        base = f.read()
    uri = _open(p, path, base)
    t0, version, lat = time.time(), 1, []
    while time.time() - t0 < seconds:
        version += 1
        v = version
        text = base + f"\nfunc unique{v}() int {{ x{v} := {v}; return x{v} }}\n"
        notify(
            p,
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": v}, "contentChanges": [{"text": text}]},
        )
        lat.append(_complete(p, i, uri, len(text.splitlines()) - 1, 10))
        i += 1
    return i, lat


def browse_loop(p: subprocess.Popen, files: list[str], seconds: float, i: int):
    """Open random files, ask for a completion at the end of a random line, close them."""
    t0, lat = time.time(), []
    while time.time() - t0 < seconds:
        path = random.choice(files)
        with open(path) as f:
            text = f.read()
        uri = _open(p, path, text)
        lines = text.splitlines()
        ln = random.randrange(len(lines))
        lat.append(_complete(p, i, uri, ln, len(lines[ln])))
        i += 1
        notify(p, "textDocument/didClose", {"textDocument": {"uri": uri}})
    return i, lat


def main(gopls: str, root: str, seconds: float, debug_addr: str | None) -> None:
    args = [gopls] + (["-debug", debug_addr] if debug_addr else [])
    stderr = open(os.environ.get("LSPDRIVE_STDERR", os.devnull), "wb")  # noqa: SIM115
    p = subprocess.Popen(
        args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, cwd=root
    )
    print("gopls pid", p.pid, flush=True)
    uri = "file://" + os.path.abspath(root)
    request(
        p,
        1,
        "initialize",
        {
            "processId": os.getpid(),
            "rootUri": uri,
            "capabilities": {
                "textDocument": {"completion": {"completionItem": {"snippetSupport": True}}}
            },
            "workspaceFolders": [{"uri": uri, "name": "w"}],
        },
    )
    notify(p, "initialized", {})
    files = sorted(
        f
        for f in glob.glob(os.path.join(root, "**/*.go"), recursive=True)
        if not f.endswith("_test.go")
    )
    loop = edit_loop if os.environ.get("LSPDRIVE_MODE") == "edit" else browse_loop
    i, lat = loop(p, files, seconds, 2)
    lat.sort()
    if lat:
        print(
            f"completions={len(lat)} p50={lat[len(lat) // 2] * 1000:.1f}ms "
            f"p95={lat[int(len(lat) * 0.95)] * 1000:.1f}ms",
            flush=True,
        )
    request(p, i, "shutdown", None)
    notify(p, "exit", {})
    p.wait(5)


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None)
