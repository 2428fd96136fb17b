"""gopls process collector: servers, editor, RSS/CPU, children, project, version, debug server."""

from __future__ import annotations

from typing import Any

from devfleet_agent.collectors.base import CollectorContext, collector
from devfleet_agent.collectors.facts import GoplsProcess
from devfleet_agent.probes import classify, debugclient, debugparse, gotool, procfs
from devfleet_agent.probes.procsource import ENV_KEEP, Gone, make_source
from devfleet_agent.probes.workspace import find_project
from devfleet_agent.timefmt import iso

RESCAN_EVERY = 4  # cycles between full name rescans (catches processes that exec'd into gopls)
RPC_EVERY = 4  # cycles between /metrics/ (+ /rpc/) scrapes
MAX_CHILDREN = 64
STATIC_EVERY = 20  # cycles (5 min at 15 s) between repeats of a process's static facts


@collector("gopls", budget_ms=1500.0)
def collect_gopls(ctx: CollectorContext) -> dict[str, Any]:
    """Every gopls server process with its metrics; telemetry sidecars and forwarders counted."""
    st = ctx.cache("gopls")
    try:
        return _collect(ctx, st)
    finally:
        # What the other collectors may know of these processes (never this cache itself).
        ctx.facts.gopls = {
            pid: GoplsProcess.from_entry(pid, entry) for pid, entry in st.get("procs", {}).items()
        }


def _collect(ctx: CollectorContext, st: dict[str, Any]) -> dict[str, Any]:
    src = st.get("source")
    if src is None:
        src = st["source"] = make_source(ctx.proc_root, ctx.platform)
    st["cycle"] = cycle = st.get("cycle", 0) + 1
    table: dict[int, tuple[str, int] | None] = st.setdefault("table", {})
    procs: dict[int, dict[str, Any]] = st.setdefault("procs", {})
    pids = src.pids()
    full = cycle % RESCAN_EVERY == 1
    live = set(pids)
    candidates = []
    for pid in pids:
        if full or pid not in table:
            old = table.get(pid)
            table[pid] = src.scan(pid)
            if old is not None and table[pid] is not None and old[0] != table[pid][0]:
                procs.pop(pid, None)  # exec'd into something else, or pid reuse
        row = table[pid]
        if row is not None and classify.is_gopls_name(row[0]):
            candidates.append(pid)
    for pid in [p for p in table if p not in live]:
        del table[pid]
        procs.pop(pid, None)
    src.forget(live)
    kids: dict[int, list[int]] = {}
    for pid, row in table.items():
        if row is not None:
            kids.setdefault(row[1], []).append(pid)
    st["kids"] = kids
    out: list[dict[str, Any]] = []
    excluded = {"telemetry_sidecars": 0, "forwarders": 0}
    errors: list[str] = []
    for pid in candidates:
        try:
            entry = procs.get(pid)
            if entry is None:
                entry = procs[pid] = _new_entry(ctx, src, pid)
            if entry["kind"] == classify.TELEMETRY:
                excluded["telemetry_sidecars"] += 1
                continue
            if entry["kind"] == classify.FORWARDER:
                excluded["forwarders"] += 1
                continue
            if entry["kind"] != classify.SERVER:
                continue
            out.append(_sample(ctx, src, pid, entry, cycle))
        except Gone:
            procs.pop(pid, None)  # vanished mid-read: not an error
        except (OSError, ValueError) as exc:
            errors.append(f"pid {pid}: {type(exc).__name__}: {exc}")
    result: dict[str, Any] = {"gopls": out[:64], "gopls_excluded": excluded}
    if errors:
        result["_errors"] = errors
    return result


def _new_entry(ctx: CollectorContext, src: Any, pid: int) -> dict[str, Any]:
    static = src.static(pid)
    argv = static["argv"] or []
    env = static.get("environ") or {}
    kind = classify.classify_gopls(argv, env)
    entry: dict[str, Any] = {"kind": kind, "create_time": static["create_time"],
                             "start_time": iso(static["create_time"]), "argv": argv,
                             "exe": static.get("exe"), "env": env}
    if kind != classify.SERVER:
        return entry
    chain = src.ancestry(pid)
    editor_kind, editor_proc = classify.editor_from_chain(chain)
    entry["editor"] = {
        "kind": editor_kind, "process": editor_proc,
        "chain": [(f"{n} ({e})" if e else n)[:256] for n, e, _ in chain][:16],
    }
    entry["editor_exes"] = [e for _, e, _ in chain if e][:8]
    entry["debug_addr"] = debugparse.parse_debug_addr(argv)
    if entry["exe"]:
        entry["binary"] = gotool.binary_info(ctx, entry["exe"], env.get("PATH"))
    else:
        entry["binary"] = {}
    return entry


