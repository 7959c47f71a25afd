"""The campaign Events block: series at the report scale, the chart, the summary grid."""

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from extensions import db
from models.campaigns import ReportScale
from models.users import Role
from services.campaigns import events
from services.campaigns import service
from tests import factories_campaigns as fc


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_series_keeps_the_report_scale_and_fills_gaps():
    rows = [("visit", _at("2025-01-01 10:00"), 3), ("visit", _at("2025-01-03 00:00"), 1),
            ("signup", _at("2025-01-03 00:00"), 2)]
    series = events.build_series(rows, ReportScale.DAILY)
    assert series.scale == "day"
    assert series.labels == ["2025-01-01", "2025-01-02", "2025-01-03"]
    assert series.lines == {"signup": [0, 0, 2], "visit": [3, 0, 1]}
    assert events.totals(series) == [("signup", 2), ("visit", 4)]


def test_series_moves_to_a_coarser_scale_past_40_points():
    start = _at("2025-01-01 00:00")
    hourly = [("visit", start + timedelta(hours=h), 1) for h in range(41)]
    series = events.build_series(hourly, ReportScale.HOURLY)
    assert series.scale == "day" and series.labels == ["2025-01-01", "2025-01-02"]
    assert series.lines["visit"] == [24, 17]
    forty = events.build_series(hourly[:40], ReportScale.HOURLY)
    assert forty.scale == "hour" and len(forty.labels) == 40
    daily = [("visit", start + timedelta(days=d), 1) for d in range(400)]
    series = events.build_series(daily, ReportScale.DAILY)
    assert series.scale == "month" and len(series.labels) == 14
    assert sum(series.lines["visit"]) == 400


def test_empty_series():
    assert events.build_series([], "day").empty


def test_chart_is_svg_with_one_line_per_event_name():
    series = events.build_series([("visit", _at("2025-01-01 00:00"), 3),
                                  ("<b>signup</b>", _at("2025-01-02 00:00"), 1)], "day")
    svg = events.chart_svg(series).decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "visit" in svg and "&lt;b&gt;signup&lt;/b&gt;" in svg and "<b>signup" not in svg
    assert "<script" not in svg


@pytest.fixture
def tracked(app):
    """A campaign whose current and earlier codes both carry tracked events."""
    from models.tracking import TrackingEvent
    from models.tracking import TrackingWebsite

    campaign = fc.campaign(code="old", report_scale=ReportScale.DAILY)
    service.save(campaign, service.CampaignData(name=campaign.name, code="new"))
    site = TrackingWebsite(name="Site", identifier="site-1", url="https://example.com")
    db.session.add(site)
    db.session.flush()
    for code, name, when in (("old", "visit", "2025-01-01 09:00"),
                             ("new", "visit", "2025-01-02 09:00"),
                             ("new", "=cmd()", "2025-01-02 10:00"),
                             ("other", "visit", "2025-01-02 11:00")):
        db.session.add(TrackingEvent(website_id=site.id, name=name, code=code,
                                     logged_at=_at(when)))
    db.session.commit()
    return campaign


def test_view_shows_chart_and_totals_from_every_code(client, auth, tracked):
    assert events.tracking_available()
    auth.login_as(Role.VIEWER)
    html = client.get(f"/campaigns/{tracked.id}").get_data(as_text=True)
    assert f"/campaigns/{tracked.id}/events.svg" in html
    grid = html.split('id="events-grid"')[1]
    assert "<td>visit</td><td>2</td>" in grid and "<td>=cmd()</td><td>1</td>" in grid
    response = client.get(f"/campaigns/{tracked.id}/events.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert b"visit" in response.data


def test_summary_grid_filters_and_exports_csv(client, auth, tracked):
    auth.login_as(Role.VIEWER)
    html = client.get(f"/campaigns/{tracked.id}/events?f_hits_from=2",
                      headers={"HX-Request": "true", "HX-Target": "events-grid"}
                      ).get_data(as_text=True)
    assert "<html" not in html and "<td>visit</td>" in html and "cmd" not in html
    response = client.get(f"/campaigns/{tracked.id}/events.csv?sort=name&dir=asc")
    assert response.mimetype == "text/csv"
    assert response.get_data(as_text=True).splitlines() == [
        "Name,Number of Hits", "'=cmd(),1", "visit,2"]


def test_no_events_yet_shows_an_empty_state(client, auth):
    auth.login_as(Role.VIEWER)
    campaign = fc.campaign()
    html = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "No events have been tracked for this campaign yet." in html
    assert "events.svg" not in html


def test_tracking_switched_off_shows_the_empty_state(client, auth, tracked):
    from services import settings

    settings.save({"tracking.feature_enabled": False})
    auth.login_as(Role.VIEWER)
    html = client.get(f"/campaigns/{tracked.id}").get_data(as_text=True)
    assert "website tracking is not set up or switched off" in html
    assert client.get(f"/campaigns/{tracked.id}/events.svg").status_code == 404


def test_without_the_tracking_module_the_block_is_empty(client, auth, monkeypatch):
    # Stands in for an installation without website tracking (the module is optional).
    monkeypatch.setattr(events, "TRACKING_MODULE", "services.tracking.not_installed")
    auth.login_as(Role.VIEWER)
    campaign = fc.campaign()
    html = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "website tracking is not set up or switched off" in html
