"""Import of sent Mailchimp campaigns, their reports and their per-recipient activity.

- A sent campaign whose recipients are a connected segment becomes one Email Campaign
  (transport Mailchimp, Manual, Sent, the campaign's sender, the integration's owner),
  once: ``MailchimpCampaign`` is unique per (integration, remote id).
- Its report fills the Mailchimp Statistics block (Mailchimp's own summary).
- While its activities are enabled and not expired (send time + Activity Update Interval),
  sent-to, email-activity (from a cursor, 10 minutes back because Mailchimp collects late),
  unsubscribes and abuse reports become recipients and MarketingActivity rows. Each event is
  stored once (services.marketing_activity), and the recipients' counters are recomputed
  from the stored rows, never incremented, so re-running an import changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from datetime import timedelta

from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from extensions import db
from integrations.http import NotFoundError
from integrations.mailchimp import audiences
from integrations.mailchimp.client import MailchimpClient
from models.base import utcnow
from models.email_campaigns import EmailCampaign
from models.email_campaigns import EmailCampaignRecipient
from models.email_campaigns import RecipientStatus
from models.email_campaigns import Schedule
from models.integrations import Integration
from models.integrations import ListConnection
from models.integrations import SyncState
from models.integrations import SyncStatus
from models.mailchimp import MailchimpCampaign
from models.marketing_activity import ActivityType
from models.marketing_activity import MarketingActivity
from services import marketing_activity
from services.marketing_lists import sending

TRANSPORT = "mailchimp"
LATE_COLLECTION = timedelta(minutes=10)
COUNTERS = {"open_count": (ActivityType.OPEN,), "click_count": (ActivityType.CLICK,),
            "bounce_count": (ActivityType.SOFT_BOUNCE, ActivityType.HARD_BOUNCE),
            "abuse_count": (ActivityType.ABUSE,),
            "unsubscribe_count": (ActivityType.UNSUBSCRIBE,)}
R = EmailCampaignRecipient


def parse_time(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def interval_days(integration: Integration) -> int:
    try:
        return int((integration.settings or {}).get("activity_interval", 90))
    except (TypeError, ValueError):
        return 90


def activities_state(mc: MailchimpCampaign) -> str:
    """Enabled, Disabled or Expired (send time + the Activity Update Interval is past)."""
    days = interval_days(mc.integration)
    if days and mc.send_time and mc.send_time + timedelta(days=days) < utcnow():
        return "Expired"
    return "Enabled" if mc.receive_activities else "Disabled"


def for_email_campaign(email_campaign_id: int) -> MailchimpCampaign | None:
    return db.session.scalar(select(MailchimpCampaign).where(
        MailchimpCampaign.email_campaign_id == email_campaign_id))


def import_all(client: MailchimpClient, integration: Integration, tracker) -> None:
    connections = {}
    for connection in audiences.connections_of(integration.id):
        audience, segment = audiences.split(connection)
        if segment and connection.sync_status is not SyncStatus.REMOTE_MISSING:
            connections[(audience, segment)] = connection
    tracker.phase("Importing campaigns")
    created = 0
    # Every sent campaign of the audience, each time: a campaign's send time is when its
    # sending began, so a "since" cursor would miss long sends that finished later.
    for audience in sorted({a for a, _ in connections}):
        for campaign in client.sent_campaigns(audience, None):
            segment = str(((campaign.get("recipients") or {}).get("segment_opts") or {})
                          .get("saved_segment_id") or "")
            connection = connections.get((audience, segment))
            if connection is not None and campaign.get("status") == "sent":
                created += _upsert_campaign(integration, connection, campaign)
    db.session.commit()
    tracker.add(campaigns_imported=created)
    campaigns = db.session.scalars(select(MailchimpCampaign).where(
        MailchimpCampaign.integration_id == integration.id,
        MailchimpCampaign.email_campaign_id.is_not(None)).order_by(MailchimpCampaign.id)).all()
    tracker.phase("Importing reports and activity")
    for mc in campaigns:
        state = activities_state(mc)
        if mc.report and state == "Expired":
            continue
        try:
            refresh_report(client, mc)
            if state == "Enabled" and mc.connection_id is not None:
                tracker.add(**import_activity(client, mc))
        except NotFoundError:
            tracker.error(f'campaign "{mc.title}" no longer exists in Mailchimp')
        tracker.add(reports=1)


def _upsert_campaign(integration: Integration, connection: ListConnection,
                     campaign: dict) -> int:
    remote_id = str(campaign["id"])
    mc = db.session.scalar(select(MailchimpCampaign).where(
        MailchimpCampaign.integration_id == integration.id,
        MailchimpCampaign.remote_id == remote_id))
    settings = campaign.get("settings") or {}
    new = mc is None
    if new:
        mc = MailchimpCampaign(integration_id=integration.id, remote_id=remote_id,
                               audience_id=audiences.split(connection)[0], report={})
        db.session.add(mc)
    mc.segment_id = audiences.split(connection)[1]
    mc.connection_id = connection.id
    mc.title = str(settings.get("title") or settings.get("subject_line") or remote_id)[:255]
    mc.subject = str(settings.get("subject_line") or "")[:255]
    mc.from_name = str(settings.get("from_name") or "")[:255]
    mc.from_email = str(settings.get("reply_to") or "")[:255]
    mc.status = str(campaign.get("status") or "sent")
    mc.send_time = parse_time(campaign.get("send_time"))
    if mc.email_campaign_id is None:
        email_campaign = EmailCampaign(
            name=mc.title[:100], marketing_list_id=connection.marketing_list_id,
            schedule=Schedule.MANUAL, owner_id=integration.default_owner_id,
            sender_email=mc.from_email[:100], sender_name=mc.from_name[:100],
            description=f"Sent in Mailchimp: {mc.subject}" if mc.subject else "",
            transport=TRANSPORT, transport_settings={"integration_id": integration.id,
                                                     "mailchimp_campaign_id": remote_id},
            is_sent=True, sent_at=mc.send_time or utcnow())
        db.session.add(email_campaign)
        db.session.flush()
        mc.email_campaign_id = email_campaign.id
    db.session.commit()
    return int(new)


def refresh_report(client: MailchimpClient, mc: MailchimpCampaign) -> None:
    report = client.report(mc.remote_id)
    bounces = report.get("bounces") or {}
    mc.report = {
        "subject": report.get("subject_line") or mc.subject,
        "emails_sent": int(report.get("emails_sent") or 0),
        "opens": int((report.get("opens") or {}).get("opens_total") or 0),
        "unique_opens": int((report.get("opens") or {}).get("unique_opens") or 0),
        "clicks": int((report.get("clicks") or {}).get("clicks_total") or 0),
        "unique_clicks": int((report.get("clicks") or {}).get("unique_clicks") or 0),
        "forwards": int((report.get("forwards") or {}).get("forwards_count") or 0),
        "hard_bounces": int(bounces.get("hard_bounces") or 0),
        "soft_bounces": int(bounces.get("soft_bounces") or 0),
        "unsubscribes": int(report.get("unsubscribed") or 0),
        "abuse_reports": int(report.get("abuse_reports") or 0),
    }
    db.session.commit()


class _Activity:
    """Writes one campaign's events for the list members holding each email."""

    def __init__(self, mc: MailchimpCampaign):
        self.mc = mc
        self.email_campaign = db.session.get(EmailCampaign, mc.email_campaign_id)
        self.connection = db.session.get(ListConnection, mc.connection_id)
        self.entity = self.connection.marketing_list.entity
        self.source = f"mailchimp:{mc.integration_id}:{mc.remote_id}"
        self.entities: dict[str, list[int]] = {}

    def resolve(self, emails: set[str]) -> None:
        """Records with these emails, as the sync state knows them (opted-out ones too)."""
        wanted = [e for e in emails if e not in self.entities]
        for start in range(0, len(wanted), 1000):
            chunk = wanted[start:start + 1000]
            for email in chunk:
                self.entities[email] = []
            for entity_id, email in db.session.execute(select(
                    SyncState.entity_id, SyncState.email).where(
                    SyncState.connection_id == self.connection.id,
                    SyncState.email.in_(chunk))):
                self.entities[email].append(entity_id)

    def recipients(self, emails: set[str]) -> int:
        """Recipient rows (Sent) for these emails; counts the new ones as contacted."""
        self.resolve(emails)
        wanted = {(eid, e) for e in emails for eid in self.entities.get(e, [])}
        if not wanted:
            return 0
        have = set(db.session.scalars(select(R.entity_id).where(
            R.email_campaign_id == self.email_campaign.id,
            R.entity_id.in_([eid for eid, _ in wanted]))))
        sent_at = self.mc.send_time or utcnow()
        rows = [{"email_campaign_id": self.email_campaign.id, "entity_type": self.entity,
                 "entity_id": eid, "email": email, "status": RecipientStatus.SENT.value,
                 "sent_at": sent_at, "contact_recorded": True, "open_count": 0,
                 "click_count": 0, "bounce_count": 0, "abuse_count": 0,
                 "unsubscribe_count": 0} for eid, email in sorted(wanted) if eid not in have]
        if rows:
            db.session.execute(insert(R), rows)
            db.session.commit()
            sending.record_contacted(self.connection.marketing_list_id,
                                     [r["entity_id"] for r in rows], sent_at)
        return len(rows)

    def event(self, type_: ActivityType, email: str, at: datetime | None, details: str = "",
              once: bool = False) -> list[dict]:
        rows = []
        for entity_id in self.entities.get(email, []):
            key = marketing_activity.event_key(
                type_, source=self.source, email_campaign_id=self.email_campaign.id,
                entity_type=self.entity, entity_id=entity_id,
                action_date=None if once else at, details="" if once else details)
            rows.append({"type": type_, "key": key,
                         "campaign_id": self.email_campaign.campaign_id,
                         "email_campaign_id": self.email_campaign.id,
                         "entity_type": self.entity, "entity_id": entity_id,
                         "details": details[:4000], "action_date": at or utcnow()})
        return rows


