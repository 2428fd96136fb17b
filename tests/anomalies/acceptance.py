"""Acceptance A: compare findings with the simulator's manifest (scenario → rule, explicitly)."""

from __future__ import annotations

# The simulator's scenario ids (apps/simulator/scenarios.py) → the rule that must fire.
SCENARIO_RULES: dict[str, set[str]] = {
    "gopls_leak": {"gopls_memory_leak"},
    "cpu_pegged": {"gopls_cpu_pegged"},
    "cpu_busy_idle": {"gopls_cpu_busy_idle"},
    "inotify_exhaustion": {"inotify_watches", "inotify_instances"},
    "wsl_memory_pressure": {"wsl_memory_pressure"},
    "oom_kill": {"oom_kill"},
    "cache_bloat": {"cache_disk_full"},
    "invented_flags": {"gopls_invalid_flags"},
    "goplsargs_setting": {"go_goplsargs_setting"},
    "gomemlimit_bad_suffix": {"gomemlimit_bad_suffix"},
    "gomemlimit_in_build_env": {"gomemlimit_in_build_env"},
    "memorymode_setting": {"gopls_obsolete_setting"},
    "rpc_trace_on": {"gopls_rpc_trace_on"},
    "wslconf_misplaced_keys": {"wsl_conf_misplaced_keys"},
    "workspace_on_drvfs": {"wsl_workspace_on_drvfs"},
    "old_gopls": {"gopls_version_known_bad"},
    "crash_loop": {"gopls_crash_loop"},
    "no_debug_server": {"gopls_no_debug_server"},
    "orphan_gopls": {"gopls_orphan"},
    "too_many_gopls": {"too_many_gopls"},
    "fd_near_limit": {"gopls_fd_near_limit"},
    "cgroup_memory_low": {"cgroup_memory_low"},
    "memory_outlier": {"fleet_memory_outlier"},
}
# Findings the manifest tolerates under names that are not scenarios.
EXTRA_NAMES = {"memory_high": {"gopls_memory_high"}, "goroutine_growth": {"gopls_goroutine_growth"}}
# Consequences a detector may add on top of a scenario (the knowledge base explains why).
COMPANIONS: dict[str, set[str]] = {
    "cache_bloat": {"gopls_cache_oversized"},
    "old_gopls": {"gopls_memory_high", "gopls_cpu_busy_idle"},
    "wsl_memory_pressure": {"wsl_default_cap_large_gopls", "gopls_memory_high"},
    "too_many_gopls": {"gopls_orphan"},
    "oom_kill": {"gopls_crash_loop"},
}


def tolerated(problem: dict) -> set[str]:
    names = set(problem.get("may_also_show") or [])
    out = set(SCENARIO_RULES[problem["scenario"]]) | COMPANIONS.get(problem["scenario"], set())
    for name in names:
        out |= SCENARIO_RULES.get(name, set()) | EXTRA_NAMES.get(name, set())
    return out


def compare(manifest: dict, findings: dict[str, set[str]]) -> list[str]:
    """Problems: missing expected findings, unexpected findings, findings on healthy machines."""
    problems = []
    for machine in manifest["machines"]:
        got = findings.get(machine["machine_id"], set())
        allowed: set[str] = set()
        for problem in machine["problems"]:
            allowed |= tolerated(problem)
            want = SCENARIO_RULES[problem["scenario"]]
            if problem.get("expected") and problem.get("in_window", True) and not got & want:
                problems.append(f"{machine['machine_id']}: {problem['scenario']} not found")
            if not problem.get("expected"):
                allowed |= want
        extra = got - allowed
        if extra:
            label = "healthy" if machine["healthy"] else "extra"
            problems.append(f"{machine['machine_id']} ({label}): {sorted(extra)}")
    return problems
