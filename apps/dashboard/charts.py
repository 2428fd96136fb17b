"""Pure Plotly figure builders: plain data in, a figure dict (data + layout) out. No ORM, no I/O.

Conventions: times are UTC strings "YYYY-MM-DD HH:MM:SS" (plotly.js has no time zones); byte
values are shown in one binary unit per axis (GiB, MiB), like the tables; a line breaks where
the data has a gap instead of joining the points around it; time axes span exactly the asked
window; every string that may come from an agent is escaped for Plotly's label markup; and a
point's `customdata` may carry a same-site URL that the browser opens on click (the drill-down
from an aggregate to its machines).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from apps.dashboard.chart_parts import OTHER_COLOR, add_starts, binary_axis, label, ts, with_breaks
from apps.dashboard.constants import HEALTH_COLORS, PALETTE, SEVERITY_COLORS

Point = tuple[datetime, float]
Window = tuple[datetime, datetime]

FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12}
GRID = "rgba(139,148,158,0.18)"
TEXT = "#c9d1d9"
UNIT_FORMATS = {
    # Scaled to one binary unit per axis by binary_axis (the unit replaces "{unit}").
    "bytes": {"tickformat": ".3~r", "ticksuffix": " {unit}", "hover": "%{y:.3~r} {unit}"},
    "percent": {"tickformat": ".3~r", "ticksuffix": "%", "hover": "%{y:.1f}%"},
    "ms": {"tickformat": ".0f", "ticksuffix": " ms", "hover": "%{y:.0f} ms"},
    "count": {"tickformat": ".3~s", "ticksuffix": "", "hover": "%{y:,.0f}"},
}


def layout(title: str = "", unit: str = "count", **extra) -> dict:
    """The shared dark, dense layout; y axis formatted for `unit`."""
    fmt = UNIT_FORMATS.get(unit, UNIT_FORMATS["count"])
    base = {
        "title": {"text": title, "x": 0, "xanchor": "left", "font": {"size": 13, "color": TEXT}},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {**FONT, "color": TEXT},
        "margin": {"l": 56, "r": 16, "t": 34 if title else 10, "b": 36},
        "hovermode": "x unified",
        "showlegend": True,
        "legend": {"orientation": "h", "y": -0.18, "font": {"size": 11}},
        "xaxis": {"gridcolor": GRID, "zeroline": False, "hoverformat": "%Y-%m-%d %H:%M:%S UTC"},
        "yaxis": {
            "gridcolor": GRID,
            "zeroline": False,
            "rangemode": "tozero",
            "tickformat": fmt["tickformat"],
            "ticksuffix": fmt["ticksuffix"],
        },
        "colorway": PALETTE,
    }
    base.update(extra)
    return base


def time_layout(title: str, unit: str, window: Window | None) -> dict:
    """A time-series layout whose x axis spans exactly `window` (Plotly's autorange would
    stretch it to markers and annotations beyond the data), legend beside the plot so that
    many traces and the axis's date line never overlap it."""
    fig_layout = layout(title, unit)
    fig_layout["legend"] = {
        "orientation": "v",
        "x": 1.01,
        "xanchor": "left",
        "y": 1,
        "yanchor": "top",
        "font": {"size": 10},
        "tracegroupgap": 0,  # one group per lifetime: no gap between them, no scrolling
    }
    if window:
        fig_layout["xaxis"].update(range=[ts(window[0]), ts(window[1])], autorange=False)
    return fig_layout


def integer_ticks(axis: dict, largest: float) -> dict:
    """Whole-number ticks on a count axis (no "0.5 machines" or "500m" for small counts)."""
    if largest <= 10:
        axis.update(dtick=1, tick0=0, tickformat="d")
    elif largest <= 20:
        axis.update(dtick=2, tick0=0, tickformat="d")
    return axis


def _xy(points: Sequence[Point]) -> tuple[list[str], list[float | None]]:
    return [ts(t) for t, _ in points], [v for _, v in points]


