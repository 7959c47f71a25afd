"""Import of campaigns sent in Dotdigital, their summaries and their per-contact activity.

Order, per integration (oro-internals.md §1.4): campaigns of the connected address books,
then each campaign's summary, contact activities, opens and clicks.

- A campaign with status Sent, sent to a book connected to a marketing list, becomes one
  Email Campaign (transport dotdigital, Manual, Sent, the campaign's sender, the list, the
  integration's Default Owner) and one marketing Campaign (code from the name and the
  Dotdigital id, Daily); ``DotdigitalCampaign`` is unique per (integration, remote id) and
  all three rows are written in one transaction, so they exist once.
- Contact activities (one summary row per recipient, counts as Dotdigital keeps them)
  become the recipients' Open / Click / Bounce / Unsubscribe, written as the row says (set,
  never incremented), the list items' Last contacted at, and send / soft_bounce /
  hard_bounce / unsubscribe MarketingActivity rows; opens and clicks become open / click
  rows. Each activity is stored once (its services.marketing_activity event key), so a
  re-import adds nothing. Activities of people in none of the list's items are skipped
  and counted.
- Rows are prepared here, page by page, and stored in batches by ``activity_store``
  (staging tables and set-based statements, on a writer thread on PostgreSQL); a
  campaign's cursors move in the transaction that stores its last rows.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from extensions import db
from integrations.dotdigital import activity_store
from integrations.dotdigital.client import BOOK_PAGE_SIZE
from integrations.dotdigital.client import DotdigitalClient
from integrations.dotdigital.client import since_segment
from integrations.http import NotFoundError
from models.base import utcnow
from models.campaigns import CODE_MAX
from models.campaigns import Campaign
from models.campaigns import CampaignCodeHistory
from models.campaigns import ReportScale
from models.dotdigital import DotdigitalCampaign
from models.email_campaigns import EmailCampaign
from models.email_campaigns import Schedule
from models.integrations import Integration
from models.integrations import ListConnection
from models.integrations import SyncStatus
from models.lists import MarketingListItem
from models.marketing_activity import ActivityType
from services import marketing_activity
from services import records

TRANSPORT = "dotdigital"
# Dotdigital records opens and clicks a little late: re-read a margin before the cursor
# (re-read events are recognised and ignored).
LATE_EVENTS = timedelta(minutes=10)


def parse_time(value) -> datetime | None:
    if not value:
        return None
    text = str(value).strip().replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def connections_of(integration_id: int) -> list[ListConnection]:
    return list(db.session.scalars(select(ListConnection).where(
        ListConnection.integration_id == integration_id,
        ListConnection.integration_type == TRANSPORT,
        ListConnection.sync_status != SyncStatus.REMOTE_MISSING).order_by(ListConnection.id)))


def for_email_campaign(email_campaign_id: int) -> DotdigitalCampaign | None:
    return db.session.scalar(select(DotdigitalCampaign).where(
        DotdigitalCampaign.email_campaign_id == email_campaign_id))


# -- campaigns ---------------------------------------------------------------------------
def import_campaigns(client: DotdigitalClient, integration: Integration) -> dict[str, int]:
    counts = defaultdict(int)
    for connection in connections_of(integration.id):
        seen = set()
        try:
            pages = list(client.iter_pages(
                f"/v2/address-books/{int(connection.remote_id)}/campaigns",
                page_size=BOOK_PAGE_SIZE))
        except NotFoundError:
            continue  # the book went away; the list sync reports it
        for campaign in pages:
            if campaign.get("id") is None:
                continue
            seen.add(str(campaign["id"]))
            counts["campaigns_read"] += 1
            counts["email_campaigns_created"] += upsert_campaign(integration, connection,
                                                                 campaign)
        # Gone from the book's campaigns: kept and marked, like Oro's soft delete.
        gone = db.session.execute(update(DotdigitalCampaign).where(
            DotdigitalCampaign.integration_id == integration.id,
            DotdigitalCampaign.connection_id == connection.id,
            DotdigitalCampaign.is_deleted.is_(False),
            DotdigitalCampaign.remote_id.not_in(seen or {""})).values(is_deleted=True))
        counts["campaigns_deleted"] += gone.rowcount or 0
        db.session.commit()
    return dict(counts)


def generate_code(name: str, remote_id: str) -> str:
    """Oro's rule: the name with non-alphanumerics as ``_``, cut so ``_<id>`` fits."""
    suffix = f"_{remote_id}"
    base = re.sub(r"[^A-Za-z0-9]", "_", name)[:max(0, CODE_MAX - len(suffix))]
    code = (base + suffix)[-CODE_MAX:]
    n = 1
    while db.session.scalar(select(func.count()).select_from(
            select(Campaign.id).where(Campaign.code == code).union_all(
                select(CampaignCodeHistory.id).where(CampaignCodeHistory.code == code))
            .subquery())):
        n += 1
        tail = f"{suffix}_{n}"
        code = (base[:max(0, CODE_MAX - len(tail))] + tail)[-CODE_MAX:]
    return code


