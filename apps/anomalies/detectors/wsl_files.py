"""WSL placement rules: a .wslconfig WSL ignores, Go caches on the Windows drive or a network FS."""

from __future__ import annotations

import re

from apps.anomalies.detectors.base import Detection, rule

VM_SECTIONS = {"wsl2", "experimental"}
_DRIVE = re.compile(r"^/mnt/[a-zA-Z](/|$)")
# Filesystems whose files live on another machine (or on Windows through 9P/DrvFs).
NETWORK_FS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "drvfs", "v9fs", "afs", "ceph",
              "glusterfs", "fuse.glusterfs", "lustre", "fuse.sshfs", "sshfs", "davfs",
              "fuse.rclone", "fuse.s3fs", "gpfs", "beegfs", "fuse.ceph"}  # fmt: skip
CACHE_VARS = ("GOCACHE", "GOMODCACHE", "GOPATH")
PURPOSE_VAR = {"gocache": "GOCACHE", "gomodcache": "GOMODCACHE"}


def _wslconfig(snapshot) -> dict:
    wsl = snapshot.inventory.get("wsl")
    cfg = wsl.get("wslconfig") if isinstance(wsl, dict) else None
    return cfg if isinstance(cfg, dict) else {}


@rule("wslconfig_ignored", category="wsl")
def wslconfig_ignored(snapshot, th) -> list[Detection]:
    """A .wslconfig saved as UTF-16 is ignored as a whole; keys before [wsl2] or in an unknown
    section are ignored one by one ("Unknown key"), so the VM keeps its default cap."""
    if not snapshot.platform.startswith("wsl"):
        return []
    cfg = _wslconfig(snapshot)
    if not cfg.get("found"):
        return []
    encoding = str(cfg.get("encoding") or "")
    utf16 = encoding.lower().startswith("utf-16")
    sections = cfg.get("sections") if isinstance(cfg.get("sections"), dict) else {}
    stray = []
    for section, keys in sections.items():
        if str(section).lower() in VM_SECTIONS or not isinstance(keys, dict):
            continue
        where = f"[{section}]" if section else "before any [section] header"
        stray += [f"{k} ({where})" for k in list(keys)[:20]]
    if not utf16 and not stray:
        return []
    parts = []
    if utf16:
        parts.append(f"it is saved as {encoding}, so WSL ignores the whole file")
    if stray:
        parts.append("keys outside [wsl2]/[experimental] are ignored: " + ", ".join(stray[:5]))
    return [
        Detection(
            "wslconfig_ignored",
            fired=True,
            severity="warning",
            subject="wslconfig",
            evidence={"encoding": encoding or None, "utf16": utf16, "stray_keys": stray[:40]},
            explanation=".wslconfig does not apply: " + "; ".join(parts),
            facts={"encoding": encoding or "UTF-8", "stray_keys": ", ".join(stray[:10])},
        )
    ]


def _mount_fstype(path: str, disks: list[dict]) -> tuple[str, str] | None:
    """(mount, fstype) of the longest reported mount path containing `path`."""
    best = None
    for d in disks:
        mount = str(d.get("path") or "")
        if not mount:
            continue
        prefix = mount.rstrip("/") + "/"
        if (path == mount or path.startswith(prefix) or mount == "/") and (
            best is None or len(mount) > len(best[0])
        ):
            best = (mount, str(d.get("fstype") or "").lower())
    return best


@rule("wsl_go_cache_on_drvfs", category="wsl")
def wsl_go_cache_on_drvfs(snapshot, th) -> list[Detection]:
    """GOCACHE, GOMODCACHE or GOPATH under /mnt/<drive> (9P/DrvFs) or on a network filesystem
    inside WSL: every build and gopls load crosses the VM boundary or the network, and the
    build cache is not safe on a filesystem shared between machines."""
    if not snapshot.platform.startswith("wsl"):
        return []
    env = snapshot.inventory.get("go_env")
    env = env if isinstance(env, dict) else {}
    found: dict[str, dict] = {}
    for var in CACHE_VARS:
        for path in str(env.get(var) or "").split(":"):
            if not path or path == "off":
                continue
            if _DRIVE.match(path):
                found.setdefault(var, {"var": var, "path": path, "where": "Windows drive (9P)"})
                continue
            mount = _mount_fstype(path, snapshot.disks)
            if mount and mount[1] in NETWORK_FS:
                where = f"{mount[1]} filesystem at {mount[0]}"
                found.setdefault(var, {"var": var, "path": path, "where": where})
    for d in snapshot.disks:  # the agent's own view of where the caches are
        fstype = str(d.get("fstype") or "").lower()
        for purpose in d.get("purposes") or []:
            var = PURPOSE_VAR.get(purpose)
            if var and var not in found and fstype in NETWORK_FS:
                where = f"{fstype} filesystem at {d.get('path')}"
                found[var] = {"var": var, "path": str(d.get("path")), "where": where}
    if not found:
        return []
    items = [found[v] for v in CACHE_VARS if v in found]
    first = items[0]
    return [
        Detection(
            "wsl_go_cache_on_drvfs",
            fired=True,
            severity="warning",
            subject="go_caches",
            evidence={"caches": items},
            explanation=f"{first['var']}={first['path']} is on the {first['where']}: Go builds "
            "and gopls loads read and write it across the WSL VM boundary or the network",
            facts={"vars": " ".join(i["var"] for i in items), "where": first["where"]},
        )
    ]
