"""Reading events: the website's Events grid, the campaign Events chart, the Verify panel."""

from __future__ import annotations

from collections import Counter
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time as dtime
from datetime import timedelta
from urllib.parse import unquote

from sqlalchemy import func
from sqlalchemy import select

from extensions import db
from jobs.queue import get_redis
from models.base import utcnow
from models.tracking import TrackingDrainCursor
from models.tracking import TrackingEvent
from models.tracking import TrackingEventSummary
from services import settings
from services.grid import Column
from services.grid import Grid
from services.tracking import config
from services.tracking import ingest

SCALES = ("hour", "day", "month")
AGGREGATION_MARK = "aggregation:day"
RECENT_CAP = 1000  # TrackingDrainCursor row: last summarised day

EVENTS_GRID = Grid("tracking_events", [
    Column("name", "Name", TrackingEvent.name),
    Column("value", "Value", TrackingEvent.value, filter="number"),
    Column("user_identifier", "User", TrackingEvent.user_identifier),
    Column("url", "Url", TrackingEvent.url, sortable=False, filter=None,
           render=lambda row: display_url(row.url)),
    Column("code", "Code", TrackingEvent.code),
    Column("logged_at", "Logged At", TrackingEvent.logged_at, filter="date"),
], TrackingEvent.id, default_sort="logged_at", default_direction="desc", count_cap=1000)


def display_url(url: str) -> str:
    """Percent-decoded for people (oroinc/crm#270 showed them raw)."""
    try:
        return unquote(url or "", errors="replace")
    except (TypeError, ValueError):
        return url or ""


def events_page(website_id: int, args):
    state = EVENTS_GRID.state_from(args)
    return EVENTS_GRID.page(select(TrackingEvent).where(TrackingEvent.website_id == website_id),
                            state)


# -- the campaign Events chart -------------------------------------------------------------

def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _bucket_expr(scale: str):
    column = TrackingEvent.logged_at
    if db.engine.dialect.name == "postgresql":
        return func.date_trunc(scale, func.timezone("UTC", column))
    pattern = {"hour": "%Y-%m-%d %H:00:00", "day": "%Y-%m-%d 00:00:00",
               "month": "%Y-%m-01 00:00:00"}[scale]
    return func.strftime(pattern, column)


def _to_bucket(value, scale: str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, dtime.min)
    value = _aware(value)
    if scale == "month":
        return value.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if scale == "day":
        return value.replace(hour=0, minute=0, second=0, microsecond=0)
    return value.replace(minute=0, second=0, microsecond=0)


def aggregated_through() -> date | None:
    """The last day the nightly job has summarised (None: nothing summarised yet)."""
    mark = db.session.get(TrackingDrainCursor, AGGREGATION_MARK)
    return date.fromisoformat(mark.last_id) if mark else None