def upsert_campaign(integration: Integration, connection: ListConnection,
                    remote: dict) -> int:
    """Store the campaign; a Sent one also becomes its Email Campaign and Campaign, once."""
    remote_id = str(remote["id"])
    dc = db.session.scalar(select(DotdigitalCampaign).where(
        DotdigitalCampaign.integration_id == integration.id,
        DotdigitalCampaign.remote_id == remote_id))
    if dc is None:
        dc = DotdigitalCampaign(integration_id=integration.id, remote_id=remote_id, summary={})
        db.session.add(dc)
    sender = remote.get("fromAddress") or {}
    dc.connection_id = connection.id
    dc.name = str(remote.get("name") or remote_id)[:255]
    dc.subject = str(remote.get("subject") or "")[:255]
    dc.from_name = str(remote.get("fromName") or "")[:255]
    dc.from_address = str(sender.get("email") if isinstance(sender, dict) else sender or "")[:255]
    dc.status = str(remote.get("status") or "")[:40]
    dc.is_deleted = False
    created = 0
    if dc.status == "Sent" and dc.email_campaign_id is None:
        campaign = Campaign(
            name=dc.name[:100], code=generate_code(dc.name, remote_id),
            report_scale=ReportScale.DAILY, owner_id=integration.default_owner_id,
            description=f'Campaign was added automatically for "{dc.name}" dotdigital campaign')
        db.session.add(campaign)
        db.session.flush()
        db.session.add(CampaignCodeHistory(campaign_id=campaign.id, code=campaign.code))
        email_campaign = EmailCampaign(
            name=dc.name[:100], marketing_list_id=connection.marketing_list_id,
            schedule=Schedule.MANUAL, owner_id=integration.default_owner_id,
            sender_email=dc.from_address[:100], sender_name=dc.from_name[:100],
            description=dc.subject, campaign_id=campaign.id, transport=TRANSPORT,
            transport_settings={"integration_id": integration.id,
                                "dotdigital_campaign_id": remote_id},
            is_sent=True, sent_at=dc.date_sent or utcnow())
        db.session.add(email_campaign)
        db.session.flush()
        dc.email_campaign_id = email_campaign.id
        created = 1
    db.session.commit()
    return created


# -- summaries ---------------------------------------------------------------------------
def refresh_summary(client: DotdigitalClient, dc: DotdigitalCampaign) -> None:
    summary = client.get(f"/v2/campaigns/{int(dc.remote_id)}/summary") or {}
    if not isinstance(summary, dict):
        summary = {}
    dc.summary = summary
    dc.summary_synced_at = utcnow()
    sent = parse_time(summary.get("dateSent"))
    if sent is not None:
        dc.date_sent = sent
        if dc.email_campaign_id is not None:
            db.session.execute(update(EmailCampaign).where(
                EmailCampaign.id == dc.email_campaign_id).values(sent_at=sent))
    db.session.commit()


# -- activities --------------------------------------------------------------------------
# One per recipient and campaign: their keys carry no date and no details.
ONCE = (ActivityType.SEND, ActivityType.SOFT_BOUNCE, ActivityType.HARD_BOUNCE,
        ActivityType.UNSUBSCRIBE)


