"""Opens, clicks, one-click unsubscribe and the bounce webhook of SMTP campaigns."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

import pytest
from sqlalchemy import func
from sqlalchemy import select

from extensions import db
from models.email_campaigns import EmailCampaignRecipient
from models.lists import MarketingListItem
from models.marketing_activity import ActivityType
from models.marketing_activity import MarketingActivity
from models.users import Role
from services.email_campaigns import service
from services.email_campaigns import statistics
from services.marketing_lists import sending
from tests import factories_campaigns as fc
from tests.campaigns.conftest import PUBLIC_URL


@pytest.fixture
def sent(app, smtp):
    """A sent campaign of two members; returns (campaign, links of the first message)."""
    mlist = fc.marketing_list(emails=["reader@example.com", "other@example.com"])
    campaign = fc.email_campaign(mlist, campaign_id=fc.campaign().id)
    service.request_send(campaign)
    message = smtp.parsed("reader@example.com")
    html = message.get_body(("html",)).get_content()
    found = {
        "open": re.search(re.escape(PUBLIC_URL) + r'(/e/o/[^"]+)"', html).group(1),
        "click": re.search(re.escape(PUBLIC_URL) + r'(/e/c/[^"]+)"', html).group(1),
        "unsubscribe": message["List-Unsubscribe"].strip("<> ").removeprefix(PUBLIC_URL),
        "message_id": message["Message-ID"],
    }
    return campaign, found


def _recipient(email="reader@example.com") -> EmailCampaignRecipient:
    db.session.expire_all()
    return db.session.scalar(select(EmailCampaignRecipient).where(
        EmailCampaignRecipient.email == email))


def _activities(type_) -> int:
    return db.session.scalar(select(func.count()).select_from(MarketingActivity).where(
        MarketingActivity.type == type_))


def test_open_pixel_counts_opens(client, sent):
    _, links = sent
    response = client.get(links["open"])
    assert response.status_code == 200 and response.mimetype == "image/gif"
    assert response.headers["Cache-Control"].startswith("no-store")
    assert _recipient().open_count == 1 and _activities(ActivityType.OPEN) == 1
    import time

    time.sleep(1.05)  # a second load later is a second open
    client.get(links["open"])
    assert _recipient().open_count == 2 and _activities(ActivityType.OPEN) == 2


def test_click_redirects_to_the_signed_url_and_counts(client, sent):
    campaign, links = sent
    response = client.get(links["click"])
    assert response.status_code == 302
    assert response.headers["Location"] == "https://example.com/offer?a=1&b=2"
    assert _recipient().click_count == 1
    activity = db.session.scalar(select(MarketingActivity).where(
        MarketingActivity.type == ActivityType.CLICK))
    assert activity.details == "https://example.com/offer?a=1&b=2"
    assert activity.email_campaign_id == campaign.id
    assert activity.campaign_id == campaign.campaign_id
    assert activity.entity_type == "contact"


@pytest.mark.parametrize("kind", ["open", "click", "unsubscribe"])
def test_tampered_links_are_400_and_record_nothing(client, sent, kind):
    _, links = sent
    url = links[kind]
    token = url.split("/")[3].removesuffix(".gif")
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    response = client.get(url.replace(token, forged))
    assert response.status_code == 400
    assert client.post(url.replace(token, forged), csrf=False).status_code in (400, 405)
    recipient = _recipient()
    assert (recipient.open_count, recipient.click_count, recipient.unsubscribe_count) == (0, 0, 0)
    assert db.session.scalar(select(func.count()).select_from(MarketingActivity).where(
        MarketingActivity.type != ActivityType.SEND)) == 0


def test_a_click_token_cannot_be_pointed_elsewhere(client, sent):
    from itsdangerous import URLSafeSerializer

    from services.email_campaigns import links as link_service

    # Signed by someone without our key: refused, no open redirect.
    evil = URLSafeSerializer("not-our-key", salt="listbridge.email.click").dumps(
        [_recipient().id, "https://evil.example"])
    assert client.get(f"/e/c/{evil}").status_code == 400
    # An open token is not a click token (salts differ).
    open_token = link_service.sign("open", _recipient().id)
    assert client.get(f"/e/c/{open_token}").status_code == 400


def test_one_click_unsubscribe_rfc8058(client, sent):
    campaign, links = sent
    page = client.get(links["unsubscribe"])
    assert page.status_code == 200 and b"reader@example.com" in page.data
    assert _recipient().unsubscribe_count == 0  # a GET (link scanners) changes nothing
    response = client.post(links["unsubscribe"], data={"List-Unsubscribe": "One-Click"},
                           csrf=False)
    assert response.status_code == 200 and b"You are unsubscribed" in response.data
    client.post(links["unsubscribe"], data={"List-Unsubscribe": "One-Click"}, csrf=False)
    recipient = _recipient()
    assert recipient.unsubscribe_count == 1 and _activities(ActivityType.UNSUBSCRIBE) == 1
    item = db.session.scalar(select(MarketingListItem).where(
        MarketingListItem.entity_id == recipient.entity_id))
    assert item.subscribed is False
    members = [r.email for b in sending.iter_sending_set(campaign.marketing_list_id) for r in b]
    assert members == ["other@example.com"]


def _signed(body: dict | str, key: bytes | None = None) -> tuple[bytes, dict]:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    signature = hmac.new(key or statistics.webhook_key(), raw, hashlib.sha256).hexdigest()
    return raw, {"X-Listbridge-Signature": f"sha256={signature}",
                 "Content-Type": "application/json"}


def test_bounce_webhook_records_once(client, sent):
    _, links = sent
    body, headers = _signed({"events": [
        {"type": "bounce", "bounce_type": "hard", "message_id": links["message_id"], "id": "e1"},
        {"type": "bounce", "bounce_type": "soft", "message_id": links["message_id"], "id": "e2"},
    ]})
    response = client.post("/e/events", data=body, headers=headers, csrf=False)
    assert response.status_code == 200, response.data
    assert response.json == {"recorded": 2, "duplicates": 0, "unknown": 0}
    again = client.post("/e/events", data=body, headers=headers, csrf=False)
    assert again.json == {"recorded": 0, "duplicates": 2, "unknown": 0}
    assert _recipient().bounce_count == 2
    assert _activities(ActivityType.HARD_BOUNCE) == 1 and _activities(ActivityType.SOFT_BOUNCE) == 1


def test_complaint_by_campaign_and_email_unsubscribes(client, sent):
    campaign, _ = sent
    body, headers = _signed({"type": "complaint", "email_campaign_id": campaign.id,
                             "email": "Other@Example.com"})
    response = client.post("/e/events", data=body, headers=headers, csrf=False)
    assert response.json["recorded"] == 1
    recipient = _recipient("other@example.com")
    assert recipient.abuse_count == 1
    members = [r.email for b in sending.iter_sending_set(campaign.marketing_list_id) for r in b]
    assert members == ["reader@example.com"]


@pytest.mark.parametrize("headers", [{}, {"X-Listbridge-Signature": "sha256=00"},
                                     {"X-Listbridge-Signature": "md5=abc"}])
def test_webhook_needs_a_valid_signature(client, sent, headers):
    _, links = sent
    body = json.dumps({"type": "bounce", "message_id": links["message_id"]}).encode()
    response = client.post("/e/events", data=body, headers=headers, csrf=False)
    assert response.status_code == 401
    assert _recipient().bounce_count == 0


def test_webhook_signed_with_another_key_is_refused(client, sent):
    _, links = sent
    body, headers = _signed({"type": "bounce", "message_id": links["message_id"]},
                            key=b"someone-else")
    assert client.post("/e/events", data=body, headers=headers, csrf=False).status_code == 401


BAD_EVENTS = [
    [],  # not an object
    {"type": "explode"},
    {"type": "bounce", "message_id": "<x@y>"},  # not one of our messages
    {"type": "bounce", "bounce_type": "medium", "email_campaign_id": 1, "email": "a@b.c"},
    {"type": "bounce", "occurred_at": "yesterday", "email_campaign_id": 1, "email": "a@b.c"},
    {"type": "bounce"},  # says nothing about whom
]


@pytest.mark.parametrize("bad", BAD_EVENTS)
def test_a_malformed_event_refuses_the_whole_request(client, sent, bad):
    _, links = sent
    good = {"type": "bounce", "message_id": links["message_id"]}
    body, headers = _signed({"events": [good, bad]})
    response = client.post("/e/events", data=body, headers=headers, csrf=False)
    assert response.status_code == 400 and "error" in response.json
    assert _recipient().bounce_count == 0 and _activities(ActivityType.HARD_BOUNCE) == 0


@pytest.mark.parametrize("body", ["not json", json.dumps({"events": []}),
                                  json.dumps({"events": [{}] * 1001})])
def test_a_body_that_is_not_a_list_of_events_is_400(client, sent, body):
    raw, headers = _signed(body)
    response = client.post("/e/events", data=raw, headers=headers, csrf=False)
    assert response.status_code == 400 and "error" in response.json


def test_unknown_recipient_is_counted_not_recorded(client, sent):
    body, headers = _signed({"type": "bounce", "message_id": "<1.2.3.lb.999999@x>"})
    response = client.post("/e/events", data=body, headers=headers, csrf=False)
    assert response.json == {"recorded": 0, "duplicates": 0, "unknown": 1}


def test_view_shows_totals_and_recipient_counters_with_filters(client, auth, sent):
    campaign, links = sent
    client.get(links["open"])
    client.get(links["click"])
    auth.login_as(Role.VIEWER)
    html = client.get(f"/email-campaigns/{campaign.id}").get_data(as_text=True)
    stats = html.split('id="email-campaign-statistics"')[1].split("</section>")[0]
    assert re.search(r'data-stat="open".*?<p class="figure">1</p>', stats, re.S)
    assert re.search(r'data-stat="click".*?<p class="figure">1</p>', stats, re.S)
    grid = client.get(f"/email-campaigns/{campaign.id}/recipients?f_open_count_from=1",
                      headers={"HX-Request": "true", "HX-Target": "recipients-grid"}
                      ).get_data(as_text=True)
    assert "reader@example.com" in grid and "other@example.com" not in grid
    campaign_page = client.get(f"/campaigns/{campaign.campaign_id}").get_data(as_text=True)
    summary = campaign_page.split('id="marketing-activity-summary"')[1]
    assert '<th scope="row">Send</th><td>2</td>' in summary
    assert '<th scope="row">Open</th><td>1</td>' in summary
    assert '<th scope="row">Click</th><td>1</td>' in summary


def test_public_endpoints_need_no_login_but_nothing_else_is_opened(client, sent):
    _, links = sent
    assert client.get(links["open"]).status_code == 200
    assert client.get("/email-campaigns/").status_code == 302
