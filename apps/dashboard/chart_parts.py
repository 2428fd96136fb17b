"""Pure chart helpers: breaks at gaps, binary byte units, escaped labels, gopls start markers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from statistics import median

Point = tuple[datetime, float | None]
Window = tuple[datetime, datetime]
OTHER_COLOR = "#8b949e"

# A line breaks where two neighbouring points are this many typical steps apart: a missed
# sample or two is jitter, more is the agent off or the machine asleep.
GAP_STEPS = 4
BINARY_UNITS = (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024), ("B", 1))


def label(text) -> str:
    """Agent text as Plotly label markup shows it literally: Plotly renders <a href>, <b>,
    <br> and entities in names, axis labels, hover text and annotations, so & < > are
    escaped (Plotly turns the entities back into the characters)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def typical_step(points: Sequence[Point]) -> float | None:
    """The median spacing in seconds of consecutive points (None values are breaks)."""
    deltas = [
        (b[0] - a[0]).total_seconds()
        for a, b in zip(points, points[1:])
        if a[1] is not None and b[1] is not None and b[0] > a[0]
    ]
    return median(deltas) if deltas else None


def split_at_gaps(points: Sequence[Point], step: float | None = None) -> list[list[Point]]:
    """Runs of points with no gap wider than GAP_STEPS typical steps (or `step` seconds);
    None values (breaks already made) end a run too."""
    step = step or typical_step(points)
    runs: list[list[Point]] = []
    current: list[Point] = []
    for point in points:
        if point[1] is None:
            if current:
                runs.append(current)
            current = []
            continue
        if current and step and (point[0] - current[-1][0]).total_seconds() > GAP_STEPS * step:
            runs.append(current)
            current = []
        current.append(point)
    if current:
        runs.append(current)
    return runs


def join_runs(runs: Sequence[Sequence[Point]]) -> list[Point]:
    """Runs back into one series with a None point between them, where Plotly breaks a line."""
    out: list[Point] = []
    for run in runs:
        if out and run:
            out.append((out[-1][0] + (run[0][0] - out[-1][0]) / 2, None))
        out.extend(run)
    return out


def with_breaks(points: Sequence[Point], step: float | None = None) -> list[Point]:
    """The points with a None inserted wherever the data has a gap (see split_at_gaps)."""
    return join_runs(split_at_gaps(points, step))


def binary_unit(largest: float) -> tuple[str, int]:
    """The binary unit (GiB, MiB…) that shows `largest` bytes with 1-4 integer digits."""
    for name, size in BINARY_UNITS:
        if abs(largest) >= size:
            return name, size
    return "B", 1


def scale(values: Sequence, size: int) -> list:
    return [v / size if isinstance(v, (int, float)) else v for v in values]


def largest(values: Sequence) -> float:
    return max((abs(v) for v in values if isinstance(v, (int, float))), default=0.0)


def ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def binary_axis(figure: dict, axis: str = "yaxis", keys: tuple = ("y",), ref: str = "y") -> dict:
    """Byte values of the traces on one axis in the binary unit (GiB, MiB…) of their largest
    value, with that unit on the ticks and in the hover text, as the tables show bytes."""
    traces = [t for t in figure["data"] if t.get(f"{ref[0]}axis", ref[0]) == ref]
    big = max((largest(t.get(k) or []) for t in traces for k in keys), default=0.0)
    unit, size = binary_unit(big)
    for trace in traces:
        for k in keys:
            if trace.get(k):
                trace[k] = scale(trace[k], size)
        if "hovertemplate" in trace:
            trace["hovertemplate"] = trace["hovertemplate"].replace("{unit}", unit)
    ax = figure["layout"].setdefault(axis, {})
    ax.update(tickformat=".3~r", ticksuffix=f" {unit}")
    return figure


def add_starts(
    figure: dict, starts: list[tuple[datetime, str]], window: Window | None = None
) -> dict:
    """gopls (re)starts: one thin dotted line per restart, labelled only on hover (a marker
    trace at the bottom of the plot), starts closer than 1/150 of the window merged into one.
    Starts outside the window are left out: one in the future must not stretch the axis."""
    if window:
        starts = [(t, text) for t, text in starts if window[0] <= t <= window[1]]
    if not starts:
        return figure
    starts = sorted(starts)
    span = (window[1] - window[0]) if window else (starts[-1][0] - starts[0][0])
    near = span / 150
    groups: list[list[tuple[datetime, str]]] = []
    for start in starts:
        if groups and start[0] - groups[-1][0][0] <= near:
            groups[-1].append(start)
        else:
            groups.append([start])
    shapes = figure["layout"].setdefault("shapes", [])
    xs, texts = [], []
    for group in groups:
        at = group[0][0]
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": ts(at),
                "x1": ts(at),
                "y0": 0,
                "y1": 1,
                "line": {"color": OTHER_COLOR, "width": 1, "dash": "dot"},
                "layer": "below",
            }
        )
        xs.append(ts(at))
        texts.append(
            "<br>".join(label(text) for _, text in group[:6])
            + (f"<br>+{len(group) - 6} more" if len(group) > 6 else "")
        )
    figure["data"].append(
        {
            "type": "scatter",
            "mode": "markers",
            "name": "gopls start",
            "x": xs,
            "y": [0] * len(xs),
            "text": texts,
            "marker": {"symbol": "triangle-up", "size": 9, "color": OTHER_COLOR},
            "hovertemplate": "%{text}<extra></extra>",
            "cliponaxis": False,
        }
    )
    return figure
