"""The Mailchimp integration in Chromium: create it, connect a list to a segment, see Up to
date, then import a campaign sent to that segment and see its statistics on its page."""

from __future__ import annotations

import pytest
import requests

from emulators.mailchimp_data import DEFAULT_API_KEY
from emulators.mailchimp_data import DEFAULT_LIST_ID
from tests import factories_lists
from tests.emulators.conftest import _mailchimp_live  # noqa: F401
from tests.emulators.conftest import mailchimp_server  # noqa: F401

pytestmark = pytest.mark.e2e

AUDIENCE = "Listbridge Demo Audience"
SEGMENT = "Browser readers"
CAMPAIGN = "Spring news"
NO_HTMX_REQUEST = "() => document.querySelector('.htmx-request') === null"


def _settle(page) -> None:
    """Wait until htmx has finished its swap, so a fill doesn't land in a replaced node."""
    page.wait_for_function(NO_HTMX_REQUEST)


def _wait_for_status(page, label: str) -> None:
    page.wait_for_function(
        """label => {
            const el = document.querySelector('[data-testid=mc-status-label]');
            return el !== null && el.textContent.trim() === label;
        }""", arg=label)


def _subscribed_list(size: int = 3):
    """A manual list of ``size`` contacts, all subscribed, plus one unsubscribed member."""
    from extensions import db
    from models.base import utcnow
    from models.lists import ListType
    from models.lists import MarketingListItem

    mlist = factories_lists.marketing_list(type=ListType.MANUAL, build=False)
    subscribed = [factories_lists.contact() for _ in range(size)]
    unsubscribed = factories_lists.contact()
    db.session.add_all(
        [MarketingListItem(marketing_list_id=mlist.id, entity_id=c.id, subscribed=True,
                           contacted_times=0, created_at=utcnow()) for c in subscribed]
        + [MarketingListItem(marketing_list_id=mlist.id, entity_id=unsubscribed.id,
                             subscribed=False, contacted_times=0, created_at=utcnow())])
    db.session.commit()
    return mlist, subscribed, unsubscribed


def _segment_members(base_url: str, name: str) -> list[str]:
    """The members of the named static segment, read through the emulator's public API."""
    session = requests.Session()
    session.auth = ("e2e", DEFAULT_API_KEY)
    api = f"{base_url}/3.0/lists/{DEFAULT_LIST_ID}"
    segments = session.get(f"{api}/segments", params={"count": 1000}, timeout=10)
    segments.raise_for_status()
    ids = [s["id"] for s in segments.json()["segments"] if s["name"] == name]
    assert len(ids) == 1, segments.json()
    members = session.get(f"{api}/segments/{ids[0]}/members", params={"count": 1000},
                          timeout=10)
    members.raise_for_status()
    return sorted(m["email_address"].lower() for m in members.json()["members"])


def _segment_id(base_url: str, name: str) -> int:
    session = requests.Session()
    session.auth = ("e2e", DEFAULT_API_KEY)
    segments = session.get(f"{base_url}/3.0/lists/{DEFAULT_LIST_ID}/segments",
                           params={"count": 1000}, timeout=10)
    segments.raise_for_status()
    return next(s["id"] for s in segments.json()["segments"] if s["name"] == name)


def _seed_campaign(base_url: str, segment_id: int, emails: list[str]) -> None:
    """A campaign sent to the segment yesterday: opens, a click, a bounce, an unsubscribe."""
    from datetime import timedelta

    from models.base import utcnow

    when = (utcnow() - timedelta(days=1)).replace(microsecond=0)
    sent, later = when.isoformat(), (when + timedelta(minutes=5)).isoformat()
    a, b, c = emails
    response = requests.post(f"{base_url}/_emulator/mailchimp/seed", timeout=10, json={
        "campaigns": [{"id": "e2ecamp", "segment_id": segment_id, "title": CAMPAIGN,
                       "subject_line": "Hello spring", "from_name": "Acme",
                       "reply_to": "news@acme.test", "send_time": sent}],
        "email_activity": [
            {"campaign_id": "e2ecamp", "email_address": a, "activity": [
                {"action": "open", "timestamp": sent}, {"action": "open", "timestamp": later},
                {"action": "click", "timestamp": later, "url": "https://acme.test/spring"}]},
            {"campaign_id": "e2ecamp", "email_address": b, "activity": [
                {"action": "bounce", "type": "hard", "timestamp": sent}]}],
        "unsubscribes": [{"campaign_id": "e2ecamp", "email_address": c}],
        "sent_to": [{"campaign_id": "e2ecamp", "email_address": e} for e in emails]})
    assert response.status_code == 200, response.text