def events_for_codes(codes: list[str], since: datetime, until: datetime,
                     scale: str = "day") -> list[tuple[str, datetime, int]]:
    """Hits per (event name, time bucket) of events carrying any of ``codes``.

    ``[since, until)`` in UTC; buckets are aware UTC datetimes at the start of the hour,
    day or month. Daily and monthly figures come from the nightly summary for the days it
    covers (when aggregation is on) and from raw events for the rest.
    """
    if scale == "year":
        years: Counter = Counter()
        for name, month, hits in events_for_codes(codes, since, until, "month"):
            years[(name, month.replace(month=1))] += hits
        return sorted(((n, m, h) for (n, m), h in years.items()), key=lambda i: (i[1], i[0]))
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {(*SCALES, 'year')}")
    codes = [c for c in codes if c]
    if not codes:
        return []
    since, until = _aware(since), _aware(until)
    counts: Counter = Counter()
    raw_ranges = [(since, until)]
    through = aggregated_through() if scale != "hour" and settings.get(config.AGGREGATION) \
        else None
    if through is not None:
        first_day = since.date() if since.time() == dtime.min else since.date() + timedelta(1)
        end_day = min(until.date(), through + timedelta(1))  # exclusive
        if first_day < end_day:
            rows = db.session.execute(
                select(TrackingEventSummary.name, TrackingEventSummary.bucket,
                       func.sum(TrackingEventSummary.hits))
                .where(TrackingEventSummary.scale == "day",
                       TrackingEventSummary.code.in_(codes),
                       TrackingEventSummary.bucket >= first_day,
                       TrackingEventSummary.bucket < end_day)
                .group_by(TrackingEventSummary.name, TrackingEventSummary.bucket))
            for name, bucket, hits in rows:
                counts[(name, _to_bucket(bucket, scale))] += int(hits)
            start = datetime.combine(first_day, dtime.min, UTC)
            end = datetime.combine(end_day, dtime.min, UTC)
            raw_ranges = [(since, start), (end, until)]
    bucket = _bucket_expr(scale)
    for low, high in raw_ranges:
        if low >= high:
            continue
        rows = db.session.execute(
            select(TrackingEvent.name, bucket.label("bucket"), func.count())
            .where(TrackingEvent.code.in_(codes), TrackingEvent.logged_at >= low,
                   TrackingEvent.logged_at < high)
            .group_by(TrackingEvent.name, bucket))
        for name, value, hits in rows:
            counts[(name, _to_bucket(value, scale))] += int(hits)
    return sorted(((name, moment, hits) for (name, moment), hits in counts.items()),
                  key=lambda item: (item[1], item[0]))


def campaign_event_counts(codes: list[str], scale: str = "day") -> list[tuple[str, datetime, int]]:
    """All of a campaign's events (by its codes) per name and bucket: the campaign chart."""
    return events_for_codes(codes, datetime(1970, 1, 1, tzinfo=UTC),
                            utcnow() + timedelta(days=1), scale)


def totals_for_codes(codes: list[str], since: datetime, until: datetime) -> list[tuple[str, int]]:
    """Hits per event name, for the campaign's summary grid."""
    totals: Counter = Counter()
    for name, _, hits in events_for_codes(codes, since, until, "day"):
        totals[name] += hits
    return totals.most_common()


# -- the Verify installation panel -----------------------------------------------------------

def verify_status(website_id: int) -> dict:
    """Whether hits arrived lately: count in the window, the last hit's URL and time.

    Queued hits are not in the database yet, so the collector's Redis markers count too.
    """
    since = utcnow() - timedelta(seconds=ingest.RECENT_WINDOW)
    # Capped: the panel says whether hits arrive, a busy site need not be counted in full.
    recent_ids = select(TrackingEvent.id).where(
        TrackingEvent.website_id == website_id, TrackingEvent.logged_at >= since
    ).limit(RECENT_CAP).subquery()
    recent = db.session.scalar(select(func.count()).select_from(recent_ids)) or 0
    last = db.session.execute(
        select(TrackingEvent.url, TrackingEvent.logged_at)
        .where(TrackingEvent.website_id == website_id)
        .order_by(TrackingEvent.logged_at.desc(), TrackingEvent.id.desc()).limit(1)).first()
    last_url, last_at = (last.url, last.logged_at) if last else (None, None)
    pending = 0
    redis = get_redis()
    if redis is not None:
        marker = redis.hgetall(ingest.LAST_HIT.format(site=website_id))
        if marker:
            at = datetime.fromtimestamp(float(marker[b"at"]), UTC)
            if last_at is None or at > last_at:
                last_url, last_at = marker[b"url"].decode("utf-8", "replace"), at
        queued_recent = ingest.recent_count(redis, website_id, since.timestamp())
        # Hits both queued and already drained would count twice: take the larger.
        recent = max(recent, int(queued_recent))
        pending = ingest.pending_count()
    return {"recent": recent, "capped": recent >= RECENT_CAP,
            "window_minutes": ingest.RECENT_WINDOW // 60,
            "last_url": display_url(last_url) if last_url else None, "last_at": last_at,
            "pending": pending}
