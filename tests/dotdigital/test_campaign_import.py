"""Campaign, summary and activity import from the emulator, and the pages showing them."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy import select

from extensions import db
from integrations.dotdigital import campaigns
from integrations.dotdigital.sync import client_for
from jobs.dotdigital_campaigns import start_import
from models.campaigns import Campaign
from models.dotdigital import DotdigitalCampaign
from models.email_campaigns import EmailCampaign
from models.email_campaigns import EmailCampaignRecipient
from models.jobs import JobStatus
from models.lists import MarketingListItem
from models.marketing_activity import MarketingActivity
from models.users import Role
from services import marketing_activity
from services.sync.runs import RunTracker
from tests import factories
from tests import factories_dotdigital as fdd

SENT = "2026-03-02T10:00:00Z"


def _setup(base, size=3):
    owner = factories.user(role=Role.MARKETER)
    dd = fdd.integration(base, default_owner_id=owner.id)
    dd, mlist, rows, _connection = fdd.connected(base, size=size, dd=dd)
    emails = [r.email for r in rows]
    fdd.seed(base, contacts=[{"email": e, "address_books": ["Newsletter"]} for e in emails],
             campaigns=[
                 {"name": "Spring sale!", "id": 301, "status": "Sent", "dateSent": SENT,
                  "address_books": ["Newsletter"], "subject": "Spring is here",
                  "fromName": "Shop", "fromAddress": {"id": 1, "email": "shop@example.com"}},
                 {"name": "Draft", "id": 302, "status": "Unsent",
                  "address_books": ["Newsletter"]}],
             activities=[
                 {"campaign": 301, "email": emails[0], "numOpens": 3, "numClicks": 2,
                  "dateSent": SENT, "dateFirstOpened": "2026-03-02T11:00:00Z",
                  "dateLastOpened": "2026-03-03T09:00:00Z"},
                 {"campaign": 301, "email": emails[1], "dateSent": SENT, "softBounced": True,
                  "hardBounced": True},
                 {"campaign": 301, "email": emails[2], "dateSent": SENT, "unsubscribed": True,
                  "numOpens": 1, "dateLastOpened": "2026-03-02T12:00:00Z"},
                 {"campaign": 301, "email": "stranger@example.com", "dateSent": SENT,
                  "numOpens": 5}],
             opens=[{"campaign": 301, "email": emails[0], "dateOpened": "2026-03-02T11:00:00Z",
                     "mailClient": "Thunderbird"},
                    {"campaign": 301, "email": emails[0], "dateOpened": "2026-03-03T09:00:00Z"},
                    {"campaign": 301, "email": "stranger@example.com",
                     "dateOpened": "2026-03-02T11:00:00Z"}],
             clicks=[{"campaign": 301, "email": emails[0], "dateClicked": "2026-03-02T11:01:00Z",
                      "url": "https://shop.example.com/a"},
                     {"campaign": 301, "email": emails[0], "dateClicked": "2026-03-02T11:02:00Z",
                      "url": "https://shop.example.com/b"}])
    return dd, mlist, rows, owner


def _import(dd):
    client = client_for(dd)
    client.discover()
    tracker = RunTracker(None, client)
    campaigns.import_all(client, dd, tracker)
    return tracker


def _counts():
    db.session.expire_all()
    return (db.session.scalar(select(func.count(EmailCampaign.id))),
            db.session.scalar(select(func.count(Campaign.id))),
            db.session.scalar(select(func.count(EmailCampaignRecipient.id))),
            db.session.scalar(select(func.count(MarketingActivity.id))))


def test_sent_campaign_becomes_one_email_campaign_and_one_campaign(dotdigital_server):
    dd, mlist, _rows, owner = _setup(dotdigital_server)
    tracker = _import(dd)
    [ec] = db.session.scalars(select(EmailCampaign)).all()
    assert (ec.name, ec.description, ec.transport) == ("Spring sale!", "Spring is here",
                                                        "dotdigital")
    assert ec.is_sent and ec.schedule.value == "manual" and ec.owner_id == owner.id
    assert (ec.sender_email, ec.sender_name) == ("shop@example.com", "Shop")
    assert ec.marketing_list_id == mlist.id
    assert ec.sent_at.isoformat().startswith("2026-03-02T10:00")
    campaign = ec.campaign
    assert campaign.code == "Spring_sale__301" and campaign.report_scale.value == "day"
    assert campaign.description == ('Campaign was added automatically for "Spring sale!" '
                                    'dotdigital campaign')
    assert campaign.owner_id == owner.id
    dd_rows = db.session.scalars(select(DotdigitalCampaign).order_by(
        DotdigitalCampaign.remote_id)).all()
    assert [(d.remote_id, d.status, d.email_campaign_id is not None) for d in dd_rows] == [
        ("301", "Sent", True), ("302", "Unsent", False)]
    assert tracker.counts["unmatched"] == 2  # the stranger's activity and open


def test_per_recipient_statistics_and_activities(dotdigital_server):
    dd, mlist, rows, _ = _setup(dotdigital_server)
    _import(dd)
    ec = db.session.scalar(select(EmailCampaign))
    stats = {r.email: (r.open_count, r.click_count, r.bounce_count, r.unsubscribe_count)
             for r in db.session.scalars(select(EmailCampaignRecipient))}
    assert stats == {rows[0].email: (3, 2, 0, 0), rows[1].email: (0, 0, 2, 0),
                     rows[2].email: (1, 0, 0, 1)}
    items = {i.entity_id: i for i in db.session.scalars(select(MarketingListItem).where(
        MarketingListItem.marketing_list_id == mlist.id))}
    assert all(items[r.id].last_contacted_at.isoformat().startswith("2026-03-02T10:00")
               for r in rows)
    assert all(items[r.id].contacted_times == 1 for r in rows)
    summary = dict(marketing_activity.summary(ec.campaign_id))
    assert {t.value: n for t, n in summary.items()} == {
        "send": 3, "open": 2, "click": 2, "soft_bounce": 1, "hard_bounce": 1, "unsubscribe": 1}
    clicks = db.session.scalars(select(MarketingActivity.details).where(
        MarketingActivity.type == "click").order_by(MarketingActivity.details)).all()
    assert clicks == ["https://shop.example.com/a", "https://shop.example.com/b"]


def test_reimport_adds_nothing_and_changes_nothing(dotdigital_server):
    dd, *_ = _setup(dotdigital_server)
    _import(dd)
    before = _counts()
    items_before = [(i.entity_id, i.contacted_times, i.last_contacted_at)
                    for i in db.session.scalars(select(MarketingListItem))]
    # Force the full (not since-date) calls again too.
    for dc in db.session.scalars(select(DotdigitalCampaign)):
        dc.activity_cursor = dc.events_cursor = None
    db.session.commit()
    _import(dd)
    _import(dd)
    assert _counts() == before
    assert [(i.entity_id, i.contacted_times, i.last_contacted_at)
            for i in db.session.scalars(select(MarketingListItem))] == items_before


def test_later_activity_updates_counts_by_setting_them(dotdigital_server):
    dd, _mlist, rows, _ = _setup(dotdigital_server)
    _import(dd)
    fdd.seed(dotdigital_server, activities=[
        {"campaign": 301, "email": rows[0].email, "numOpens": 5, "numClicks": 2,
         "dateSent": SENT, "dateLastOpened": "2099-01-01T00:00:00Z"}],
        opens=[{"campaign": 301, "email": rows[0].email, "dateOpened": "2099-01-01T00:00:00Z"}])
    _import(dd)
    recipient = db.session.scalar(select(EmailCampaignRecipient).where(
        EmailCampaignRecipient.email == rows[0].email))
    assert recipient.open_count == 5
    assert db.session.scalar(select(func.count(MarketingActivity.id)).where(
        MarketingActivity.type == "open")) == 3


def test_campaign_gone_from_the_book_is_marked_deleted_not_removed(dotdigital_server):
    dd, *_ = _setup(dotdigital_server)
    _import(dd)
    state = fdd.remote_state(dotdigital_server)
    book = next(b for b in state["address_books"] if b["name"] == "Newsletter")
    # Re-seed the emulator without the campaigns: they vanish from the book's list.
    fdd.control(dotdigital_server, "reset")
    fdd.seed(dotdigital_server, address_books=[{"name": "Newsletter", "id": book["id"]}])
    _import(dd)
    assert db.session.scalars(select(DotdigitalCampaign.is_deleted)).all() == [True, True]
    assert db.session.scalar(select(func.count(EmailCampaign.id))) == 1


def test_summary_with_fields_missing_shows_na(dotdigital_server, client, auth):
    dd, *_ = _setup(dotdigital_server)
    _import(dd)
    dc = db.session.scalar(select(DotdigitalCampaign).where(DotdigitalCampaign.remote_id == "301"))
    dc.summary = {"numSent": 10, "percentageDelivered": "not a number"}
    db.session.commit()
    auth.login_as(Role.VIEWER)
    html = client.get(f"/email-campaigns/{dc.email_campaign_id}").get_data(as_text=True)
    assert 'data-stat="sent">10<' in html
    assert 'data-stat="delivered_pct">N/A<' in html
    assert 'data-stat="isp_complaints">N/A<' in html


def test_statistics_block_chart_and_recipients_on_the_campaign_page(dotdigital_server, client,
                                                                    auth):
    dd, _mlist, rows, _ = _setup(dotdigital_server)
    _import(dd)
    ec = db.session.scalar(select(EmailCampaign))
    auth.login_as(Role.VIEWER)
    html = client.get(f"/email-campaigns/{ec.id}").get_data(as_text=True)
    assert "dotdigital Statistics" in html
    for label in ("Emails Sent", "Delivered %", "Unique opens %", "Estimated forwards",
                  "Recipient clicks %", "Click to open rate", "Page views", "Total replies",
                  "Replies %", "Forwards", "Hard Bounces %", "Soft Bounces %", "Unsubscribes %",
                  "ISP Complaints"):
        assert f">{label}</abbr>" in html, label
    assert 'data-stat="sent">4<' in html  # the emulator's summary counts all 4 recipients
    assert 'data-stat="hard_bounces">1<' in html
    assert "data-tooltip=" in html
    chart = client.get(f"/dotdigital/email-campaigns/{ec.id}/statistics.svg")
    assert chart.status_code == 200 and chart.mimetype == "image/svg+xml"
    assert b"<script" not in chart.data and b"Emails Sent" in chart.data
    grid = client.get(f"/email-campaigns/{ec.id}/recipients?f_open_count_min=3",
                      headers={"HX-Request": "true", "HX-Target": "recipients-grid"})
    assert rows[0].email in grid.get_data(as_text=True)


def test_chart_of_a_campaign_not_from_dotdigital_is_404(client, auth):
    auth.login_as(Role.VIEWER)
    assert client.get("/dotdigital/email-campaigns/12345/statistics.svg").status_code == 404


def test_marketing_activity_section_on_the_contact_page(dotdigital_server, client, auth):
    dd, _mlist, rows, _ = _setup(dotdigital_server)
    _import(dd)
    ec = db.session.scalar(select(EmailCampaign))
    auth.login_as(Role.VIEWER)
    page = client.get(f"/contacts/{rows[0].id}").get_data(as_text=True)
    assert f"/marketing-activity/contact/{rows[0].id}" in page
    section = client.get(f"/marketing-activity/contact/{rows[0].id}",
                         headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Marketing Activity" in section and "Spring sale!" in section
    assert '<td data-testid="latest-activity">Open</td>' in section  # 2026-03-03 09:00
    assert "5 events" in section  # send, 2 opens, 2 clicks
    events = client.get(f"/marketing-activity/contact/{rows[0].id}/{ec.id}",
                        headers={"HX-Request": "true"}).get_data(as_text=True)
    assert events.count("<tr><td>") == 5 and "https://shop.example.com/b" in events
    assert "View Campaign" in events
    other = client.get(f"/marketing-activity/contact/{rows[1].id}").get_data(as_text=True)
    assert "Hard Bounce" in other or "Soft Bounce" in other


def test_marketing_activity_section_bad_input(client, auth):
    auth.login_as(Role.VIEWER)
    assert client.get("/marketing-activity/contact/999999").status_code == 404
    assert client.get("/marketing-activity/nothing/1").status_code == 404
    from tests import factories_lists

    row = factories_lists.contact()
    empty = client.get(f"/marketing-activity/contact/{row.id}").get_data(as_text=True)
    assert "No marketing activity yet." in empty
    assert client.get(f"/marketing-activity/contact/{row.id}/424242").status_code == 404


def test_import_job_runs_once_per_integration_and_is_scheduled(dotdigital_server):
    from jobs.schedule import SCHEDULE

    dd, *_ = _setup(dotdigital_server)
    run = start_import(dd)
    db.session.refresh(run)
    assert run.status is JobStatus.SUCCEEDED, run.error
    assert run.counts["email_campaigns_created"] == 1
    assert any(s.kind == "dotdigital_campaigns_all" for s in SCHEDULE)


def test_a_campaign_with_the_dotdigital_transport_says_sending_happens_there(client, auth):
    from tests import factories_lists

    mlist = factories_lists.marketing_list(entity="contact", build=False)
    integration = fdd.integration("http://127.0.0.1:9")
    auth.login_as(Role.MARKETER)
    response = client.post("/email-campaigns/new", data={
        "name": "Via dotdigital", "marketing_list_id": str(mlist.id), "schedule": "manual",
        "owner_id": str(factories.user().id), "transport": "dotdigital",
        "integration_id": str(integration.id)})
    assert response.status_code == 303, response.get_data(as_text=True)
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Sending happens in dotdigital" in html
    assert 'data-testid="send"' not in html
