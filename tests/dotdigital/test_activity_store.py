"""Batched activity storage: batches across campaigns, keys, COPY text, cursors."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

import pytest
from sqlalchemy import select

from extensions import db
from integrations.dotdigital import activity_store
from integrations.dotdigital import campaigns
from integrations.dotdigital.sync import client_for
from models.dotdigital import DotdigitalCampaign
from models.email_campaigns import EmailCampaignRecipient
from models.lists import MarketingListItem
from models.marketing_activity import ActivityType
from models.marketing_activity import MarketingActivity
from services import marketing_activity
from services.sync.runs import RunTracker
from tests import factories_dotdigital as fdd

FIRST, SECOND = "2026-03-02T10:00:00Z", "2026-03-09T10:00:00Z"


def _two_campaigns(base, size=4):
    dd, mlist, rows, _connection = fdd.connected(base, size=size)
    emails = [r.email for r in rows]
    fdd.seed(base, contacts=[{"email": e, "address_books": ["Newsletter"]} for e in emails],
             campaigns=[{"name": f"Campaign {n}", "id": 400 + n, "status": "Sent",
                         "dateSent": sent, "address_books": ["Newsletter"]}
                        for n, sent in enumerate((FIRST, SECOND))],
             activities=[{"campaign": 400 + n, "email": e, "dateSent": sent,
                          "numOpens": i, "hardBounced": i == 1}
                         for n, sent in enumerate((FIRST, SECOND))
                         for i, e in enumerate(emails)],
             clicks=[{"campaign": 401, "email": emails[0], "dateClicked": SECOND,
                      "url": "https://shop.example.com/a\tb\\c\nd"}])
    return dd, mlist, rows


def _import(dd) -> RunTracker:
    client = client_for(dd)
    client.discover()
    tracker = RunTracker(None, client)
    campaigns.import_all(client, dd, tracker)
    db.session.expire_all()
    return tracker


def _items(mlist):
    return {i.entity_id: (i.contacted_times, i.last_contacted_at)
            for i in db.session.scalars(select(MarketingListItem).where(
                MarketingListItem.marketing_list_id == mlist.id))}


@pytest.mark.parametrize("batch_rows", [3, 10_000])
def test_batches_within_or_across_campaigns_count_each_recipient_once(
        dotdigital_server, monkeypatch, batch_rows):
    # 3 rows: a campaign spans several batches; 10,000: one batch holds both campaigns.
    monkeypatch.setattr(activity_store, "BATCH_ROWS", batch_rows)
    dd, mlist, rows = _two_campaigns(dotdigital_server)
    tracker = _import(dd)
    assert tracker.counts["recipients"] == 8 and tracker.counts["activities_read"] == 8
    assert tracker.counts["activities"] == 11 and tracker.counts["clicks_read"] == 1
    assert {entity_id: times for entity_id, (times, _) in _items(mlist).items()} == {
        r.id: 2 for r in rows}
    assert {at.isoformat()[:16] for _, at in _items(mlist).values()} == {"2026-03-09T10:00"}
    assert db.session.scalar(select(db.func.count(EmailCampaignRecipient.id))) == 8
    # 8 sends, 2 hard bounces, 1 click.
    assert db.session.scalar(select(db.func.count(MarketingActivity.id))) == 11
    cursors = db.session.execute(select(DotdigitalCampaign.activity_cursor,
                                        DotdigitalCampaign.events_cursor)).all()
    assert len(cursors) == 2 and all(a and e for a, e in cursors)

    before = _items(mlist)
    for dc in db.session.scalars(select(DotdigitalCampaign)):
        dc.activity_cursor = dc.events_cursor = None
    db.session.commit()
    again = _import(dd)
    assert again.counts.get("recipients", 0) == 0 and again.counts.get("activities", 0) == 0
    assert _items(mlist) == before


def test_stored_keys_are_event_keys_and_details_survive_copy_escaping(dotdigital_server):
    dd, _mlist, rows = _two_campaigns(dotdigital_server, size=2)
    _import(dd)
    dc = db.session.scalar(select(DotdigitalCampaign).where(DotdigitalCampaign.remote_id == "401"))
    source = f"dotdigital:{dd.id}:401"
    stored = set(db.session.scalars(select(MarketingActivity.event_key).where(
        MarketingActivity.email_campaign_id == dc.email_campaign_id)))
    expected = {marketing_activity.event_key(
        ActivityType.SEND, source=source, email_campaign_id=dc.email_campaign_id,
        entity_type="contact", entity_id=r.id) for r in rows}
    expected.add(marketing_activity.event_key(
        ActivityType.HARD_BOUNCE, source=source, email_campaign_id=dc.email_campaign_id,
        entity_type="contact", entity_id=rows[1].id))
    click_url = "https://shop.example.com/a\tb\\c\nd"
    expected.add(marketing_activity.event_key(
        ActivityType.CLICK, source=source, email_campaign_id=dc.email_campaign_id,
        entity_type="contact", entity_id=rows[0].id,
        action_date=datetime(2026, 3, 9, 10, tzinfo=UTC), details=click_url))
    assert stored == expected
    assert db.session.scalar(select(MarketingActivity.details).where(
        MarketingActivity.type == ActivityType.CLICK)) == click_url


def test_copy_text_escapes_and_marks_nulls():
    at = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    text = activity_store._copy_text([("a\tb\\c\nd\re", None, 7, at), ("", 0, -1, None)])
    assert text == ("a\\tb\\\\c\\nd\\re\t\\N\t7\t2026-03-02T10:00:00+00:00\n"
                    "\t0\t-1\t\\N\n")


def test_copy_text_of_the_two_big_tables_matches_the_generic_one():
    at = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    recipients = [(1, 2, "contact", 3, "o'neil\\x@example.com", at, 4, 5, 1, 0),
                  (1, 2, "contact", 4, "b@example.com", None, 0, 0, 0, 1)]
    activities = [("click", None, 1, "contact", 3, at, "https://x/\ta\\b\nc", "f" * 64),
                  ("send", 7, 1, "lead", 4, at, "", "0" * 64)]
    assert activity_store._recipients_copy(recipients) == activity_store._copy_text(recipients)
    assert activity_store._activities_copy(activities) == activity_store._copy_text(activities)
