"""Pure parts of bench/peer_prometheus.py: exposition templates, their rendering, the ratios."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

SCRAPE_INTERVAL_S = 15
# Series Prometheus adds to every target on each scrape (up, scrape_duration_seconds,
# scrape_samples_scraped, scrape_samples_post_metric_relabeling, scrape_series_added).
SCRAPE_SERIES_PER_TARGET = 5
_MONOTONIC_SUFFIXES = ("_total", "_count", "_sum", "_bucket")


@dataclass
class Series:
    key: str  # name{labels} as the exporter printed it
    base: float
    rate: float  # change per second seen between the two calibration scrapes
    counter: bool


@dataclass
class Template:
    """One exporter's exposition: comment lines and series in their order."""

    lines: list[str | int] = field(default_factory=list)  # str: comment; int: index in series
    series: list[Series] = field(default_factory=list)

    @property
    def series_count(self) -> int:
        return len(self.series)

    @property
    def varying(self) -> int:
        return sum(1 for s in self.series if s.rate)


def parse_samples(text: str) -> tuple[list[str], dict[str, float], dict[str, str]]:
    """(lines in order, value by series key, TYPE by family) of a text exposition (0.0.4)."""
    order, values, types = [], {}, {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 4 and parts[1] == "TYPE":
                types[parts[2]] = parts[3].strip()
            order.append(line)
            continue
        key, _, rest = line.rpartition("}") if "}" in line else line.partition(" ")
        if "}" in line:
            key += "}"
        value_text = rest.split()[0] if rest.split() else ""
        try:
            values[key] = float(value_text)
        except ValueError:
            continue  # not a sample line this parser knows: left out, not guessed
        order.append(key)
    return order, values, types


def _family(key: str, types: dict[str, str]) -> str | None:
    name = key.split("{", 1)[0]
    if name in types:
        return types[name]
    for suffix in _MONOTONIC_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in types:
            return types[name[: -len(suffix)]]
    return None


def build_template(first: str, second: str, seconds_apart: float) -> Template:
    """A template from two scrapes of a real exporter `seconds_apart` apart: each series keeps
    its value, and the series that moved between the scrapes keep moving at the rate seen."""
    order, v1, types = parse_samples(first)
    _, v2, _ = parse_samples(second)
    tpl = Template()
    for item in order:
        if item.startswith("#"):
            tpl.lines.append(item)
            continue
        kind = _family(item, types)
        counter = kind == "counter" or (
            kind in ("histogram", "summary")
            and item.split("{", 1)[0].endswith(_MONOTONIC_SUFFIXES)
        )
        after = v2.get(item, v1[item])
        rate = (after - v1[item]) / seconds_apart if seconds_apart > 0 else 0.0
        if not math.isfinite(rate):
            rate = 0.0
        tpl.lines.append(len(tpl.series))
        tpl.series.append(Series(item, v1[item], rate, counter))
    return tpl


def value_at(s: Series, index: int, target: int, t: float) -> float:
    """A series' value for one target at time t: constant series stay constant; counters grow
    at their calibrated rate with ±20 % jitter per scrape (never backwards); gauges wander
    around their value by a few times the change seen. Deterministic in (target, series, t)."""
    if not s.rate:
        return s.base
    slot = int(t // SCRAPE_INTERVAL_S)
    u = math.sin(target * 12.9898 + index * 78.233 + slot * 1.618)  # in [-1, 1]
    if s.counter:
        step = abs(s.rate) * SCRAPE_INTERVAL_S
        value = s.base + abs(s.rate) * slot * SCRAPE_INTERVAL_S + 0.2 * step * u
        return float(round(value)) if s.base == int(s.base) else value
    value = s.base + 4 * abs(s.rate) * SCRAPE_INTERVAL_S * u
    return value if s.base < 0 else max(0.0, value)


def render(tpl: Template, target: int, t: float) -> str:
    """The exposition text one simulated workstation's exporter serves at time t."""
    out = []
    for item in tpl.lines:
        if isinstance(item, str):
            out.append(item)
        else:
            s = tpl.series[item]
            out.append(f"{s.key} {value_at(s, item, target, t)!r}")
    out.append("")
    return "\n".join(out)


def series_in_text(text: str) -> int:
    """Sample lines in an exposition (what Prometheus appends per scrape, before its own)."""
    return len(parse_samples(text)[1])


def per_target_series(templates: list[Template]) -> int:
    """Series Prometheus stores per workstation: the exporters' series plus its own per target."""
    return sum(t.series_count + SCRAPE_SERIES_PER_TARGET for t in templates)


def figures(cpu_s: float, values: int, machines: int, minutes: float, disk_bytes: int) -> dict:
    """Server CPU per stored value (µs) and per machine-minute (ms), bytes on disk per value."""
    return {
        "cpu_us_per_value": cpu_s / values * 1e6 if values else math.nan,
        "cpu_ms_per_machine_minute": (
            cpu_s / (machines * minutes) * 1e3 if machines and minutes else math.nan
        ),
        "bytes_per_value": disk_bytes / values if values else math.nan,
        "values_per_machine_minute": values / (machines * minutes) if machines and minutes else 0,
    }


def ratios(devfleet: dict, prometheus: dict) -> dict:
    """devfleet ÷ Prometheus for each figure (below 1: devfleet costs less)."""
    out = {}
    for key in ("cpu_us_per_value", "cpu_ms_per_machine_minute", "bytes_per_value"):
        a, b = devfleet[key], prometheus[key]
        out[key] = a / b if b and math.isfinite(a) and math.isfinite(b) else math.nan
    return out