def list_members(list_id: int, entity: str) -> dict[str, list[int]]:
    """Lower-cased email → the ids of the list's member records holding it."""
    record_type = records.get(entity)
    model, email_col = record_type.model, record_type.email_column
    members: dict[str, list[int]] = defaultdict(list)
    rows = db.session.execute(select(MarketingListItem.entity_id, email_col).join(
        model, model.id == MarketingListItem.entity_id).where(
        MarketingListItem.marketing_list_id == list_id, email_col.is_not(None)))
    for entity_id, email in rows:
        members[str(email).strip().lower()].append(entity_id)
    return dict(members)


class _Matcher:
    """A campaign's remote rows → its list's member records, and their activity rows."""

    def __init__(self, dc: DotdigitalCampaign, members: dict | None = None):
        email_campaign = db.session.get(EmailCampaign, dc.email_campaign_id)
        self.email_campaign_id = email_campaign.id
        self.campaign_id = email_campaign.campaign_id
        self.list_id = email_campaign.marketing_list_id
        self.entity = email_campaign.marketing_list.entity
        self.source = f"dotdigital:{dc.integration_id}:{dc.remote_id}"
        # The columns every staged row of this campaign starts with.
        self._recipient_head = (self.email_campaign_id, self.list_id, self.entity)
        self._activity_head = (self.campaign_id, self.email_campaign_id, self.entity)
        # ``members`` (list id → list_members) lets a run's campaigns share one read of a list.
        members = {} if members is None else members
        if self.list_id not in members:
            members[self.list_id] = list_members(self.list_id, self.entity)
        self.entities: dict[str, list[int]] = members[self.list_id]
        self._times: dict[str, datetime | None] = {}
        self._once_key = {type_: marketing_activity.undated_keyer(
            type_, source=self.source, email_campaign_id=self.email_campaign_id,
            entity_type=self.entity) for type_ in ONCE}

    def time(self, value) -> datetime | None:
        """parse_time, remembered: a campaign's rows share few distinct dates."""
        if not isinstance(value, str):
            return parse_time(value)
        if value not in self._times:
            if len(self._times) >= 10_000:
                self._times.clear()
            self._times[value] = parse_time(value)
        return self._times[value]

    def recipient(self, entity_id: int, email: str, sent: datetime | None,
                  counts: tuple[int, int, int, int]) -> tuple:
        """A STAGED_RECIPIENTS row; counts are opens, clicks, bounces, unsubscribes."""
        return (*self._recipient_head, entity_id, email, sent, *counts)

    def once(self, type_: ActivityType, entity_id: int, at: datetime) -> tuple:
        """A send, bounce or unsubscribe (one per recipient, whatever its date), staged."""
        return (type_.value, *self._activity_head, entity_id, at, "",
                self._once_key[type_](entity_id))

    def event(self, type_: ActivityType, entity_id: int, at: datetime, details: str) -> tuple:
        """An open or a click (one per date and details), staged."""
        key = marketing_activity.event_key(
            type_, source=self.source, email_campaign_id=self.email_campaign_id,
            entity_type=self.entity, entity_id=entity_id, action_date=at, details=details)
        return (type_.value, *self._activity_head, entity_id, at, details[:4000], key)


def prepare_activities(matcher: _Matcher, items: list[dict]) -> tuple[list, list, int]:
    """ApiCampaignContactSummary rows → (recipient rows, activity rows, unmatched count)."""
    now = utcnow()
    recipients: list[tuple] = []
    activities: list[tuple] = []
    unmatched = 0
    for item in items:
        email = str(item.get("email") or "").strip().lower()
        entity_ids = matcher.entities.get(email)
        if not entity_ids:
            unmatched += 1
            continue
        sent = matcher.time(item.get("dateSent"))
        soft, hard = bool(item.get("softBounced")), bool(item.get("hardBounced"))
        unsubscribed = bool(item.get("unsubscribed"))
        counts = (_int(item.get("numOpens")), _int(item.get("numClicks")),
                  int(soft) + int(hard), int(unsubscribed))
        at = sent or now
        for entity_id in entity_ids:
            recipients.append(matcher.recipient(entity_id, email, sent, counts))
            activities.append(matcher.once(ActivityType.SEND, entity_id, at))
            if soft:
                activities.append(matcher.once(ActivityType.SOFT_BOUNCE, entity_id, at))
            if hard:
                activities.append(matcher.once(ActivityType.HARD_BOUNCE, entity_id, at))
            if unsubscribed:
                activities.append(matcher.once(
                    ActivityType.UNSUBSCRIBE, entity_id,
                    matcher.time(item.get("dateLastOpened")) or at))
    return recipients, activities, unmatched


