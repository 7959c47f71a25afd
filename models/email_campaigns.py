"""Email templates, email campaigns, and one row per recipient of a sent campaign."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from extensions import db
from models.base import TimestampMixin
from models.base import UTCDateTime
from models.base import str_enum


class EmailTemplate(TimestampMixin, db.Model):
    __tablename__ = "email_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    subject: Mapped[str] = mapped_column(String(255))
    html_body: Mapped[str] = mapped_column(Text, default="")
    text_body: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    owner = relationship("User", lazy="joined")


class Schedule(enum.StrEnum):
    MANUAL = "manual"
    DEFERRED = "deferred"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class EmailCampaign(TimestampMixin, db.Model):
    __tablename__ = "email_campaigns"
    __table_args__ = (Index("ix_email_campaigns_due", "is_sent", "schedule", "scheduled_for"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    marketing_list_id: Mapped[int] = mapped_column(
        ForeignKey("marketing_lists.id", ondelete="RESTRICT"), index=True)
    schedule: Mapped[Schedule] = mapped_column(str_enum(Schedule, 10), default=Schedule.MANUAL)
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Empty means "the Campaign sender settings of System > Configuration".
    sender_email: Mapped[str] = mapped_column(String(100), default="")
    sender_name: Mapped[str] = mapped_column(String(100), default="")
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # A key of services.email_campaigns.transports.TRANSPORTS.
    transport: Mapped[str] = mapped_column(String(40), default="email")
    # What a transport needs beyond the template (e.g. an integration id).
    transport_settings: Mapped[dict] = mapped_column(JSON, default=dict)
    template_id: Mapped[int | None] = mapped_column(
        ForeignKey("email_templates.id", ondelete="RESTRICT"))
    is_sent: Mapped[bool] = mapped_column(default=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    owner = relationship("User", lazy="joined")
    campaign = relationship("Campaign", lazy="joined")
    marketing_list = relationship("MarketingList", lazy="joined")
    template = relationship("EmailTemplate", lazy="joined")

    # Scalar stand-ins for the grid's sort keys (its keyset cursor needs plain values).
    @property
    def campaign_name(self) -> str | None:
        return self.campaign.name if self.campaign else None

    @property
    def list_name(self) -> str | None:
        return self.marketing_list.name if self.marketing_list else None


class RecipientStatus(enum.StrEnum):
    QUEUED = "queued"  # chosen for this campaign, not yet handed to the SMTP server
    SENDING = "sending"  # handed over, confirmation not recorded: counts as attempted
    SENT = "sent"
    FAILED = "failed"  # not sent: the template failed for it, or the server refused it

    @property
    def label(self) -> str:
        return {"sending": "Unconfirmed"}.get(self.value, self.value.capitalize())


class EmailCampaignRecipient(db.Model):
    """One recipient of one email campaign: send state and per-recipient statistics.

    The unique key is what makes sending at-most-once across retries and killed workers
    (services.email_campaigns.sender).
    """

    __tablename__ = "email_campaign_recipients"
    __table_args__ = (
        UniqueConstraint("email_campaign_id", "entity_id",
                         name="uq_email_campaign_recipients_campaign_entity"),
        Index("ix_email_campaign_recipients_campaign_status", "email_campaign_id", "status"),
        Index("ix_email_campaign_recipients_campaign_email", "email_campaign_id", "email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email_campaign_id: Mapped[int] = mapped_column(
        ForeignKey("email_campaigns.id", ondelete="CASCADE"))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int] = mapped_column()
    email: Mapped[str] = mapped_column(String(254))
    status: Mapped[RecipientStatus] = mapped_column(str_enum(RecipientStatus, 10),
                                                    default=RecipientStatus.QUEUED)
    error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Whether the list item's Total contacted / Last contacted at counted this send.
    contact_recorded: Mapped[bool] = mapped_column(default=False)
    open_count: Mapped[int] = mapped_column(default=0)
    click_count: Mapped[int] = mapped_column(default=0)
    bounce_count: Mapped[int] = mapped_column(default=0)
    abuse_count: Mapped[int] = mapped_column(default=0)
    unsubscribe_count: Mapped[int] = mapped_column(default=0)
