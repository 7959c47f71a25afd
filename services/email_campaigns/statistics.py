"""Statistics of SMTP campaigns: opens, clicks, unsubscribes, bounces and complaints.

Each event is one MarketingActivity row, stored once (services.marketing_activity), and
the recipient's counter moves only when that row is new, so counters and the activity
log always agree, whatever a mail client or a webhook sender repeats.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime

from flask import current_app
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from extensions import db
from models.base import utcnow
from models.email_campaigns import EmailCampaign
from models.email_campaigns import EmailCampaignRecipient
from models.marketing_activity import ActivityType
from services import marketing_activity
from services.email_campaigns import links
from services.marketing_lists import sending

COUNTER = {
    ActivityType.OPEN: "open_count",
    ActivityType.CLICK: "click_count",
    ActivityType.SOFT_BOUNCE: "bounce_count",
    ActivityType.HARD_BOUNCE: "bounce_count",
    ActivityType.ABUSE: "abuse_count",
    ActivityType.UNSUBSCRIBE: "unsubscribe_count",
}
TOTALS = (("Open", "open_count"), ("Click", "click_count"), ("Bounce", "bounce_count"),
          ("Abuse", "abuse_count"), ("Unsubscribe", "unsubscribe_count"))
_MESSAGE_ID = re.compile(r"\.lb\.(\d+)@")


class BadEvent(ValueError):
    """A webhook event that cannot be understood; nothing of its request is stored."""


def _recipient_and_campaign(rid: int):
    return db.session.execute(
        select(EmailCampaignRecipient, EmailCampaign.campaign_id, EmailCampaign.marketing_list_id)
        .join(EmailCampaign, EmailCampaign.id == EmailCampaignRecipient.email_campaign_id)
        .where(EmailCampaignRecipient.id == rid)).first()


def record_event(rid: int, type_: ActivityType, details: str = "",
                 at: datetime | None = None, key: str | None = None) -> bool:
    """Store one event of recipient ``rid``; False when unknown or already stored."""
    found = _recipient_and_campaign(rid)
    if found is None:
        return False
    recipient, campaign_id, _ = found
    at = at or utcnow()
    # Repeats within the same second (a client fetching the pixel twice) are one event.
    key = key or marketing_activity.event_key(
        type_, source="smtp", email_campaign_id=recipient.email_campaign_id,
        entity_type=recipient.entity_type, entity_id=recipient.entity_id,
        action_date=at.replace(microsecond=0), details=details)
    new = marketing_activity.record(type_, campaign_id=campaign_id,
                                    email_campaign_id=recipient.email_campaign_id,
                                    entity_type=recipient.entity_type,
                                    entity_id=recipient.entity_id, details=details,
                                    action_date=at, key=key)
    if new:
        column = getattr(EmailCampaignRecipient, COUNTER[type_])
        db.session.execute(update(EmailCampaignRecipient).where(
            EmailCampaignRecipient.id == rid).values({column: column + 1}))
    db.session.commit()
    return new


def record_open(token: str) -> bool:
    return record_event(links.recipient_id("open", token), ActivityType.OPEN)


def record_click(token: str) -> str:
    """Record the click and return where to send the reader."""
    rid, target = links.click_target(token)
    record_event(rid, ActivityType.CLICK, details=target)
    return target


def unsubscribe_target(token: str) -> EmailCampaignRecipient | None:
    found = _recipient_and_campaign(links.recipient_id("unsubscribe", token))
    return found[0] if found else None


def unsubscribe(token: str) -> bool:
    """One-click unsubscribe (RFC 8058): the member leaves the campaign's list.

    Counted once per recipient however often the link is used.
    """
    rid = links.recipient_id("unsubscribe", token)
    found = _recipient_and_campaign(rid)
    if found is None:
        return False
    recipient, _, list_id = found
    record_event(rid, ActivityType.UNSUBSCRIBE, key=marketing_activity.event_key(
        ActivityType.UNSUBSCRIBE, source="smtp", email_campaign_id=recipient.email_campaign_id,
        entity_type=recipient.entity_type, entity_id=recipient.entity_id))
    sending.unsubscribe(list_id, recipient.entity_id)
    return True


# -- the bounce and complaint webhook ------------------------------------------------
def webhook_key() -> bytes:
    """The HMAC key a mail relay signs bounce and complaint notifications with.

    Derived from SECRET_KEY so there is nothing more to store; `flask email_campaigns
    webhook-key` prints it for the relay's configuration.
    """
    secret = current_app.config["SECRET_KEY"]
    secret = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(secret, b"listbridge.email.webhook", hashlib.sha256).hexdigest().encode()


def signature_valid(body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(webhook_key(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256=").strip())


@dataclass(frozen=True)
class WebhookEvent:
    rid: int
    type: ActivityType
    at: datetime
    details: str
    key: str | None


def _parse_event(raw: dict) -> WebhookEvent | None:
    """A validated event, or None when its recipient is unknown; BadEvent when malformed."""
    if not isinstance(raw, dict):
        raise BadEvent("each event must be an object")
    kind = raw.get("type")
    if kind == "bounce":
        bounce = raw.get("bounce_type", "hard")
        if bounce not in ("hard", "soft"):
            raise BadEvent("bounce_type must be hard or soft")
        type_ = ActivityType.HARD_BOUNCE if bounce == "hard" else ActivityType.SOFT_BOUNCE
    elif kind == "complaint":
        type_ = ActivityType.ABUSE
    else:
        raise BadEvent("type must be bounce or complaint")
    at = utcnow()
    if raw.get("occurred_at") is not None:
        try:
            at = datetime.fromisoformat(str(raw["occurred_at"]))
        except ValueError as exc:
            raise BadEvent("occurred_at must be an ISO 8601 date-time") from exc
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
    details = str(raw.get("details") or "")[:2000]
    rid = _resolve(raw)
    if rid is None:
        return None
    event_id = raw.get("id")
    key = None
    if event_id is not None:
        key = marketing_activity.event_key(type_, source=f"smtp-webhook:{event_id}"[:200],
                                           entity_id=rid)
    return WebhookEvent(rid, type_, at, details, key)


def _resolve(raw: dict) -> int | None:
    message_id = raw.get("message_id")
    email = raw.get("email")
    if message_id is not None:
        match = _MESSAGE_ID.search(str(message_id))
        if not match:
            raise BadEvent("message_id is not one of ours")
        rid = int(match.group(1))
        return rid if db.session.get(EmailCampaignRecipient, rid) else None
    campaign_id = raw.get("email_campaign_id")
    if not isinstance(campaign_id, int) or not isinstance(email, str):
        raise BadEvent("give message_id, or email_campaign_id and email")
    return db.session.scalar(select(EmailCampaignRecipient.id).where(
        EmailCampaignRecipient.email_campaign_id == campaign_id,
        func.lower(EmailCampaignRecipient.email) == email.strip().lower()))


def record_webhook(payload) -> dict[str, int]:
    """Record a notification: one event object or {"events": [...]}, all validated first."""
    raw_events = payload.get("events") if isinstance(payload, dict) and "events" in payload \
        else [payload]
    if not isinstance(raw_events, list) or not raw_events or len(raw_events) > 1000:
        raise BadEvent("events must be a list of 1 to 1000 events")
    parsed = [_parse_event(raw) for raw in raw_events]
    result = {"recorded": 0, "duplicates": 0, "unknown": 0}
    for event in parsed:
        if event is None:
            result["unknown"] += 1
            continue
        if record_event(event.rid, event.type, event.details, event.at, event.key):
            result["recorded"] += 1
            if event.type is ActivityType.ABUSE:
                # Someone who calls the mail spam must not get the next one.
                recipient, _, list_id = _recipient_and_campaign(event.rid)
                sending.unsubscribe(list_id, recipient.entity_id)
        else:
            result["duplicates"] += 1
    return result


# -- totals --------------------------------------------------------------------------
def totals(email_campaign_id: int) -> dict[str, int]:
    R = EmailCampaignRecipient
    row = db.session.execute(select(
        *[func.coalesce(func.sum(getattr(R, column)), 0) for _, column in TOTALS],
        func.count(), func.count().filter(R.status == "sent"),
        func.count().filter(R.status == "failed"), func.count().filter(R.status == "sending"),
    ).where(R.email_campaign_id == email_campaign_id)).one()
    result = {label: int(value) for (label, _), value in zip(TOTALS, row, strict=False)}
    result.update(recipients=row[5], sent=row[6], failed=row[7], unconfirmed=row[8])
    return result
