"""The nightly daily and monthly event summary (Enable Tracking Statistics Aggregation).

Rebuilding a day replaces its rows, so running twice, or again after late hits (cdt
backdates up to a day; queued hits wait up to an interval), changes nothing but the counts.
"""

from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select

from extensions import db
from models.base import utcnow
from models.tracking import TrackingDrainCursor
from models.tracking import TrackingEvent
from models.tracking import TrackingEventSummary
from services.tracking.events import AGGREGATION_MARK
from services.tracking.events import _bucket_expr
from services.tracking.events import _to_bucket
from services.tracking.events import aggregated_through

# Days rebuilt again each night, for hits that arrive after their day was summarised.
RECHECK_DAYS = 2


def days_to_build(today: date) -> tuple[date, date] | None:
    """[first, last] days to (re)build, or None when there is nothing to do."""
    last = today - timedelta(days=1)
    through = aggregated_through()
    if through is None:
        earliest = db.session.scalar(select(func.min(TrackingEvent.logged_at)))
        if earliest is None:
            return None
        first = earliest.date()
    else:
        first = through - timedelta(days=RECHECK_DAYS - 1)
    return (first, last) if first <= last else None


def build(first: date, last: date) -> int:
    """Rebuild the day rows of [first, last] and their months; returns rows written."""
    low = datetime.combine(first, time.min, UTC)
    high = datetime.combine(last + timedelta(days=1), time.min, UTC)
    day = _bucket_expr("day")
    code = func.coalesce(TrackingEvent.code, "")
    rows = db.session.execute(
        select(TrackingEvent.website_id, code, TrackingEvent.name, day, func.count())
        .where(TrackingEvent.logged_at >= low, TrackingEvent.logged_at < high)
        .group_by(TrackingEvent.website_id, code, TrackingEvent.name, day)).all()
    db.session.execute(delete(TrackingEventSummary).where(
        TrackingEventSummary.scale == "day", TrackingEventSummary.bucket >= first,
        TrackingEventSummary.bucket <= last))
    written = 0
    if rows:
        db.session.execute(insert(TrackingEventSummary), [
            {"scale": "day", "bucket": _to_bucket(bucket, "day").date(), "website_id": site,
             "code": code_value, "name": name, "hits": hits}
            for site, code_value, name, bucket, hits in rows])
        written += len(rows)
    written += _rebuild_months(first.replace(day=1), last)
    _mark(last)
    return written


def _rebuild_months(first_month: date, last: date) -> int:
    db.session.execute(delete(TrackingEventSummary).where(
        TrackingEventSummary.scale == "month", TrackingEventSummary.bucket >= first_month,
        TrackingEventSummary.bucket <= last))
    days = db.session.execute(
        select(TrackingEventSummary.website_id, TrackingEventSummary.code,
               TrackingEventSummary.name, TrackingEventSummary.bucket,
               TrackingEventSummary.hits)
        .where(TrackingEventSummary.scale == "day", TrackingEventSummary.bucket >= first_month,
               TrackingEventSummary.bucket <= last)).all()
    months: dict[tuple, int] = {}
    for site, code, name, bucket, hits in days:
        key = (site, code, name, bucket.replace(day=1))
        months[key] = months.get(key, 0) + hits
    if months:
        db.session.execute(insert(TrackingEventSummary), [
            {"scale": "month", "bucket": month, "website_id": site, "code": code, "name": name,
             "hits": hits} for (site, code, name, month), hits in months.items()])
    return len(months)


def _mark(last: date) -> None:
    mark = db.session.get(TrackingDrainCursor, AGGREGATION_MARK)
    if mark is None:
        db.session.add(TrackingDrainCursor(stream=AGGREGATION_MARK, last_id=last.isoformat()))
    elif date.fromisoformat(mark.last_id) < last:
        mark.last_id = last.isoformat()


def run_nightly(today: date | None = None) -> int:
    span = days_to_build(today or utcnow().date())
    if span is None:
        return 0
    written = build(*span)
    db.session.commit()
    return written