def _sample(ctx: CollectorContext, src: Any, pid: int, entry: dict[str, Any],
            cycle: int) -> dict[str, Any]:
    now = ctx.monotonic()
    dyn = src.dynamic(pid)
    cpu_pct = None
    if "last_cpu" in entry and now > entry["last_t"]:
        cpu_pct = max(0.0, (dyn["cpu_s"] - entry["last_cpu"]) / (now - entry["last_t"]) * 100)
    entry["last_cpu"], entry["last_t"] = dyn["cpu_s"], now
    if now >= entry.get("next_slow", 0):
        entry["next_slow"] = now + 60
        entry["cwd"] = src.cwd(pid)
        entry["fd_limit"] = src.fd_limit(pid)
        entry["cgroup_path"] = _cgroup_path(ctx, pid)
    binary = entry.get("binary") or {}
    sample: dict[str, Any] = {
        "pid": pid,
        "start_time": entry["start_time"],
        "rss_bytes": dyn["rss"],
        "cpu_percent": round(cpu_pct, 2) if cpu_pct is not None else None,
        "threads": dyn["threads"],
        "open_fds": dyn["open_fds"],
        "fd_limit": entry.get("fd_limit"),
        "children": _children(src, pid, entry, now, ctx.cache("gopls").get("kids", {})),
    }
    if entry.get("debug_addr"):
        sample["debug"] = _debug(ctx, src, pid, entry, cycle, now)
    cg = _cgroup(ctx, entry)
    if cg:
        sample["cgroup"] = cg
    roots = entry.get("roots") or ([entry["cwd"]] if entry.get("cwd") else [])
    key = (entry.get("cwd"), tuple(roots), id(binary))
    if entry.get("static_key") != key:  # rebuilt only when cwd, roots or the binary change
        entry["static_key"] = key
        entry["static"] = {
            "exe": entry["exe"],
            "argv": [a[:1024] for a in entry["argv"][:64]],
            "flags": classify.flags_of(entry["argv"])[:64],
            "version": binary.get("version"),
            "version_source": binary.get("version_source"),
            "go_version": binary.get("go_version"),
            "editor": entry["editor"],
            "cwd": entry.get("cwd"),
            "env": {k: v for k, v in entry["env"].items() if k in ENV_KEEP},
            "workspace_roots": roots,
            "projects": _projects(ctx, roots),
        }
    static = entry["static"]
    # Static facts go out on first sight, on change and every STATIC_EVERY cycles (the server
    # keeps them per process lifetime), so per-sample data stays small.
    digest = id(static)
    if ctx.facts.full_static or digest != entry.get("static_digest") or \
            cycle - entry.get("static_cycle", -STATIC_EVERY) >= STATIC_EVERY:
        entry["static_digest"], entry["static_cycle"] = digest, cycle
        sample.update(static)
    return sample


def _children(src: Any, pid: int, entry: dict[str, Any], now: float,
              kids: dict[int, list[int]]) -> dict[str, Any]:
    """Descendants from the cycle's ppid table (no per-thread /proc reads), with their CPU."""
    prev: dict[tuple[int, float], float] = entry.get("child_cpu", {})
    seen: dict[tuple[int, float], float] = {}
    groups: dict[str, dict[str, Any]] = {}
    frontier, count = list(kids.get(pid, [])), 0
    dt = now - entry.get("child_t", now)
    while frontier and count < MAX_CHILDREN:
        child = frontier.pop()
        info = src.cpu_and_name(child)
        if info is None:
            continue
        name, cpu_s, ctime = info
        count += 1
        key = (child, ctime)
        seen[key] = cpu_s
        g = groups.setdefault(name, {"name": name[:512], "count": 0, "cpu_percent": 0.0})
        g["count"] += 1
        if key in prev and dt > 0:
            g["cpu_percent"] += max(0.0, (cpu_s - prev[key]) / dt * 100)
        frontier.extend(kids.get(child, []))
    entry["child_cpu"], entry["child_t"] = seen, now
    top = sorted(groups.values(), key=lambda g: (-g["cpu_percent"], g["name"]))[:10]
    for g in top:
        g["cpu_percent"] = round(g["cpu_percent"], 2)
    total = round(sum(g["cpu_percent"] for g in groups.values()), 2)
    return {"count": count, "cpu_percent": total, "top": top}