def line_trace(name: str, points: Sequence[Point], unit: str = "count", **style) -> dict:
    """One line; a None value, or a gap of several typical steps, breaks it (no invented
    line across hours without samples). `name` is escaped: it may carry agent text."""
    x, y = _xy(with_breaks(points))
    return {
        "type": "scatter",
        "mode": "lines",
        "connectgaps": False,
        "name": label(name),
        "x": x,
        "y": y,
        "line": {"width": 1.6, **style.pop("line", {})},
        "hovertemplate": UNIT_FORMATS.get(unit, UNIT_FORMATS["count"])["hover"],
        **style,
    }


def _life_style(i: int, life: dict) -> tuple[str, float]:
    """(color, width) of a lifetime: the aggregate grey, the one a finding is about bold."""
    if life.get("other"):
        return OTHER_COLOR, 1.2
    return PALETTE[i % len(PALETTE)], 3.0 if life.get("highlight") else 1.6


def _life_name(life: dict, suffix: str = "") -> str:
    """A lifetime's legend name; the one a finding is about is marked ⚠ (its title is in the
    hover text: a long legend entry squeezes the plot)."""
    name = life["label"] + (f" {suffix}" if suffix else "")
    return f"{name} ⚠" if life.get("highlight") else name


def _finding_hover(trace: dict, life: dict) -> dict:
    if life.get("highlight"):
        trace["hovertemplate"] += f" ⚠ {label(life['highlight'])}"
    return trace


def gopls_memory(
    lifetimes: list[dict],
    restarts: list[tuple[datetime, str]],
    window: Window | None = None,
    projections: list[tuple[str, Sequence[Point]]] = (),
) -> dict:
    """RSS (solid) and heap in use (dotted) per gopls lifetime; restarts as start markers.

    lifetimes: [{"label": str, "rss": [(t, bytes)], "heap": [(t, bytes)], "highlight"?: str
    (the finding it is about), "other"?: bool (the aggregate of the smaller ones)}].
    projections: [(name, points)] forecasts (a leak reaching its ceiling): the only thing
    allowed to extend the time axis past the window, drawn and named as a projection.
    """
    data = []
    for i, life in enumerate(lifetimes):
        color, width = _life_style(i, life)
        group = f"life{i}"
        rss = line_trace(
            _life_name(life, "RSS"),
            life["rss"],
            "bytes",
            line={"color": color, "width": width},
            legendgroup=group,
        )
        data.append(_finding_hover(rss, life))
        if life.get("heap"):
            data.append(
                line_trace(
                    f"{life['label']} heap",
                    life["heap"],
                    "bytes",
                    line={"color": color, "dash": "dot", "width": max(1.2, width - 0.6)},
                    legendgroup=group,
                    showlegend=False,
                )
            )
    for name, points in projections:
        # Short in the legend (a long name squeezes the plot); the forecast itself on hover.
        short, _, detail = name.partition(", ")
        trace = line_trace(
            f"projection ({short})",
            points,
            "bytes",
            line={"color": HEALTH_COLORS["critical"], "dash": "dashdot", "width": 1.4},
            opacity=0.8,
        )
        trace["hovertemplate"] += f" projected: {label(detail or name)}<extra></extra>"
        data.append(trace)
    ends = [points[-1][0] for _, points in projections if points]
    if window and ends:
        window = (window[0], max(window[1], *ends))
    fig_layout = time_layout("gopls memory (RSS solid, heap in use dotted)", "bytes", window)
    figure = {"data": data, "layout": fig_layout}
    add_starts(figure, restarts, window)
    return binary_axis(figure)