def _int(value) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def import_activities(client: DotdigitalClient, dc: DotdigitalCampaign, matcher: _Matcher,
                      writer: activity_store.BatchWriter) -> dict[str, int]:
    """Contact activities since the cursor; the writer stores them, then moves the cursor."""
    started = utcnow()
    path = f"/v2/campaigns/{int(dc.remote_id)}/activities"
    if dc.activity_cursor is not None:
        path += f"/since-date/{since_segment(dc.activity_cursor - LATE_EVENTS)}"
    counts: dict[str, int] = defaultdict(int)
    for page in client.pages(path):
        recipients, activities, unmatched = prepare_activities(matcher, page)
        writer.add(recipients, activities)
        _add(counts, {"activities_read": len(page), "unmatched": unmatched})
    writer.move_cursor(activity_store.Cursor(dc.id, "activity_cursor", started))
    return dict(counts)


EVENTS = {"opens": (ActivityType.OPEN, "dateOpened", "mailClient"),
          "clicks": (ActivityType.CLICK, "dateClicked", "url")}


def prepare_events(matcher: _Matcher, kind: str, items: list[dict]) -> tuple[list, int]:
    """Opens or clicks → (open / click activity rows, unmatched count)."""
    type_, date_key, detail_key = EVENTS[kind]
    activities: list[tuple] = []
    unmatched = 0
    for item in items:
        entity_ids = matcher.entities.get(str(item.get("email") or "").strip().lower())
        at = matcher.time(item.get(date_key))
        if not entity_ids or at is None:
            unmatched += 1
            continue
        details = str(item.get(detail_key) or "")
        activities += [matcher.event(type_, entity_id, at, details) for entity_id in entity_ids]
    return activities, unmatched


def import_events(client: DotdigitalClient, dc: DotdigitalCampaign, matcher: _Matcher,
                  writer: activity_store.BatchWriter) -> dict[str, int]:
    """Opens and clicks since the cursor, as open / click MarketingActivity rows."""
    started = utcnow()
    counts: dict[str, int] = defaultdict(int)
    for kind in EVENTS:
        path = f"/v2/campaigns/{int(dc.remote_id)}/{kind}"
        if dc.events_cursor is not None:
            path += f"/since-date/{since_segment(dc.events_cursor - LATE_EVENTS)}"
        for page in client.pages(path):
            activities, unmatched = prepare_events(matcher, kind, page)
            writer.add([], activities)
            _add(counts, {f"{kind}_read": len(page), "unmatched": unmatched})
    writer.move_cursor(activity_store.Cursor(dc.id, "events_cursor", started))
    return dict(counts)


def _add(counts: dict, more: dict) -> None:
    for key, value in more.items():
        counts[key] += value


def import_all(client: DotdigitalClient, integration: Integration, tracker) -> None:
    """Campaigns, then each imported campaign's summary, activities, opens and clicks."""
    tracker.phase("Importing campaigns")
    tracker.add(**import_campaigns(client, integration))
    campaigns = db.session.scalars(select(DotdigitalCampaign).where(
        DotdigitalCampaign.integration_id == integration.id,
        DotdigitalCampaign.is_deleted.is_(False),
        DotdigitalCampaign.email_campaign_id.is_not(None)).order_by(DotdigitalCampaign.id)).all()
    tracker.phase("Importing summaries and activities")
    tracker.progress(0, len(campaigns))
    members: dict[int, dict[str, list[int]]] = {}
    writer = activity_store.BatchWriter(lambda counts: tracker.add(**counts))
    try:
        for done, dc in enumerate(campaigns, start=1):
            try:
                refresh_summary(client, dc)
                matcher = _Matcher(dc, members)
                tracker.add(**import_activities(client, dc, matcher, writer))
                tracker.add(**import_events(client, dc, matcher, writer))
            except NotFoundError:
                db.session.rollback()
                tracker.error(f'campaign "{dc.name}" no longer exists in dotdigital')
            tracker.progress(done, len(campaigns))
    except BaseException:
        writer.abandon()
        raise
    writer.close()