def _debug(ctx: CollectorContext, src: Any, pid: int, entry: dict[str, Any], cycle: int,
           now: float) -> dict[str, Any]:
    addr = entry["debug_addr"]
    out: dict[str, Any] = {"addr": addr, "ok": False, "error": None}
    target = _debug_target(src, pid, entry, now)
    if isinstance(target, str):
        out["error"] = target
        return out
    if now < entry.get("debug_retry_at", 0):
        out["error"] = entry.get("debug_error") or "backing off after failures"
        return out
    host, port = target
    out["addr"] = f"{host}:{port}"
    cfg = ctx.config
    try:
        want_rpc = cycle - entry.get("rpc_cycle", -RPC_EVERY) >= RPC_EVERY
        data = debugclient.scrape(host, port, cfg.debug_timeout_s, cfg.debug_heap_max_bytes,
                                  want_rpc=want_rpc)
        if want_rpc:
            entry["rpc_cycle"] = cycle
        out.update({k: v for k, v in data.items() if k != "rpc_error"})
        out["ok"] = True
        entry["debug_fails"] = 0
        entry["debug_host_port"] = (host, port)
        if now >= entry.get("roots_at", 0):
            entry["roots_at"] = now + 300
            try:
                entry["roots"] = debugclient.view_roots(host, port, cfg.debug_timeout_s)
            except debugclient.DebugServerError:
                pass
    except debugclient.DebugServerError as exc:
        fails = entry["debug_fails"] = entry.get("debug_fails", 0) + 1
        entry["debug_retry_at"] = now + min(600.0, 15.0 * 2 ** (fails - 1))
        entry["debug_error"] = out["error"] = str(exc)[:2000]
    return out


def _debug_target(src: Any, pid: int, entry: dict[str, Any], now: float) -> tuple | str:
    parsed = debugparse.split_addr(entry["debug_addr"])
    if parsed is None:
        return f"cannot parse debug address {entry['debug_addr']!r}"
    host, port = parsed
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"  # listening on all interfaces: we still only talk to loopback
    if not debugparse.is_local(host):
        return f"debug address {host} is not local; only localhost is scraped"
    if port == 0:
        if "debug_port" not in entry and now >= entry.get("port_lookup_at", 0):
            entry["port_lookup_at"] = now + 60
            ports = sorted({p for h, p in src.listen_ports(pid)
                            if h in ("127.0.0.1", "::1", "0.0.0.0", "::", "localhost")})
            for candidate in ports[:8]:  # gopls may also listen for -listen / MCP clients
                if _is_debug_server(host, candidate):
                    entry["debug_port"] = candidate
                    break
        if "debug_port" not in entry:
            return "debug server port (localhost:0) not found among the process's sockets"
        port = entry["debug_port"]
    return host, port


def _is_debug_server(host: str, port: int) -> bool:
    try:
        line, _ = debugclient.fetch(host, port, "/debug/pprof/goroutine?debug=1", 1.0, 4096,
                                    first_line=True)
    except debugclient.DebugServerError:
        return False
    return debugparse.parse_goroutine_total(line) is not None


def _projects(ctx: CollectorContext, roots: list[str]) -> list[dict[str, Any]]:
    cache = ctx.cache("gopls.projects")
    out = []
    for root in roots[:32]:
        if root not in cache:
            cache[root] = find_project(root, ctx.host_path)
        if cache[root]:
            out.append(cache[root])
    return out


def _cgroup_path(ctx: CollectorContext, pid: int) -> str | None:
    if not ctx.platform.startswith("linux"):
        return None
    try:
        return procfs.parse_cgroup(ctx.read_text(ctx.proc_root / str(pid) / "cgroup", 65536))
    except OSError:
        return None


def _cgroup(ctx: CollectorContext, entry: dict[str, Any]) -> dict[str, Any] | None:
    """memory.current of gopls's cgroup v2 and the tightest memory.max up the tree."""
    path = entry.get("cgroup_path")
    if not path:
        return None
    st = ctx.cache("gopls.cgroups")
    cycle = ctx.cache("gopls").get("cycle")
    hit = st.get(path)
    if hit and hit[0] == cycle:
        return hit[1]
    base = f"{ctx.sys_root}/fs/cgroup"
    rel = path.strip("/")
    try:
        with open(f"{base}/{rel}/memory.current" if rel else f"{base}/memory.current") as fh:
            current = procfs.parse_cgroup_value(fh.read(64))
    except (OSError, ValueError):
        st[path] = (cycle, None)
        return None
    limits = ctx.cache("gopls.cgroup_max")
    now = ctx.monotonic()
    if path not in limits or now >= limits[path][0]:
        limit = None
        parts = rel.split("/") if rel else []
        for i in range(len(parts), 0, -1):
            try:
                with open(f"{base}/{'/'.join(parts[:i])}/memory.max") as fh:
                    value = procfs.parse_cgroup_value(fh.read(64))
            except (OSError, ValueError):
                continue
            if value is not None and (limit is None or value < limit):
                limit = value
        limits[path] = (now + 60.0, limit)
    out = {"path": path, "memory_max_bytes": limits[path][1], "memory_current_bytes": current}
    st[path] = (cycle, out)
    return out