def per_lifetime(
    lifetimes: list[dict], key: str, title: str, unit: str, window: Window | None = None
) -> dict:
    """One line per gopls lifetime for a per-process metric (CPU, goroutines, latency)."""
    data = []
    for i, life in enumerate(lifetimes):
        if not life.get(key):
            continue
        color, width = _life_style(i, life)
        trace = line_trace(_life_name(life), life[key], unit, line={"color": color, "width": width})
        data.append(_finding_hover(trace, life))
    return {"data": data, "layout": time_layout(title, unit, window)}


def with_limit(
    title: str,
    unit: str,
    series: list[tuple[str, Sequence[Point]]],
    limits: list[tuple[str, Sequence[Point]]],
    stacked: bool = False,
    window: Window | None = None,
) -> dict:
    """Used series (optionally stacked areas) against one or more limit lines (dashed red/amber)."""
    data = []
    for i, (name, points) in enumerate(series):
        style: dict = {"line": {"color": PALETTE[i % len(PALETTE)]}}
        if stacked:
            style.update(stackgroup="used", fill="tonexty" if i else "tozeroy")
        data.append(line_trace(name, points, unit, **style))
    limit_colors = [HEALTH_COLORS["critical"], HEALTH_COLORS["warning"], "#a371f7"]
    for i, (name, points) in enumerate(limits):
        color = limit_colors[i % len(limit_colors)]
        data.append(line_trace(name, points, unit, line={"color": color, "dash": "dash"}))
    figure = {"data": data, "layout": time_layout(title, unit, window)}
    return binary_axis(figure) if unit == "bytes" else figure


def add_evidence(figure: dict, spans: list[dict]) -> dict:
    """Shade finding evidence windows on a figure: [{"start", "end", "severity", "label"}]."""
    shapes = figure["layout"].setdefault("shapes", [])
    notes = figure["layout"].setdefault("annotations", [])
    shown = figure["layout"].get("xaxis", {}).get("range")
    middle = None
    if shown:  # a label whose span starts in the right half is anchored at its right end
        lo, hi = (datetime.fromisoformat(v) for v in shown)
        middle = ts(lo + (hi - lo) / 2)
    for i, span in enumerate(spans):
        color = SEVERITY_COLORS.get(span.get("severity", "warning"), SEVERITY_COLORS["warning"])
        right = middle is not None and ts(span["start"]) > middle
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": ts(span["start"]),
                "x1": ts(span["end"]),
                "y0": 0,
                "y1": 1,
                "fillcolor": color,
                "opacity": 0.12,
                "line": {"width": 0},
                "layer": "below",
            }
        )
        notes.append(
            {
                "x": ts(span["end"] if right else span["start"]),
                # at the top (the bottom has the gopls start markers), one line per finding
                "y": 1 - 0.08 * (i % 4),
                "yanchor": "top",
                "xref": "x",
                "yref": "paper",
                "text": label(span.get("label", "")),
                "showarrow": False,
                "xanchor": "right" if right else "left",
                "bgcolor": "rgba(13,17,23,0.75)",
                "font": {"size": 10, "color": color},
            }
        )
    return figure


def health_by_team(rows: list[dict]) -> dict:
    """Stacked horizontal bars: machines per team by health level; each bar drills down.

    rows: [{"team": str, "counts": {level: n}, "urls": {level: url}}].
    """
    levels = [
        ("critical", "Critical"),
        ("warning", "Warning"),
        ("ok", "Healthy"),
        ("offline", "Offline"),
    ]
    teams = [label(r["team"]) for r in rows]
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "name": label,
            "y": teams,
            "x": [r["counts"].get(level, 0) for r in rows],
            "customdata": [r["urls"].get(level) for r in rows],
            "marker": {"color": HEALTH_COLORS[level]},
            "hovertemplate": f"%{{y}}: %{{x}} {label.lower()}<extra></extra>",
        }
        for level, label in levels
    ]
    fig_layout = layout("", "count", barmode="stack", hovermode="closest")
    fig_layout["legend"]["traceorder"] = "normal"
    fig_layout["yaxis"].update(autorange="reversed", tickformat="", rangemode="normal")
    integer_ticks(fig_layout["xaxis"], max((sum(r["counts"].values()) for r in rows), default=0))
    fig_layout["margin"].update(l=110)
    fig_layout["height"] = max(180, 34 * len(rows) + 70)
    return {"data": data, "layout": fig_layout}


