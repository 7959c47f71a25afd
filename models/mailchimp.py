"""Mailchimp-only tables; the list ↔ segment link and per-member state are the shared ones.

- ``MailchimpMergeField``: an audience's merge fields, imported with the audiences.
- ``MailchimpCampaign``: a sent Mailchimp campaign imported for a connected segment, its
  report figures, the Email Campaign it became, and its activity-import bookkeeping.
- ``MailchimpRejection``: an email Mailchimp refused for one connection, with its reason;
  shown on the list and skipped until the record changes.

A connection (``models.integrations.ListConnection``) of type "mailchimp" keeps the audience
and the static segment in ``remote_id`` as ``"<audience id>:<segment id>"`` and the segment
name in ``remote_name``; its ``SyncState`` rows hold the subscriber hash as ``remote_id``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON
from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from extensions import db
from models.base import UTCDateTime
from models.base import utcnow


class MailchimpMergeField(db.Model):
    __tablename__ = "mailchimp_merge_fields"
    __table_args__ = (UniqueConstraint("integration_id", "audience_id", "tag",
                                       name="uq_mailchimp_merge_fields_tag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id",
                                                           ondelete="CASCADE"))
    audience_id: Mapped[str] = mapped_column(String(64))
    merge_id: Mapped[int] = mapped_column(default=0)
    tag: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(20), default="text")
    required: Mapped[bool] = mapped_column(default=False)


class MailchimpCampaign(db.Model):
    __tablename__ = "mailchimp_campaigns"
    __table_args__ = (UniqueConstraint("integration_id", "remote_id",
                                       name="uq_mailchimp_campaigns_remote"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id",
                                                           ondelete="CASCADE"), index=True)
    remote_id: Mapped[str] = mapped_column(String(64))
    audience_id: Mapped[str] = mapped_column(String(64))
    segment_id: Mapped[str] = mapped_column(String(64), default="")
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("integration_list_connections.id", ondelete="SET NULL"))
    email_campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("email_campaigns.id", ondelete="SET NULL"), unique=True)
    title: Mapped[str] = mapped_column(String(255), default="")
    subject: Mapped[str] = mapped_column(String(255), default="")
    from_name: Mapped[str] = mapped_column(String(255), default="")
    from_email: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(20), default="sent")
    send_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The report's figures (Mailchimp's own summary, not recomputed here).
    report: Mapped[dict] = mapped_column(JSON, default=dict)
    receive_activities: Mapped[bool] = mapped_column(default=True)
    sent_to_imported: Mapped[bool] = mapped_column(default=False)
    # Start of the last successful activity import, for email-activity's ``since``.
    activity_cursor: Mapped[datetime | None] = mapped_column(UTCDateTime)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    integration = relationship("Integration", lazy="joined")
    email_campaign = relationship("EmailCampaign", lazy="joined")


class MailchimpRejection(db.Model):
    __tablename__ = "mailchimp_rejections"
    __table_args__ = (UniqueConstraint("connection_id", "email",
                                       name="uq_mailchimp_rejections_email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("integration_list_connections.id",
                                                          ondelete="CASCADE"), index=True)
    entity_id: Mapped[int] = mapped_column()
    email: Mapped[str] = mapped_column(String(254))
    reason: Mapped[str] = mapped_column(Text, default="")
    rejected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