def _recipient_counts(page) -> dict[str, list[str]]:
    """Email → [status, opens, clicks, bounces, abuse reports, unsubscribes] from the grid."""
    rows = page.locator("#recipients-grid tbody tr")
    counts = {}
    for i in range(rows.count()):
        cells = [t.strip() for t in rows.nth(i).locator("td").all_inner_texts()]
        counts[cells[0].lower()] = [cells[1], *cells[3:]]
    return counts


def _assert_campaign_statistics(page, emails: list[str]) -> None:
    """The imported campaign's page: Mailchimp's report and the per-recipient activity."""
    a, b, c = emails
    page.wait_for_selector("#mailchimp-statistics")
    assert page.inner_text("[data-testid=sent-status]") == "Sent"
    block = page.locator("#mailchimp-statistics")
    assert "Hello spring" in block.inner_text()
    assert page.inner_text("[data-testid=mc-activities]").startswith("Enabled")
    stats = {key: block.locator(f"[data-stat={key}]").inner_text().strip()
             for key in ("emails_sent", "opens", "clicks", "forwards", "hard_bounces",
                         "soft_bounces", "unsubscribes", "abuse_reports")}
    assert stats == {"emails_sent": "3", "opens": "2", "clicks": "1", "forwards": "0",
                     "hard_bounces": "1", "soft_bounces": "0", "unsubscribes": "1",
                     "abuse_reports": "0"}
    assert _recipient_counts(page) == {a: ["Sent", "2", "1", "0", "0", "0"],
                                       b: ["Sent", "0", "0", "1", "0", "0"],
                                       c: ["Sent", "0", "0", "0", "0", "1"]}
    totals = page.locator("#email-campaign-statistics")
    assert [totals.locator(f"[data-stat={k}] .figure").inner_text() for k in
            ("open", "click", "bounce", "abuse", "unsubscribe")] == ["2", "1", "1", "0", "1"]


def test_connect_synchronize_and_see_campaign_statistics(logged_in_page, live_server,
                                                         mailchimp_server):  # noqa: F811
    page = logged_in_page
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    mlist, subscribed, unsubscribed = _subscribed_list(3)

    page.goto(live_server.url + "/integrations/")
    page.click("[data-testid=create-mailchimp]")
    page.wait_for_selector("#integration-form")
    page.fill("input[name=name]", "Chimp emulator")
    page.fill("input[name=password]", DEFAULT_API_KEY)
    page.fill("input[name=api_base_url]", f"{mailchimp_server}/{{dc}}")
    page.click("[data-testid=check-connection]")
    page.wait_for_selector("#check-result[data-ok=true]")
    assert "Everything's Chimpy!" in page.inner_text("#check-result")
    _settle(page)
    page.click("[data-testid=save-integration]")
    page.wait_for_selector("text=Integration Chimp emulator saved.")
    # Saving schedules the integration sync, which imports the audiences.
    assert "mailchimp integration sync" in page.inner_text("#sync-history").replace("_", " ")

    page.goto(f"{live_server.url}/marketing-lists/{mlist.id}")
    page.click("[data-testid=mc-connect]")
    page.wait_for_selector("#mc-connect-form")
    _settle(page)
    # Choosing the integration re-renders the dialog with its audiences.
    page.select_option("#mc-connect-form select[name=integration]", label="Chimp emulator")
    page.wait_for_selector(f"#mc-connect-form select[name=audience] option:has-text('{AUDIENCE}')",
                           state="attached")
    _settle(page)
    page.select_option("#mc-connect-form select[name=audience]", label=AUDIENCE)
    page.fill("#mc-connect-form input[name=segment_name]", SEGMENT)
    page.click("[data-testid=mc-connect-submit]")
    page.wait_for_selector("text=Marketing List connected to Mailchimp")
    _wait_for_status(page, "Up to date")
    assert f'linked to "{SEGMENT}" segment of "{AUDIENCE}"' in page.inner_text(
        "[data-testid=mc-status]")

    _settle(page)
    page.click("[data-testid=mc-menu] summary")
    page.click("[data-testid=mc-synchronize]")
    page.wait_for_selector("text=Marketing List scheduled to synchronize with MailChimp")
    _wait_for_status(page, "Up to date")
    assert "Up to date" in page.inner_text("[data-testid=mc-status]")

    members = _segment_members(mailchimp_server, SEGMENT)
    assert members == sorted(c.email.lower() for c in subscribed)
    assert unsubscribed.email.lower() not in members

    _seed_campaign(mailchimp_server, _segment_id(mailchimp_server, SEGMENT),
                   [c.email.lower() for c in subscribed])
    page.goto(live_server.url + "/integrations/")
    page.click("text=Chimp emulator")
    page.click("[data-testid=schedule-sync]")
    page.wait_for_selector("text=Sync scheduled.")
    page.goto(live_server.url + "/email-campaigns/")
    page.click(f"text={CAMPAIGN}")
    _assert_campaign_statistics(page, [c.email.lower() for c in subscribed])
    assert errors == []
