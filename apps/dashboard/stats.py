"""Pure statistics for fleet aggregates: quantiles, outliers, version ordering, regressions."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?(?:-(\S+))?")


def quantile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated quantile (q in 0..1) of values; None for no values."""
    data = sorted(values)
    if not data:
        return None
    pos = (len(data) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def quantiles(values: Sequence[float], qs: Sequence[float]) -> list[float | None]:
    """Several quantiles of the same values with one sort (what box plots need)."""
    data = sorted(values)
    if not data:
        return [None] * len(qs)
    out = []
    for q in qs:
        pos = (len(data) - 1) * q
        lo = int(pos)
        hi = min(lo + 1, len(data) - 1)
        out.append(data[lo] + (data[hi] - data[lo]) * (pos - lo))
    return out


def median(values: Sequence[float]) -> float | None:
    return quantile(values, 0.5)


def iqr_outliers(values: dict[str, float], k: float = 1.5) -> set[str]:
    """Keys whose value lies above Q3 + k·IQR (high side only: we look for heavy machines).

    Needs at least 4 values, otherwise nothing is an outlier.
    """
    if len(values) < 4:
        return set()
    data = list(values.values())
    q1, q3 = quantile(data, 0.25), quantile(data, 0.75)
    fence = q3 + k * (q3 - q1)
    return {key for key, value in values.items() if value > fence}


def version_key(version: str) -> tuple:
    """Sort key for gopls/Go versions: v0.9.2 < v0.16.0 < v0.16.2; unparsable ones last."""
    text = (version or "").removeprefix("go")
    m = _VERSION_RE.match(text)
    if not m:
        return (1, 0, 0, 0, text)
    major, minor, patch, pre = m.groups()
    # A pre-release sorts before its release.
    return (0, int(major), int(minor), int(patch or 0), "~" if pre is None else pre)


def sorted_versions(versions: Iterable[str]) -> list[str]:
    return sorted(set(versions), key=version_key)


def regressions(
    medians: dict[str, float],
    threshold: float = 0.25,
    sizes: dict[str, int] | None = None,
    min_size: int = 1,
) -> dict[str, tuple[str, float]]:
    """Versions whose median is more than `threshold` above the previous version's.

    Cohorts smaller than `min_size` (per `sizes`) are left out: a median of two processes
    says nothing. Returns {version: (previous version, relative increase)}.
    """
    out: dict[str, tuple[str, float]] = {}
    ordered = [
        v
        for v in sorted_versions(medians)
        if medians.get(v) and (sizes is None or sizes.get(v, 0) >= min_size)
    ]
    for prev, cur in zip(ordered, ordered[1:]):
        base = medians[prev]
        if base > 0 and medians[cur] / base - 1 > threshold:
            out[cur] = (prev, medians[cur] / base - 1)
    return out
