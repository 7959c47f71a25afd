"""Hits → visits and events; campaign attribution; the chart API; the nightly summary."""

import time
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta

from sqlalchemy import select

from extensions import db
from models.campaigns import CampaignCodeHistory
from models.tracking import TrackingEvent
from models.tracking import TrackingEventSummary
from models.tracking import TrackingVisit
from services import settings
from services.tracking import aggregation
from services.tracking.attribution import campaign_id_for_code
from services.tracking.events import campaign_event_counts
from services.tracking.events import events_for_codes
from services.tracking.events import totals_for_codes
from services.tracking.processing import store_hits
from services.tracking.useragent import parse_agent
from tests import factories_campaigns as cf
from tests import factories_tracking as tf


def _at(day: date, hour: int = 12) -> float:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp()


def test_hits_group_into_visits_by_visitor_user_and_gap(app):
    site = tf.website()
    now = time.time() - 7200
    store_hits([tf.hit(site.id, at=now), tf.hit(site.id, at=now + 60, code="c1"),
                tf.hit(site.id, at=now + 60 + 31 * 60),  # gap > 30 min: new visit
                tf.hit(site.id, at=now + 90, user="ann@example.com"),  # signed in: new visit
                tf.hit(site.id, at=now + 30, visitor="ffffffffffffffff")])
    db.session.commit()
    visits = db.session.scalars(select(TrackingVisit).order_by(TrackingVisit.id)).all()
    assert len(visits) == 4
    first = next(v for v in visits if v.visitor_id == "0123456789abcdef"
                 and v.user_identifier == "guest" and v.code == "c1")
    assert (first.last_action_at - first.first_action_at).total_seconds() == 60
    # A later batch extends the open visit instead of starting another.
    store_hits([tf.hit(site.id, at=now + 60 + 31 * 60 + 120)])
    db.session.commit()
    assert db.session.query(TrackingVisit).count() == 4


def test_campaign_code_is_read_from_the_landing_url(app):
    site = tf.website()
    store_hits([tf.hit(site.id, url="https://s/?utm_source=x&utm_campaign=autumn"),
                tf.hit(site.id, url="https://s/?pk_campaign=spring&utm_campaign=autumn")])
    db.session.commit()
    assert sorted(e.code for e in db.session.scalars(select(TrackingEvent))) == [
        "autumn", "spring"]


def test_user_agents_are_parsed():
    desktop = parse_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                          "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
    assert (desktop.client, desktop.client_version, desktop.os, desktop.desktop,
            desktop.mobile) == ("Chrome", "131.0", "Windows", True, False)
    bot = parse_agent("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
    assert bot.bot and not bot.desktop


def test_codes_match_current_and_historical_campaign_codes(app):
    campaign = cf.campaign(code="now-code")
    db.session.add(CampaignCodeHistory(campaign_id=campaign.id, code="old-code"))
    db.session.commit()
    assert campaign_id_for_code("now-code") == campaign.id
    assert campaign_id_for_code("old-code") == campaign.id
    assert campaign_id_for_code("other") is None and campaign_id_for_code(None) is None


def test_events_for_codes_by_hour_day_and_month(app):
    site = tf.website()
    now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0) - timedelta(hours=3)
    store_hits([tf.hit(site.id, at=now.timestamp(), code="a"),
                tf.hit(site.id, at=now.timestamp() + 60, code="b", name="cart"),
                tf.hit(site.id, at=now.timestamp() + 3600, code="a"),
                tf.hit(site.id, at=now.timestamp(), code="z")])
    db.session.commit()
    since, until = now - timedelta(days=1), now + timedelta(days=1)
    hour = now.replace(minute=0)
    assert events_for_codes(["a", "b"], since, until, "hour") == [
        ("cart", hour, 1), ("visit", hour, 1), ("visit", hour + timedelta(hours=1), 1)]
    by_day = events_for_codes(["a", "b"], since, until, "day")
    assert sum(h for _, _, h in by_day) == 3
    assert all(b.hour == 0 and b.tzinfo is not None for _, b, _ in by_day)
    assert totals_for_codes(["a", "b"], since, until) == [("visit", 2), ("cart", 1)]
    assert sum(h for _, _, h in campaign_event_counts(["a"], "month")) == 2
    assert sum(h for _, _, h in campaign_event_counts(["a"], "year")) == 2


def test_nightly_summary_is_idempotent_and_feeds_the_chart(app):
    site = tf.website()
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=n) for n in (3, 2, 1, 0)]
    hits = [tf.hit(site.id, at=_at(day, 10), code="c") for day in days]
    store_hits([*hits, tf.hit(site.id, at=_at(days[1], 11), code="c", name="cart")])
    db.session.commit()
    assert aggregation.run_nightly(today) > 0
    first = db.session.query(TrackingEventSummary).count()
    aggregation.run_nightly(today)
    assert db.session.query(TrackingEventSummary).count() == first
    day_rows = {(r.bucket, r.name): r.hits for r in db.session.scalars(
        select(TrackingEventSummary).where(TrackingEventSummary.scale == "day"))}
    assert day_rows[(days[1], "cart")] == 1 and (today, "visit") not in day_rows
    month_total = sum(r.hits for r in db.session.scalars(
        select(TrackingEventSummary).where(TrackingEventSummary.scale == "month")))
    assert month_total == 4  # the three summarised days: 3 visits and a cart
    # The chart mixes the summary (past days) and raw events (today), counting each once.
    since = datetime.combine(days[0], datetime.min.time(), UTC)
    until = datetime.combine(today + timedelta(days=1), datetime.min.time(), UTC)
    counts = events_for_codes(["c"], since, until, "day")
    assert sum(h for _, _, h in counts) == 5
    # Deleting a raw event of a summarised day does not change the chart: it reads the summary.
    db.session.execute(TrackingEvent.__table__.delete().where(TrackingEvent.name == "cart"))
    db.session.commit()
    assert sum(h for _, _, h in events_for_codes(["c"], since, until, "day")) == 5
    settings.save({"tracking.precalculated_statistic_enabled": False})
    assert sum(h for _, _, h in events_for_codes(["c"], since, until, "day")) == 4
