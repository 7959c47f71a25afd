"""The Events block of a campaign: tracked events by name over time, and their totals.

Events are recorded by website tracking (services.tracking.events). That area may be
switched off or not installed, so it is imported lazily: without it the block shows
an empty state, never made-up numbers.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from models.campaigns import Campaign
from models.campaigns import ReportScale

TRACKING_MODULE = "services.tracking.events"
MAX_POINTS = 40  # the reference's tooltip: past 40 points the chart takes a larger scale
SCALES = ("hour", "day", "month", "year")
_SCRIPT = re.compile(rb"<script\b.*?</script>", re.DOTALL | re.IGNORECASE)
LABEL_FORMATS = {"hour": "%Y-%m-%d %H:00", "day": "%Y-%m-%d", "month": "%Y-%m", "year": "%Y"}


@dataclass(frozen=True)
class Series:
    scale: str
    labels: list[str]
    lines: dict[str, list[int]]  # event name -> hits per label

    @property
    def empty(self) -> bool:
        return not self.lines


def _tracking():
    if importlib.util.find_spec(TRACKING_MODULE) is None:
        return None
    module = importlib.import_module(TRACKING_MODULE)
    return getattr(module, "campaign_event_counts", None)


def tracking_available() -> bool:
    return _tracking() is not None


def raw_counts(codes: list[str], scale: str) -> list[tuple[str, datetime, int]] | None:
    """(event name, bucket start, hits) rows, or None when tracking is not installed."""
    counts = _tracking()
    if counts is None:
        return None
    return [(name, _aware(bucket), int(hits)) for name, bucket, hits in counts(codes, scale)]


def _aware(moment) -> datetime:
    if not isinstance(moment, datetime):  # a date bucket
        moment = datetime(moment.year, moment.month, moment.day)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def truncate(moment: datetime, scale: str) -> datetime:
    if scale == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    if scale == "day":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if scale == "month":
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)


def _step(moment: datetime, scale: str) -> datetime:
    if scale == "hour":
        return moment + timedelta(hours=1)
    if scale == "day":
        return moment + timedelta(days=1)
    if scale == "month":
        return moment.replace(year=moment.year + moment.month // 12,
                              month=moment.month % 12 + 1)
    return moment.replace(year=moment.year + 1)


def _points(first: datetime, last: datetime, scale: str) -> list[datetime]:
    points, moment = [], truncate(first, scale)
    end = truncate(last, scale)
    while moment <= end:
        points.append(moment)
        if len(points) > MAX_POINTS and scale != "year":
            break  # caller moves to a coarser scale anyway
        moment = _step(moment, scale)
    return points


def build_series(rows: list[tuple[str, datetime, int]], scale: ReportScale | str) -> Series:
    """Lines per event name on one time axis, coarsened until it has at most 40 points."""
    scale = ReportScale(scale).value
    if not rows:
        return Series(scale, [], {})
    first = min(r[1] for r in rows)
    last = max(r[1] for r in rows)
    index = SCALES.index(scale)
    points = _points(first, last, scale)
    while len(points) > MAX_POINTS and index < len(SCALES) - 1:
        index += 1
        scale = SCALES[index]
        points = _points(first, last, scale)
    position = {p: i for i, p in enumerate(points)}
    lines: dict[str, list[int]] = {}
    for name, bucket, hits in rows:
        line = lines.setdefault(name, [0] * len(points))
        line[position[truncate(bucket, scale)]] += hits
    labels = [p.strftime(LABEL_FORMATS[scale]) for p in points]
    return Series(scale, labels, dict(sorted(lines.items())))


def series_for(campaign: Campaign, codes: list[str]) -> Series | None:
    rows = raw_counts(codes, campaign.report_scale.value)
    return None if rows is None else build_series(rows, campaign.report_scale)


def totals(series: Series) -> list[tuple[str, int]]:
    """The summary grid: (Name, Number of Hits) per event name."""
    return [(name, sum(values)) for name, values in series.lines.items()]


def chart_svg(series: Series, title: str = "Detailed Events Report") -> bytes:
    import pygal
    from pygal.style import LightStyle

    chart = pygal.Line(title=title, y_title="Number of Hits", x_label_rotation=30,
                       show_minor_x_labels=len(series.labels) <= 12, truncate_label=-1,
                       width=900, height=360, style=LightStyle, js=[], min_scale=1,
                       legend_at_bottom=True, no_data_text="No events")
    chart.x_labels = series.labels
    chart.x_labels_major = series.labels[:: max(1, len(series.labels) // 12)]
    for name, values in series.lines.items():
        chart.add(name, values)
    # pygal always embeds its config script; the chart is static, and an SVG opened on
    # its own URL must not carry script into this application's origin.
    return _SCRIPT.sub(b"", chart.render())