def import_activity(client: MailchimpClient, mc: MailchimpCampaign) -> dict[str, int]:
    started = utcnow()
    act = _Activity(mc)
    counts: dict[str, int] = defaultdict(int)
    if not mc.sent_to_imported:
        emails = {r["email_address"].strip().lower()
                  for r in client.report_rows(mc.remote_id, "sent-to", "sent_to", params={
                      "fields": "sent_to.email_address,total_items"})}
        counts["recipients"] += act.recipients(emails)
        events = [e for email in emails
                  for e in act.event(ActivityType.SEND, email, mc.send_time, once=True)]
        counts["activities"] += _store(events)
        mc.sent_to_imported = True
        db.session.commit()
    since = None
    if mc.activity_cursor is not None:
        since = (mc.activity_cursor - LATE_COLLECTION).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    params = {"since": since} if since else {}
    batch: list[dict] = []
    for row in client.report_rows(mc.remote_id, "email-activity", "emails", params=params):
        email = (row.get("email_address") or "").strip().lower()
        act.recipients({email})
        for item in row.get("activity") or []:
            action, at = item.get("action"), parse_time(item.get("timestamp"))
            if action == "open":
                batch += act.event(ActivityType.OPEN, email, at)
            elif action == "click":
                batch += act.event(ActivityType.CLICK, email, at, str(item.get("url") or ""))
            elif action == "bounce":
                kind = ActivityType.HARD_BOUNCE if item.get("type") == "hard" \
                    else ActivityType.SOFT_BOUNCE
                batch += act.event(kind, email, at, once=True)
        if len(batch) >= 500:
            counts["activities"] += _store(batch)
            batch = []
    counts["activities"] += _store(batch)
    for kind, key, type_ in (("unsubscribed", "unsubscribes", ActivityType.UNSUBSCRIBE),
                             ("abuse-reports", "abuse_reports", ActivityType.ABUSE)):
        opted_out = []
        for row in client.report_rows(mc.remote_id, kind, key):
            email = (row.get("email_address") or "").strip().lower()
            act.recipients({email})
            at = parse_time(row.get("timestamp") or row.get("date"))
            opted_out += act.event(type_, email, at, str(row.get("reason") or ""), once=True)
        counts["activities"] += _store(opted_out)
        # Whoever opted out of the campaign leaves the list here too (opt-outs always win).
        for entity_id in {e["entity_id"] for e in opted_out}:
            sending.unsubscribe(act.connection.marketing_list_id, entity_id)
    recount(mc.email_campaign_id)
    mc.activity_cursor = started
    db.session.commit()
    return dict(counts)


def _store(rows: list[dict]) -> int:
    if not rows:
        return 0
    stored = marketing_activity.record_many(rows)
    db.session.commit()
    return max(stored, 0)


def recount(email_campaign_id: int) -> None:
    """Each recipient's counters from the stored activity rows; and their campaign link."""
    A = MarketingActivity.__table__
    values = {}
    for column, types in COUNTERS.items():
        values[column] = (select(func.count()).select_from(A).where(
            A.c.email_campaign_id == email_campaign_id, A.c.entity_id == R.entity_id,
            A.c.type.in_([t.value for t in types])).scalar_subquery())
    db.session.execute(update(R).where(R.email_campaign_id == email_campaign_id)
                       .values(**values))
    campaign_id = db.session.scalar(select(EmailCampaign.campaign_id).where(
        EmailCampaign.id == email_campaign_id))
    db.session.execute(update(MarketingActivity).where(
        MarketingActivity.email_campaign_id == email_campaign_id).values(
        campaign_id=campaign_id))
    db.session.commit()
