"""MarketingActivity: one row per marketing event (send, open, click, bounce, ...).

Written by the SMTP statistics endpoints here and, later, by the Dotdigital and
Mailchimp activity imports. Each event is stored once: ``event_key`` is unique, and
writers derive it from the event's identity (services.marketing_activity.record), so a
redelivered webhook or a re-run import adds nothing.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from extensions import db
from models.base import UTCDateTime
from models.base import str_enum
from models.base import utcnow


class ActivityType(enum.StrEnum):
    SEND = "send"
    OPEN = "open"
    CLICK = "click"
    SOFT_BOUNCE = "soft_bounce"
    HARD_BOUNCE = "hard_bounce"
    UNSUBSCRIBE = "unsubscribe"
    # Not in the reference's enum: spam complaints are events too, and keeping them
    # here means every event of a campaign is in one log.
    ABUSE = "abuse"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").title()


# The Marketing Activity Summary's rows, in the reference's order.
SUMMARY_TYPES = (ActivityType.SEND, ActivityType.OPEN, ActivityType.CLICK,
                 ActivityType.SOFT_BOUNCE, ActivityType.HARD_BOUNCE, ActivityType.UNSUBSCRIBE)


class MarketingActivity(db.Model):
    __tablename__ = "marketing_activities"
    __table_args__ = (
        Index("ix_marketing_activities_campaign_type", "campaign_id", "type"),
        Index("ix_marketing_activities_email_campaign_type", "email_campaign_id", "type"),
        Index("ix_marketing_activities_entity", "entity_type", "entity_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[ActivityType] = mapped_column(str_enum(ActivityType))
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL"))
    email_campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("email_campaigns.id", ondelete="CASCADE"))
    # The record the event is about: a key of services.records plus its id.
    entity_type: Mapped[str] = mapped_column(String(40), default="")
    entity_id: Mapped[int | None] = mapped_column()
    details: Mapped[str] = mapped_column(Text, default="")  # e.g. the clicked URL
    action_date: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    event_key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