def version_adoption(rows: list[dict]) -> dict:
    """Machines per gopls version (bars) and the median RSS of its processes (markers, right).

    rows: [{"version", "machines", "median_rss", "url"}] in version order.
    """
    versions = [label(r["version"]) for r in rows]
    data = [
        {
            "type": "bar",
            "name": "machines",
            "x": versions,
            "y": [r["machines"] for r in rows],
            "customdata": [r["url"] for r in rows],
            "marker": {"color": PALETTE[0]},
            "hovertemplate": "%{x}: %{y} machines<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "markers+lines",
            "name": "median RSS",
            "x": versions,
            "y": [r["median_rss"] for r in rows],
            "yaxis": "y2",
            "customdata": [r["url"] for r in rows],
            "marker": {"color": HEALTH_COLORS["warning"], "size": 8},
            "line": {"color": HEALTH_COLORS["warning"], "width": 1, "dash": "dot"},
            "hovertemplate": "%{x}: median %{y:.3~r} {unit}<extra></extra>",
        },
    ]
    fig_layout = layout("", "count", hovermode="closest")
    fig_layout["xaxis"].update(type="category")
    integer_ticks(fig_layout["yaxis"], max((r["machines"] for r in rows), default=0))
    fig_layout["yaxis2"] = {
        "overlaying": "y",
        "side": "right",
        "showgrid": False,
        "rangemode": "tozero",
        "tickmode": "auto",  # round GiB ticks, not ticks synced to the machine-count grid
    }
    fig_layout["margin"].update(r=64)
    return binary_axis({"data": data, "layout": fig_layout}, "yaxis2", ("y",), "y2")


def box_summary(rows: list[dict], unit: str, title: str = "", horizontal: bool = True) -> dict:
    """Precomputed box plots (quartiles sent, not raw values, so any fleet size stays small).

    rows: [{"label", "q1", "median", "q3", "lo", "hi", "n", "url", "highlight"?}].
    """
    labels = [label(r["label"]) for r in rows]
    fmt = UNIT_FORMATS.get(unit, UNIT_FORMATS["count"])
    axis_key = "x" if horizontal else "y"
    trace = {
        "type": "box",
        "name": title or "distribution",
        ("y" if horizontal else "x"): labels,
        "q1": [r["q1"] for r in rows],
        "median": [r["median"] for r in rows],
        "q3": [r["q3"] for r in rows],
        "lowerfence": [r["lo"] for r in rows],
        "upperfence": [r["hi"] for r in rows],
        "orientation": "h" if horizontal else "v",
        "customdata": [r.get("url") for r in rows],
        "marker": {"color": PALETTE[0]},
        "fillcolor": "rgba(88,166,255,0.25)",
        "line": {"color": PALETTE[0], "width": 1.4},
        "hoverinfo": axis_key,
    }
    data = [trace]
    hot = [r for r in rows if r.get("highlight")]
    if hot:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "regression",
                ("y" if horizontal else "x"): [label(r["label"]) for r in hot],
                axis_key: [r["median"] for r in hot],
                "marker": {"color": HEALTH_COLORS["critical"], "size": 11, "symbol": "diamond"},
                "hovertemplate": "%{text}<extra></extra>",
                "text": [label(r["highlight"]) for r in hot],
            }
        )
    fig_layout = layout(title, "count", hovermode="closest", showlegend=bool(hot))
    value_axis, label_axis = ("xaxis", "yaxis") if horizontal else ("yaxis", "xaxis")
    fig_layout[value_axis] = {
        "gridcolor": GRID,
        "zeroline": False,
        "rangemode": "tozero",
        "tickformat": fmt["tickformat"],
        "ticksuffix": fmt["ticksuffix"],
    }
    fig_layout[label_axis] = {"gridcolor": GRID, "type": "category", "automargin": True}
    if horizontal:
        fig_layout[label_axis]["autorange"] = "reversed"
        fig_layout["height"] = max(200, 30 * len(rows) + 80)
    figure = {"data": data, "layout": fig_layout}
    if unit == "bytes":
        quartiles = ("q1", "median", "q3", "lowerfence", "upperfence")
        binary_axis(figure, value_axis, (*quartiles, axis_key), axis_key)
    return figure


