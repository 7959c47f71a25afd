"""Dotdigital-only tables; address books, contacts state and data fields are the shared ones.

- ``DotdigitalCampaign``: a campaign sent in Dotdigital to a connected address book, the
  Email Campaign (and marketing Campaign) it became, its summary, and the cursors of its
  activity, opens and clicks imports.
- ``DotdigitalOAuthToken``: one user's single sign-on into one integration's Dotdigital
  app. Only the refresh token is kept, encrypted; access tokens are minted per visit.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON
from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from extensions import db
from models.base import EncryptedText
from models.base import UTCDateTime
from models.base import utcnow


class DotdigitalCampaign(db.Model):
    __tablename__ = "dotdigital_campaigns"
    __table_args__ = (UniqueConstraint("integration_id", "remote_id",
                                       name="uq_dotdigital_campaigns_remote"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id",
                                                           ondelete="CASCADE"), index=True)
    remote_id: Mapped[str] = mapped_column(String(64))
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("integration_list_connections.id", ondelete="SET NULL"))
    email_campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("email_campaigns.id", ondelete="SET NULL"), unique=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    subject: Mapped[str] = mapped_column(String(255), default="")
    from_name: Mapped[str] = mapped_column(String(255), default="")
    from_address: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(40), default="")
    date_sent: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Gone from the address book's campaign list: kept, like Oro's soft delete.
    is_deleted: Mapped[bool] = mapped_column(default=False)
    # Dotdigital's ApiCampaignSummary, as received (missing fields read as 0).
    summary: Mapped[dict] = mapped_column(JSON, default=dict)
    summary_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Starts of the last successful runs: the "since-date" of the next one.
    activity_cursor: Mapped[datetime | None] = mapped_column(UTCDateTime)
    events_cursor: Mapped[datetime | None] = mapped_column(UTCDateTime)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    integration = relationship("Integration", lazy="joined")
    email_campaign = relationship("EmailCampaign", lazy="joined")


class DotdigitalOAuthToken(db.Model):
    __tablename__ = "dotdigital_oauth_tokens"
    __table_args__ = (UniqueConstraint("integration_id", "user_id",
                                       name="uq_dotdigital_oauth_tokens_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id",
                                                           ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    refresh_token: Mapped[str] = mapped_column(EncryptedText)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