def scatter_machines(points: list[dict], x_unit: str, y_unit: str, title: str = "") -> dict:
    """One marker per machine (outliers red): [{"x", "y", "label", "url", "outlier"}]."""
    data = []
    for outlier, name, color in (
        (False, "machines", PALETTE[0]),
        (True, "outliers", HEALTH_COLORS["critical"]),
    ):
        subset = [p for p in points if bool(p.get("outlier")) is outlier]
        if not subset:
            continue
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": name,
                "x": [p["x"] for p in subset],
                "y": [p["y"] for p in subset],
                "text": [label(p["label"]) for p in subset],
                "customdata": [p.get("url") for p in subset],
                "marker": {"color": color, "size": 9, "opacity": 0.85},
                "hovertemplate": "%{text}<extra></extra>",
            }
        )
    fig_layout = layout(title, y_unit, hovermode="closest")
    xf = UNIT_FORMATS.get(x_unit, UNIT_FORMATS["count"])
    fig_layout["xaxis"].update(tickformat=xf["tickformat"], ticksuffix=xf["ticksuffix"])
    figure = {"data": data, "layout": fig_layout}
    for unit, axis, key in ((x_unit, "xaxis", "x"), (y_unit, "yaxis", "y")):
        if unit == "bytes":
            binary_axis(figure, axis, (key,), key)
    return figure


def findings_by_rule(rows: list[dict]) -> dict:
    """Open findings per rule, stacked by severity; each segment opens the findings behind it.

    rows: [{"rule", "title", "counts": {severity: n}, "urls": {severity: url}}].
    """
    titles = [label(r["title"]) for r in rows]
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "name": severity.capitalize(),
            "y": titles,
            "x": [r["counts"].get(severity, 0) for r in rows],
            "customdata": [r["urls"].get(severity) for r in rows],
            "marker": {"color": SEVERITY_COLORS[severity]},
            "hovertemplate": f"%{{y}}: %{{x}} {severity}<extra></extra>",
        }
        for severity in ("critical", "warning", "info")
    ]
    fig_layout = layout("", "count", barmode="stack", hovermode="closest")
    fig_layout["legend"]["traceorder"] = "normal"
    fig_layout["yaxis"].update(
        autorange="reversed", tickformat="", rangemode="normal", automargin=True
    )
    integer_ticks(fig_layout["xaxis"], max((sum(r["counts"].values()) for r in rows), default=0))
    fig_layout["height"] = max(200, 26 * len(rows) + 80)
    return {"data": data, "layout": fig_layout}


def findings_trend(days: list[datetime], counts: dict[str, list[int]]) -> dict:
    """Open findings at each day boundary (and now), stacked by severity."""
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": severity.capitalize(),
            "x": [ts(d) for d in days],
            "y": counts.get(severity, [0] * len(days)),
            "stackgroup": "open",
            "line": {"color": SEVERITY_COLORS[severity], "width": 1.5},
            "hovertemplate": "%{y}",
        }
        for severity in ("critical", "warning", "info")
    ]
    fig_layout = layout("", "count")
    largest = max((sum(c) for c in zip(*counts.values())), default=0) if counts else 0
    integer_ticks(fig_layout["yaxis"], largest)
    return {"data": data, "layout": fig_layout}
